"""Prometheus metrics for the gateway (prometheus_client), on their own registry.

Served over HTTP on server.metrics_port when it is set (0: any free port; unset: off).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Counter("egress_connections", "Connections accepted", registry=r)
        self.active = Gauge("egress_connections_active", "Connections open now", registry=r)
        self.statements = Counter("egress_statements", "Statements run", ["kind"], registry=r)
        self.rows = Counter("egress_rows_sent", "Rows sent to clients", registry=r)
        self.bytes = Counter("egress_bytes_sent", "Bytes written to client sockets", registry=r)
        self.errors = Counter("egress_errors", "Errors sent, by SQLSTATE", ["sqlstate"], registry=r)
        self.latency = Histogram("egress_statement_seconds", "Statement latency", registry=r,
                                 buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120))
        self.flight_streams = Gauge("egress_flight_streams_active", "Flight DoGet result streams running now",
                                    registry=r)
        self.flight_rows = Counter("egress_flight_rows_sent", "Rows sent over Arrow Flight", registry=r)

    def serve(self, host: str, port: int) -> int:
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)

# egress on the embedded demo default. Loopback-only inside the container unless configured:
# mount an egress.toml (server.host = "0.0.0.0"; flight.host and http.host follow it) to publish it.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core=2.37-* \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 egress
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY flight ./flight
COPY sql ./sql
COPY views ./views
COPY exporters ./exporters
COPY schedules ./schedules
COPY service ./service
RUN pip install --no-cache-dir .

USER 10001
ENV EGRESS_HOME=/home/egress/.egress
WORKDIR /home/egress
# PostgreSQL wire, Arrow Flight SQL, signed downloads
EXPOSE 5433 8815 8817
ENTRYPOINT ["egress"]
CMD ["serve"]

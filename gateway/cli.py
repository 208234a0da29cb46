"""The `egress` command line: the first front door.

Exit codes: 0 success; 1 refused or failed (the message carries the SQLSTATE); 2 usage error.
Local CLI use is trusted like a local psql with peer authentication: --user picks the
principal whose rules apply, it does not ask for a password.
"""

from __future__ import annotations

import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn

import click

from exporters import base as formats
from sql.errors import ConfigurationError, EgressError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(err: EgressError) -> NoReturn:
    click.echo(f"egress: error: {err.message} (SQLSTATE {err.sqlstate})", err=True)
    if err.position is not None:
        click.echo(f"  at position {err.position}", err=True)
    if err.detail:
        click.echo(f"  detail: {err.detail}", err=True)
    if err.hint:
        click.echo(f"  hint: {err.hint}", err=True)
    _exit_now(EXIT_FAILED)


def _exit_now(code: int) -> NoReturn:
    """Close the app (audit records are flushed), then leave without the interpreter's teardown:
    DuckDB's bindings otherwise print reference-leak noise after the message the user needs."""
    ctx = click.get_current_context(silent=True)
    shared = ctx.find_root().obj if ctx is not None else None  # subcommands share the root's dict
    app = shared.get("app") if isinstance(shared, dict) else None
    if app is not None:
        try:
            app.close()
        except Exception:  # noqa: BLE001 - leaving anyway
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every command: EgressError -> message with SQLSTATE and exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EgressError as err:
            _fail(err)
        except OSError as err:  # a path that cannot be written, a full disk: say so, no traceback
            click.echo(f"egress: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), err=True)
            sys.exit(EXIT_FAILED)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence: no traceback for users
            if os.environ.get("EGRESS_DEBUG"):
                raise
            click.echo(f"egress: internal error ({err.__class__.__name__}); set EGRESS_DEBUG=1 for details",
                       err=True)
            sys.exit(EXIT_FAILED)

    return wrapper


def _app(ctx: click.Context) -> Any:
    from service.app import open_app

    app = ctx.obj.get("app")
    if app is None:
        app = open_app(ctx.obj.get("config"))
        ctx.obj["app"] = app
        ctx.call_on_close(app.close)
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="egress.toml to use (default: $EGRESS_CONFIG, ./egress.toml, else the embedded demo).")
@click.version_option(package_name="egress")
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """egress: curated company data out through files, PostgreSQL wire and Arrow Flight."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config_file


# -- serve ---------------------------------------------------------------------------------------
@main.command()
@click.option("--host", default=None, help="Address to bind (default: server.host, 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default: server.port, 5433; 0: any free port).")
@click.option("--tls-self-signed", is_flag=True, help="Make a throwaway certificate and offer TLS.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate for TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key for TLS.")
@click.option("--metrics-port", "metrics", default=None, type=click.IntRange(0, 65535),
              help="Serve Prometheus metrics on this port (0: any free port).")
@click.option("--flight-port", default=None, type=click.IntRange(0, 65535),
              help="Arrow Flight SQL port (default: flight.port, 8815; 0: any free port).")
@click.option("--no-flight", is_flag=True, help="Do not start the Arrow Flight SQL server.")
@click.option("--http-port", default=None, type=click.IntRange(0, 65535),
              help="Download-link HTTP port (default: http.port, 8817; 0: any free port).")
@click.option("--log-level", default="INFO", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.pass_context
@_guard
def serve(ctx: click.Context, host: str | None, port: int | None, tls_self_signed: bool,
          tls_cert: str | None, tls_key: str | None, metrics: int | None, flight_port: int | None,
          no_flight: bool, http_port: int | None, log_level: str) -> None:
    """Run the PostgreSQL wire gateway (psql, drivers, BI tools) and the Arrow Flight SQL server
    (ADBC, pyarrow) on the configured warehouse."""
    import asyncio
    import json
    import logging
    import signal

    from gateway.server import GatewayServer, self_signed_context, tls_context

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = _app(ctx)
    host = host or app.config.server.host
    port = app.config.server.port if port is None else port
    context = None
    if tls_cert and tls_key:
        context = tls_context(tls_cert, tls_key)
    elif tls_self_signed:
        context = self_signed_context(str(app.home / "tls"))

    async def run() -> None:
        server = GatewayServer(app, host, port, ssl_context=context,
                               max_connections=app.config.server.max_connections,
                               idle_timeout=app.config.server.idle_timeout_s,
                               max_message=app.config.server.max_message_bytes)
        bound = await server.start()
        metrics_port = None
        if metrics is not None or app.config.server.metrics_port is not None:
            metrics_port = server.metrics.serve(host, metrics if metrics is not None else app.config.server.metrics_port)
            click.echo(f"  metrics: http://{host}:{metrics_port}/metrics")
        click.echo(f"egress: PostgreSQL gateway listening on {host}:{bound}"
                   f"{' (TLS offered)' if context else ''}")
        click.echo(f"  psql \"host={host} port={bound} user=alice dbname=egress\"   (password: alice)")
        click.echo(f"  postgresql://alice:alice@{host}:{bound}/egress")
        flight_server = None
        if app.config.flight.enabled and not no_flight:
            flight_server = _start_flight(app, host, flight_port, server.metrics)
        downloads = None
        if app.config.http.enabled:
            from gateway.http import DownloadServer

            http_conf = app.config.http
            wanted = http_conf.port if http_port is None else http_port
            try:
                downloads = DownloadServer(app, http_conf.host or host, wanted)
            except OSError as err:
                raise ConfigurationError(f"the download server cannot listen on {http_conf.host or host}:{wanted}: "
                                         f"{err.strerror or err}",
                                         hint="free the port, or set http.port / --http-port (0: any free port); "
                                              "http.enabled = false turns it off") from None
            app.links = downloads.link
            click.echo(f"egress: downloads (signed links) on {downloads.base_url}")
        app.start_jobs(dispatch=True)
        if app.config.schedules.enabled:
            app.start_schedules(run=True)
        click.echo("ready " + json.dumps({"host": host, "port": bound, "metrics_port": metrics_port,
                                          "flight_port": flight_server.port if flight_server else None,
                                          "http_port": downloads.port if downloads else None}), err=True)
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serving = asyncio.create_task(server.serve_forever())
        await stop.wait()
        serving.cancel()
        if flight_server is not None:
            await asyncio.to_thread(flight_server.shutdown)
        if downloads is not None:
            downloads.close()
        await server.close()

    asyncio.run(run())


def _start_flight(app: Any, host: str, port: int | None, metrics: Any) -> Any:
    from flight.server import FlightSqlServer, tls_pair

    conf = app.config.flight
    tls = tls_pair(conf.tls_cert, conf.tls_key) if conf.tls_cert and conf.tls_key else None
    flight_host = conf.host or host
    wanted = conf.port if port is None else port
    try:
        server = FlightSqlServer(app, flight_host, wanted, tls=tls, metrics=metrics)
    except Exception as err:  # noqa: BLE001 - pyarrow reports a bind failure as a bare ArrowException
        raise ConfigurationError(f"the Arrow Flight SQL server cannot listen on {flight_host}:{wanted}: "
                                 f"{str(err).splitlines()[0] if str(err) else type(err).__name__}",
                                 hint="free the port, or set flight.port / --flight-port (0: any free port); "
                                      "--no-flight turns Flight off") from None
    click.echo(f"egress: Arrow Flight SQL listening on {server.scheme}://{flight_host}:{server.port}")
    click.echo(f"  adbc_driver_flightsql.dbapi.connect(\"{server.scheme}://{flight_host}:{server.port}\", "
               "db_kwargs={\"username\": \"alice\", \"password\": \"alice\"})")
    return server


# -- data ----------------------------------------------------------------------------------------
@main.command("demo-data")
@click.option("--companies", default=100_000, show_default=True, type=click.IntRange(min=10))
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--similarities", "per_company", default=10, show_default=True, type=click.IntRange(min=1),
              help="Similarity edges per company.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="DuckDB file to write (default: the configured warehouse).")
@click.pass_context
@_guard
def demo_data(ctx: click.Context, companies: int, seed: int, per_company: int, out: str | None) -> None:
    """Generate the deterministic demo warehouse (inside DuckDB, no Python row loops)."""
    from service import config as cfg
    from views import demo

    if out is None:
        config, path = cfg.load(ctx.obj.get("config"))
        target = Path(config.warehouse.path)
        if not target.is_absolute():
            target = cfg.home_dir(config, path) / target
    else:
        target = Path(out)
    click.echo(f"egress: generating {companies:,} companies (seed {seed}) into {target}", err=True)
    stats = demo.build(target, companies=companies, seed=seed, similarities_per_company=per_company)
    click.echo(f"{target}: {stats.companies:,} companies, {stats.similarities:,} similarity edges, "
               f"{stats.metrics:,} metric rows in {stats.seconds:.1f}s")


@main.command()
@click.option("--user", "-U", required=True, help="Whose rules apply.")
@click.pass_context
@_guard
def views(ctx: click.Context, user: str) -> None:
    """The views and columns USER may see, with descriptions."""
    from rich.console import Console
    from rich.table import Table

    app = _app(ctx)
    principal = app.principal(user)
    console = Console()
    for view in principal.visible_views(app.catalog):
        table = Table(title=f"public.{view.name} — {view.description}", title_justify="left")
        table.add_column("column")
        table.add_column("type")
        table.add_column("description")
        for col in principal.visible_columns(view):
            mask = principal.role.mask_for(view.name, col.name)
            desc = col.description + (f" (masked: {mask})" if mask else "")
            table.add_row(col.name, col.type, desc)
        console.print(table)


@main.command()
@click.option("--user", "-U", required=True, help="Whose rules apply.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--max-rows", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Rows printed in table format.")
@click.argument("sql")
@click.pass_context
@_guard
def query(ctx: click.Context, user: str, fmt: str, max_rows: int, sql: str) -> None:
    """Run SQL as USER and print the result."""
    app = _app(ctx)
    principal = app.principal(user)
    started = time.perf_counter()
    try:
        compiled, stream = app.stream(principal, sql)
    except EgressError as err:
        app.audit.record(principal=principal, kind="query", outcome="error", application="egress-cli",
                         sql_given=sql, sqlstate=err.sqlstate)
        raise
    counted = _Counted(stream)
    try:
        _print_query(counted, fmt, max_rows)
    finally:
        app.audit.record(principal=principal, kind="query", outcome="ok", application="egress-cli", sql_given=sql,
                         sql_run=compiled.sql, rows=counted.rows,
                         duration_ms=(time.perf_counter() - started) * 1000)


class _Counted:
    def __init__(self, stream: Any) -> None:
        self.stream, self.schema, self.rows = stream, stream.schema, 0

    def __iter__(self) -> Any:
        for batch in self.stream:
            self.rows += batch.num_rows
            yield batch


def _print_query(stream: Any, fmt: str, max_rows: int) -> None:
    out = click.get_binary_stream("stdout")
    if fmt in ("csv", "json"):  # the exporters' own writers, straight to stdout
        spec = formats.get("csv" if fmt == "csv" else "ndjson")
        writer = spec.open(out, stream.schema, spec.options())
        for batch in stream:
            writer.write(batch)
        writer.close()
        out.flush()
        return
    from rich.console import Console
    from rich.table import Table

    from exporters.encode import to_text

    table = Table(show_lines=False)
    for name in stream.schema.names:
        table.add_column(name)
    shown = total = 0
    for batch in stream:
        total += batch.num_rows
        if shown >= max_rows:
            continue
        part = batch.slice(0, max_rows - shown)
        cols = [to_text(c, timestamp_pattern="%Y-%m-%d %H:%M:%S+00").to_pylist() for c in part.columns]
        for row in zip(*cols):
            table.add_row(*["NULL" if v is None else v for v in row])
        shown += part.num_rows
    console = Console()
    console.print(table)
    more = f" (showing {shown})" if total > shown else ""
    console.print(f"({total} row{'s' if total != 1 else ''}){more}")


# -- export --------------------------------------------------------------------------------------
def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _format_options(fmt: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Keep only the options the chosen format's model knows; reject ones it doesn't, by name."""
    spec = formats.get(fmt)
    known = set(spec.options.model_fields)
    given = {k: v for k, v in raw.items() if v is not None}
    stray = sorted(k for k in given if k not in known)
    if stray:
        raise click.UsageError(f"option(s) {', '.join('--' + s.replace('_', '-') for s in stray)} "
                               f"do not apply to {spec.name}")
    return given


@main.command()
@click.option("--user", "-U", required=True, help="Whose rules apply.")
@click.option("--view", help="Curated view to export.")
@click.option("--query", "query_text", help="SQL query to export (instead of --view).")
@click.option("--filter", "filter_text", help="Condition, e.g. \"industry = 'SaaS' AND employee_count > 100\".")
@click.option("--industry")
@click.option("--business-model")
@click.option("--company-size")
@click.option("--growth-stage")
@click.option("--location", help="Country or city (case-insensitive).")
@click.option("--date-range", help="FROM:TO on the view's date column (YYYY-MM-DD; either side may be empty).")
@click.option("--fields", help="Columns to export, comma-separated.")
@click.option("--exclude-fields", help="Columns to leave out, comma-separated.")
@click.option("--rename", help="old=new,... renames in the output.")
@click.option("--sort", help="Columns to sort by; '-' for descending: -annual_revenue,name.")
@click.option("--limit", type=click.IntRange(min=0))
@click.option("--offset", type=click.IntRange(min=0))
@click.option("--format", "fmt", required=True,
              type=click.Choice(["csv", "ndjson", "json", "parquet", "xlsx", "pdf"], case_sensitive=False))
@click.option("-o", "--output", required=True, type=click.Path(), help="File to write.")
@click.option("--compress", type=click.Choice(["gzip", "zstd"]), help="Compress text formats.")
@click.option("--chunk-rows", type=click.IntRange(min=1), help="Split into files of N rows.")
@click.option("--chunk-bytes", type=click.IntRange(min=1), help="Split into files of about N bytes.")
# format options (each applies to the formats whose model names it)
@click.option("--delimiter", help="csv: , ; tab |")
@click.option("--quoting", type=click.Choice(["minimal", "all", "none"]), help="csv quoting.")
@click.option("--header/--no-header", default=None, help="csv: header row.")
@click.option("--bom", is_flag=True, default=None, help="csv: UTF-8 byte order mark.")
@click.option("--line-terminator", type=click.Choice(["lf", "crlf"]), help="csv line ending.")
@click.option("--null", "null_text", help="csv: text for NULL.")
@click.option("--date-format", help="csv: iso, us, eu, full or a strftime pattern.")
@click.option("--decimals", type=click.IntRange(0, 18), help="csv/json: round floats and decimals.")
@click.option("--pretty", is_flag=True, default=None, help="json: indent.")
@click.option("--dates", type=click.Choice(["iso", "epoch"]), help="json: date encoding.")
@click.option("--codec", type=click.Choice(["zstd", "snappy", "gzip", "none", "lz4", "brotli"]), help="parquet codec.")
@click.option("--row-group-size", type=click.IntRange(min=1024), help="parquet rows per row group.")
@click.option("--partition-by", help="parquet: hive partition columns, comma-separated.")
@click.option("--sheet-name", help="xlsx: data sheet name.")
@click.option("--summary/--no-summary", default=None, help="xlsx/pdf: summary sheet or block.")
@click.option("--chart-by", help="xlsx/pdf: chart row counts grouped by this column.")
@click.option("--chart-value", help="pdf: sum this column per chart group.")
@click.option("--title", help="pdf title.")
@click.option("--orientation", type=click.Choice(["auto", "portrait", "landscape"]), help="pdf orientation.")
@click.option("--max-cell-chars", type=click.IntRange(4, 200), help="pdf: cut longer cells with an ellipsis.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
@_guard
def export(ctx: click.Context, user: str, view: str | None, query_text: str | None,
           filter_text: str | None, industry: str | None, business_model: str | None,
           company_size: str | None, growth_stage: str | None, location: str | None,
           date_range: str | None, fields: str | None, exclude_fields: str | None,
           rename: str | None, sort: str | None, limit: int | None, offset: int | None,
           fmt: str, output: str, compress: str | None, chunk_rows: int | None,
           chunk_bytes: int | None, progress: bool | None, **format_opts: Any) -> None:
    """Export a view or query as USER to a file (csv, ndjson, json, parquet, xlsx, pdf)."""
    from service.exports import ExportRequest, parse_date_range

    fmt = fmt.lower()
    raw = {
        "delimiter": format_opts["delimiter"], "quoting": format_opts["quoting"],
        "header": format_opts["header"], "bom": format_opts["bom"],
        "line_terminator": format_opts["line_terminator"], "null": format_opts["null_text"],
        "date_format": format_opts["date_format"], "decimals": format_opts["decimals"],
        "pretty": format_opts["pretty"], "dates": format_opts["dates"], "codec": format_opts["codec"],
        "row_group_size": format_opts["row_group_size"],
        "partition_by": _split(format_opts["partition_by"]) or None,
        "sheet_name": format_opts["sheet_name"], "summary": format_opts["summary"],
        "chart_by": format_opts["chart_by"], "chart_value": format_opts["chart_value"],
        "title": format_opts["title"], "orientation": format_opts["orientation"],
        "max_cell_chars": format_opts["max_cell_chars"],
    }
    options = _format_options(fmt, raw)
    renames = {}
    for pair in _split(rename):
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise click.UsageError(f"--rename takes old=new pairs, got {pair!r}")
        renames[old.strip()] = new.strip()
    equals = {k: v for k, v in (("industry", industry), ("business_model", business_model),
                                ("company_size", company_size), ("growth_stage", growth_stage)) if v}
    req = ExportRequest(
        view=view, query=query_text, filter=filter_text, equals=equals, location=location,
        date_range=parse_date_range(date_range) if date_range else None,
        fields=_split(fields), exclude_fields=_split(exclude_fields), rename=renames,
        sort=_split(sort), limit=limit, offset=offset,
    )
    if fmt == "pdf" and "subtitle" not in options and req.describe_filters():
        options["subtitle"] = "filters: " + "; ".join(f"{k} {v}" for k, v in req.describe_filters().items())
    app = _app(ctx)
    principal = app.principal(user)
    show = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    outcome, job_id = _run_export_job(app, principal, req, fmt, Path(output), options, compress,
                                      chunk_rows, chunk_bytes, show)
    seconds = time.perf_counter() - started
    result = outcome.result
    where = Path(output).parent / result.files[0].name if len(result.files) == 1 else Path(output).parent
    checksum = result.files[0].sha256 if len(result.files) == 1 else f"see {outcome.manifest.name}"
    click.echo(f"{where}: {result.rows:,} rows, {_size(result.bytes)}, {seconds:.2f}s, "
               f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}, sha256 {checksum}; "
               f"manifest {outcome.manifest}; job {job_id}")


def _run_export_job(app: Any, principal: Any, req: Any, fmt: str, output: Path, options: dict[str, Any],
                    compress: str | None, chunk_rows: int | None, chunk_bytes: int | None,
                    show: bool) -> tuple[Any, str]:
    """A CLI export is a job like any other (quotas, audit, `egress jobs`), run in this process."""
    import dataclasses

    from service.jobs import JobSpec, raise_if_failed

    jobs = app.start_jobs(dispatch=False)
    spec = JobSpec(request=dataclasses.asdict(req), format=fmt, name=output.name, options=options,
                   compression=compress, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes,
                   output=str(output.resolve()))
    job_id = jobs.submit(principal, spec, source="cli", inline=True)
    row, outcome = _with_progress(jobs, job_id, fmt) if show else jobs.run_inline(job_id)
    raise_if_failed(row)
    return outcome, job_id


def _with_progress(jobs: Any, job_id: str, fmt: str) -> Any:
    from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows"),
               TextColumn("{task.fields[rate]:,.0f} rows/s"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(f"export {fmt}", total=None, rate=0.0)
        started = time.perf_counter()

        def tick(rows: int, total: int | None) -> None:
            rate = rows / max(time.perf_counter() - started, 1e-6)
            bar.update(task, completed=rows, total=total or None, rate=rate)

        return jobs.run_inline(job_id, tick)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


@main.command()
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@_guard
def verify(manifest: str) -> None:
    """Re-check every file a manifest lists (size and SHA-256)."""
    from exporters.manifest import verify as check

    doc, problems = check(Path(manifest))
    for p in problems:
        click.echo(f"{p.file}: {p.issue}", err=True)
    if problems:
        click.echo(f"egress: {len(problems)} of {len(doc.get('files', []))} files failed verification", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"ok: {len(doc.get('files', []))} files, {doc.get('rows', 0):,} rows verified")


# -- config and users ----------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate egress.toml: each problem names the file, the key path and the fix."""
    from service import config as cfg

    try:
        config, path = cfg.load(ctx.obj.get("config"))
    except ConfigurationError as err:
        click.echo(f"egress: {err.message}", err=True)
        if err.detail:
            click.echo(err.detail, err=True)
        if err.hint:
            click.echo(f"hint: {err.hint}", err=True)
        sys.exit(EXIT_FAILED)
    where = str(path) if path else "embedded default config"
    click.echo(f"ok: {where}: {len(config.users)} users, {len(config.roles)} roles, "
               f"{len(config.tenants)} tenants")


@main.group("users")
def users_group() -> None:
    """Users (stored as SCRAM-SHA-256 verifiers, never passwords)."""


@users_group.command("add")
@click.argument("name")
@click.option("--tenant", required=True)
@click.option("--role", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--md5", "with_md5", is_flag=True, help="Also store an md5 hash (for server.auth = \"md5\").")
@click.pass_context
@_guard
def users_add(ctx: click.Context, name: str, tenant: str, role: str, password_stdin: bool,
              with_md5: bool) -> None:
    """Add or update a user; the password is read from a prompt or stdin, never an argument."""
    from service.passwords import make_verifier

    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise click.UsageError("passwords differ")
    if not password:
        raise click.UsageError("empty password")
    import hashlib

    app = _app(ctx)
    md5 = "md5" + hashlib.md5((password + name).encode("utf-8")).hexdigest() if with_md5 else None
    app.add_user(name, tenant, role, make_verifier(password), md5)
    click.echo(f"user {name} (tenant {tenant}, role {role}) saved")


@users_group.command("list")
@click.pass_context
@_guard
def users_list(ctx: click.Context) -> None:
    """Users and their tenant and role (no secrets)."""
    app = _app(ctx)
    for name in app.user_names():
        p = app.principal(name)
        click.echo(f"{name}\ttenant={p.tenant}\trole={p.role.name}")


# -- jobs --------------------------------------------------------------------------------------
@main.group("jobs")
def jobs_group() -> None:
    """Export jobs (CLI, COPY TO 'file', schedules): list, show, cancel, wait."""


def _jobs(ctx: click.Context) -> Any:
    return _app(ctx).start_jobs(dispatch=False)


@jobs_group.command("list")
@click.option("--user", required=True, help="Whose jobs (a tenant admin sees the tenant's).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
@_guard
def jobs_list(ctx: click.Context, user: str, as_json: bool) -> None:
    """Jobs USER may see, newest first."""
    import json

    from service.jobs import job_summary

    app = _app(ctx)
    for row in _jobs(ctx).list(app.principal(user)):
        job = job_summary(row)
        if as_json:
            click.echo(json.dumps(job))
        else:
            total = f"/{job['rows_total']:,}" if job["rows_total"] else ""
            click.echo(f"{job['id']}\t{job['state']}\t{job['owner']}\t{job['source']}\t{job['name']}\t"
                       f"{job['rows_done']:,}{total} rows\t{job['created_at']}")


@jobs_group.command("show")
@click.argument("job_id")
@click.option("--user", required=True)
@click.pass_context
@_guard
def jobs_show(ctx: click.Context, job_id: str, user: str) -> None:
    """One job as JSON: state, progress, files and checksums, error."""
    import json

    from service.jobs import job_summary

    app = _app(ctx)
    click.echo(json.dumps(job_summary(_jobs(ctx).visible(app.principal(user), job_id)), indent=2))


@jobs_group.command("cancel")
@click.argument("job_id")
@click.option("--user", required=True)
@click.pass_context
@_guard
def jobs_cancel(ctx: click.Context, job_id: str, user: str) -> None:
    """Cancel a queued or running job (a running export stops within a second; partial files go)."""
    app = _app(ctx)
    state = _jobs(ctx).cancel(app.principal(user), job_id)
    click.echo(f"job {job_id}: {state}" + (" (cancel requested)" if state == "running" else ""))


@jobs_group.command("wait")
@click.argument("job_id")
@click.option("--user", required=True)
@click.option("--timeout", default=3600.0, show_default=True, type=click.FloatRange(min=0))
@click.pass_context
@_guard
def jobs_wait(ctx: click.Context, job_id: str, user: str, timeout: float) -> None:
    """Wait until the job ends; exit 0 if it succeeded, 1 otherwise."""
    app = _app(ctx)
    jobs = _jobs(ctx)
    jobs.visible(app.principal(user), job_id)
    row = jobs.wait(job_id, timeout)
    click.echo(f"job {job_id}: {row['state']}" + (f": {row['error']}" if row["error"] else ""))
    if row["state"] != "succeeded":
        sys.exit(EXIT_FAILED)


# -- schedules ---------------------------------------------------------------------------------
@main.group("schedules")
def schedules_group() -> None:
    """Scheduled exports: a server-side COPY statement on a cron or interval trigger."""


def _schedules(ctx: click.Context) -> Any:
    return _app(ctx).start_schedules(run=False)


@schedules_group.command("add")
@click.argument("name")
@click.argument("copy_statement")
@click.option("--user", required=True, help="Owner: the schedule runs with this user's rules at each run.")
@click.option("--cron", help="Five-field cron expression, e.g. '0 6 * * 1-5'.")
@click.option("--timezone", help="Time zone of --cron (default: schedules.timezone).")
@click.option("--every", help="Interval instead of cron: 90s, 15m, 2h, 1d.")
@click.pass_context
@_guard
def schedules_add(ctx: click.Context, name: str, copy_statement: str, user: str, cron: str | None,
                  timezone: str | None, every: str | None) -> None:
    """Add schedule NAME running COPY_STATEMENT, e.g.

    egress schedules add daily --user carol --cron '0 6 * * *' --timezone Europe/Berlin
    "COPY companies TO 'daily/companies-{date}.csv' (FORMAT csv, WATERMARK updated_at, KEEP_LAST 7)"
    """
    if bool(cron) == bool(every):
        raise click.UsageError("give exactly one of --cron or --every")
    trigger = cron if cron else f"every {every}"
    app = _app(ctx)
    schedule_id = _schedules(ctx).add(app.principal(user), name, trigger, copy_statement, timezone)
    click.echo(f"schedule {name} added: {schedule_id}")


@schedules_group.command("list")
@click.option("--user", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_guard
def schedules_list(ctx: click.Context, user: str, as_json: bool) -> None:
    """Schedules USER may see (a tenant admin: the tenant's)."""
    import json

    app = _app(ctx)
    for row in _schedules(ctx).list(app.principal(user)):
        trigger = json.loads(row["trigger"])
        text = trigger.get("cron") and f"cron '{trigger['cron']}' {trigger['timezone']}" or f"every {trigger['every_s']}s"
        if as_json:
            click.echo(json.dumps({"id": row["id"], "name": row["name"], "owner": row["owner"], "trigger": trigger,
                                   "paused": bool(row["paused"]), "watermark": row["watermark"],
                                   "next_run_at": row["next_run_at"]}))
        else:
            state = "paused" if row["paused"] else "active"
            click.echo(f"{row['id']}\t{row['name']}\t{row['owner']}\t{state}\t{text}\t"
                       f"watermark={row['watermark'] or '-'}")


@schedules_group.command("show")
@click.argument("schedule")
@click.option("--user", required=True)
@click.pass_context
@_guard
def schedules_show(ctx: click.Context, schedule: str, user: str) -> None:
    """One schedule and its runs, as JSON."""
    import json

    app = _app(ctx)
    principal = app.principal(user)
    schedules = _schedules(ctx)
    row = schedules.find(principal, schedule)
    runs = [r for r in schedules.runs(principal) if r["schedule_id"] == row["id"]]
    click.echo(json.dumps({**{k: v for k, v in row.items() if k not in ("spec", "trigger")},
                           "trigger": json.loads(row["trigger"]), "export": json.loads(row["spec"]),
                           "runs": runs}, indent=2, default=str))


def _schedule_action(action: str) -> Any:
    @click.argument("schedule")
    @click.option("--user", required=True)
    @click.pass_context
    @_guard
    def command(ctx: click.Context, schedule: str, user: str) -> None:
        app = _app(ctx)
        state = getattr(_schedules(ctx), action)(app.principal(user), schedule)
        click.echo(f"schedule {schedule}: {state}")

    command.__doc__ = {"pause": "Pause a schedule (no runs until resumed).", "resume": "Resume a paused schedule.",
                       "remove": "Remove a schedule (its exports stay until they expire)."}[action]
    return command


for _action in ("pause", "resume", "remove"):
    schedules_group.command(_action)(_schedule_action(_action))


@schedules_group.command("run-now")
@click.argument("schedule")
@click.option("--user", required=True)
@click.pass_context
@_guard
def schedules_run_now(ctx: click.Context, schedule: str, user: str) -> None:
    """Run a schedule once, here and now (as its owner), and wait for the result."""
    app = _app(ctx)
    result = _schedules(ctx).run_now(app.principal(user), schedule, wait=True)
    click.echo(f"schedule {schedule}: {result.get('state')}" + (f", job {result['job_id']}" if result.get("job_id") else "")
               + (f", {result['rows']} rows" if result.get("rows") is not None else "")
               + (f": {result['error']}" if result.get("error") else ""))
    if result.get("state") != "succeeded":
        sys.exit(EXIT_FAILED)


# -- templates ---------------------------------------------------------------------------------
@main.group("templates")
def templates_group() -> None:
    """Named export definitions per tenant (and the built-in reports company-list, market-overview)."""


def _templates(ctx: click.Context) -> Any:
    from service.templates import Templates

    return Templates(_app(ctx))


@templates_group.command("list")
@click.option("--user", required=True)
@click.pass_context
@_guard
def templates_list(ctx: click.Context, user: str) -> None:
    """Templates USER's tenant has, built-in ones first."""
    app = _app(ctx)
    for row in _templates(ctx).list(app.principal(user)):
        click.echo(f"{row['name']}\t{row['kind']}\t{row['owner'] or '-'}\t{row['description'] or row['statement']}")


@templates_group.command("save")
@click.argument("name")
@click.argument("statement")
@click.option("--user", required=True)
@click.pass_context
@_guard
def templates_save(ctx: click.Context, name: str, statement: str, user: str) -> None:
    """Save STATEMENT (COPY ... TO 'file-{date}.ext' (...)) as template NAME for USER's tenant."""
    app = _app(ctx)
    _templates(ctx).save(app.principal(user), name, statement)
    click.echo(f"template {name} saved")


@templates_group.command("delete")
@click.argument("name")
@click.option("--user", required=True)
@click.pass_context
@_guard
def templates_delete(ctx: click.Context, name: str, user: str) -> None:
    """Delete a saved template (its author or a tenant admin)."""
    app = _app(ctx)
    click.echo(f"template {name}: {_templates(ctx).delete(app.principal(user), name)}")


@templates_group.command("run")
@click.argument("name")
@click.option("--user", required=True, help="Run as this user (their rules, their export area).")
@click.option("--param", "params", multiple=True, help="Value of $1, $2, ... in the template (repeat).")
@click.pass_context
@_guard
def templates_run(ctx: click.Context, name: str, user: str, params: tuple[str, ...]) -> None:
    """Run a template now, here, and print the job's files."""
    import json

    from service.jobs import raise_if_failed

    app = _app(ctx)
    jobs = app.start_jobs(dispatch=False)
    job_id = _templates(ctx).submit(app.principal(user), name, inline=True, params=list(params))
    row, _outcome = jobs.run_inline(job_id)
    raise_if_failed(row)
    files = json.loads(row["files"])
    click.echo(f"job {job_id}: {row['rows_done']:,} rows; " + ", ".join(
        f"{f['name']} (sha256 {f['sha256']})" for f in files))


if __name__ == "__main__":
    main()

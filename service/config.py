"""egress.toml: typed, validated, every setting with a default and a help line.

Where egress looks: --config PATH, else $EGRESS_CONFIG, else ./egress.toml, else the embedded
demo default (warehouse and state under $EGRESS_HOME or ./.egress). `egress config check`
reports each problem as "file: key.path: what is wrong (fix: ...)".
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sql.errors import ConfigurationError
from sql.model import MASK_KINDS

# The demo users' passwords are their user names; only SCRAM-SHA-256 verifiers are stored.
DEMO_VERIFIERS = {
    "alice": "SCRAM-SHA-256$4096:eOxUL1W/bV5VgFN6zVCCluOyTvC43c7AEkAXTs20ndQ=$BNqq/QIePoBuLjl/0UYAThwNLDZ0yKgggtsGEx6iWs0=:vlMxrBh2diLdNog3N2UOEMnlATtHYwFOo7sGf0XYcJw=",
    "bob": "SCRAM-SHA-256$4096:Z+ofUEhqCTReyRVV+5JYL9+xf9WvduB4AhGJUfYTd08=$/pOBBHg28zjT+o8U94Z4aoaRsTRgXDB3rU9wvuxja6g=:63VeolyZwuBExHQ5eJyWpKQZQtjbNvwBi9P0q1ONgMY=",
    "carol": "SCRAM-SHA-256$4096:OvDGZru6xHN9pIVDwz63hDrZcta6/rIbhAxhBVwFcQQ=$8jR8Cn+UvVvlp2xBpgubdvgw8+qzTHNL5FrlfuyzII0=:sv6ZAkDo33ExizkOOxWBJWwRKdBKgAn+3ibkqXrZAjM=",
    "dave": "SCRAM-SHA-256$4096:tkbxsKeuIpInQ1miwyPrKsNGSnqftN9Mp1B8wVFlbdo=$1uelmnhYbS/L1FO3xpkRjjkfIeb7Du4TZODXntCV9Cc=:i+LSXSxykLmc4hO4rlrdoPWhryU6kd8Bnw9TfP9af6A=",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Strict):
    host: str = Field("127.0.0.1", description="Address the PostgreSQL gateway binds to.")
    port: int = Field(5433, ge=0, le=65535, description="PostgreSQL gateway port (0: any free port).")
    metrics_port: int | None = Field(None, ge=0, le=65535,
                                     description="Prometheus metrics HTTP port on the same host (unset: off).")
    max_connections: int = Field(100, ge=1, description="Most client connections at once (53300 past it).")
    statement_timeout_ms: int = Field(0, ge=0, description="Default statement_timeout for new sessions (0: none).")
    auth: Literal["scram-sha-256", "md5", "password"] = Field(
        "scram-sha-256", description="Login method: SCRAM; md5 (users need an md5 hash); or a clear-text "
        "password, accepted only over TLS.")
    idle_timeout_s: int = Field(0, ge=0, description="Close connections idle this long between messages (0: never).")
    max_message_bytes: int = Field(64 * 1024 * 1024, ge=1024,
                                   description="Largest frontend message accepted (08P01 past it).")


MEMORY_SIZE = r"\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)"  # any case


class WarehouseConfig(_Strict):
    path: str = Field("warehouse.duckdb", description="DuckDB file; relative paths are under home.")
    demo: bool = Field(True, description="Generate the demo dataset into `path` if it is missing.")
    demo_companies: int = Field(100_000, ge=10, description="Companies in the generated demo dataset.")
    demo_seed: int = Field(42, description="Seed of the demo generator (same seed, same data).")
    threads: int | None = Field(None, ge=1, description="DuckDB worker threads (default: all cores).")
    memory_limit: str | None = Field(None, description="DuckDB memory limit, e.g. '2GB'.")
    stream_memory_limit: str = Field(
        "64MB",
        description="Memory limit of the DuckDB instance that runs pure streams (scans, filters, "
                    "LIMIT) so streaming any number of rows keeps memory flat, e.g. '64MB'; 'off': "
                    "every query on the main instance.",
    )
    wire_threads: int = Field(
        1, ge=0,
        description="DuckDB threads for pure streams sent to PostgreSQL wire clients, on an instance "
                    "of their own (those clients parse rows slower than one thread makes them: more "
                    "threads only compete with the encoder); 0: they share the streaming instance.",
    )
    wire_memory_limit: str = Field(
        "24MB",
        description="Memory limit of that wire instance, e.g. '24MB'. What it keeps is mostly "
                    "scanned blocks no wire stream reads twice, so a small limit keeps the server's "
                    "memory flat as results grow.",
    )
    preserve_insertion_order: bool = Field(
        True, description="Keep view order in unordered results (false: less memory, any order)."
    )
    batch_rows: int = Field(32_768, ge=1024, description="Rows per Arrow batch streamed from DuckDB.")

    @field_validator("stream_memory_limit")
    @classmethod
    def _memory_size(cls, value: str) -> str:
        if not re.fullmatch("off|" + MEMORY_SIZE, value.strip(), re.IGNORECASE):
            raise ValueError("must be a memory size such as '64MB' or '1GB', or 'off'")
        return value.strip()

    @field_validator("wire_memory_limit")
    @classmethod
    def _wire_memory_size(cls, value: str) -> str:
        if not re.fullmatch(MEMORY_SIZE, value.strip(), re.IGNORECASE):
            raise ValueError("must be a memory size such as '24MB'")
        return value.strip()


class FlightConfig(_Strict):
    enabled: bool = Field(True, description="Start the Arrow Flight SQL server with `egress serve`.")
    host: str | None = Field(None, description="Address Flight SQL binds to (default: server.host).")
    port: int = Field(8815, ge=0, le=65535, description="Flight SQL port (0: any free port).")
    tls_cert: str | None = Field(None, description="PEM certificate: serve grpc+tls instead of grpc.")
    tls_key: str | None = Field(None, description="PEM private key of tls_cert.")
    token_ttl_s: int = Field(3600, ge=1, description="Lifetime of a bearer token from the Basic handshake.")
    handle_ttl_s: int = Field(900, ge=1, description="Idle lifetime of statement and prepared-statement handles.")
    max_batch_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024,
                                 description="Largest record batch sent (clients cap messages at 16 MiB).")
    endpoints: int = Field(1, ge=1, le=16, description="Endpoints offered per query, all drawing from one "
                           "running query, for clients that fetch endpoints in parallel.")

    @model_validator(mode="after")
    def _tls_pair(self) -> "FlightConfig":
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together; set both or neither")
        return self


class ExportConfig(_Strict):
    directory: str = Field("exports", description="Export area; one folder per user under it.")


class StateConfig(_Strict):
    url: str | None = Field(None, description="SQLAlchemy URL of the state store (default: SQLite state.db "
                            "under home); e.g. postgresql+psycopg://egress@127.0.0.1/egress to share it.")


class JobsConfig(_Strict):
    workers: int = Field(2, ge=1, le=64, description="Export jobs running at once per gateway; more wait queued.")
    retention_days: float = Field(7.0, gt=0, description="Exports expire after this long: files deleted, job expired.")
    sweep_interval_s: float = Field(60.0, gt=0, description="How often expired exports are looked for.")
    progress_interval_s: float = Field(0.5, gt=0, le=1.0,
                                       description="Progress (and cancel requests) of running jobs, this often.")
    sync_wait_s: float = Field(3600.0, gt=0, description="Longest a synchronous COPY TO 'file' waits for its job.")


class SchedulesConfig(_Strict):
    enabled: bool = Field(True, description="Run schedules in `egress serve` (APScheduler, store in the state db).")
    timezone: str = Field("UTC", description="Time zone of cron schedules that do not name one.")
    misfire_grace_s: int = Field(300, ge=1, description="A run missed (gateway down) by up to this long still "
                                 "runs; missed runs coalesce into one.")
    poll_s: float = Field(1.0, gt=0, le=60, description="How often the scheduler looks for schedules added or "
                          "changed by other processes.")


class QuotaConfig(_Strict):
    rows_per_day: int | None = Field(None, ge=0, description="Rows exported per UTC day.")
    exports_per_day: int | None = Field(None, ge=0, description="Exports started per UTC day.")
    concurrent_jobs: int | None = Field(None, ge=0, description="Jobs queued or running at once.")
    rows_per_export: int | None = Field(None, ge=1, description="Rows in one export (54000 past it).")
    bytes_per_file: int | None = Field(None, ge=1, description="Bytes in one exported file (54000 past it).")


class QuotasConfig(_Strict):
    default: QuotaConfig = Field(default_factory=QuotaConfig, description="Limits for everyone.")
    roles: dict[str, QuotaConfig] = Field(default_factory=dict, description="role -> limits (over default).")
    users: dict[str, QuotaConfig] = Field(default_factory=dict, description="user -> limits (over role).")
    on_concurrency: Literal["refuse", "queue"] = Field(
        "refuse", description="Past concurrent_jobs: refuse (53400) or queue the job until one finishes.")


class HttpConfig(_Strict):
    enabled: bool = Field(True, description="Serve signed download links (and /healthz) with `egress serve`.")
    host: str | None = Field(None, description="Address the HTTP server binds to (default: server.host).")
    port: int = Field(8817, ge=0, le=65535, description="HTTP port for downloads (0: any free port).")
    public_url: str | None = Field(None, description="Base of download links (default: http://host:port).")
    link_ttl_s: int = Field(86400, ge=1, description="Lifetime of a signed download link.")
    secret_env: str | None = Field(None, description="Environment variable holding the link-signing key.")
    secret_file: str | None = Field(None, description="File holding the link-signing key (default: a random "
                                    "key kept in home/link.key).")


class DestinationConfig(_Strict):
    type: Literal["local", "s3", "sftp", "email", "webhook"] = Field(description="Kind of destination.")
    retries: int = Field(3, ge=0, le=20, description="Retries after a failed delivery (exponential backoff).")
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles each time.")
    path: str | None = Field(None, description="local: directory to copy files into.")
    bucket: str | None = Field(None, description="s3: bucket.")
    prefix: str = Field("", description="s3/sftp: key prefix or remote directory.")
    region: str | None = Field(None, description="s3: region.")
    endpoint_url: str | None = Field(None, description="s3: endpoint (S3-compatible servers).")
    access_key_env: str | None = Field(None, description="s3: environment variable with the access key id.")
    secret_key_env: str | None = Field(None, description="s3: environment variable with the secret key.")
    multipart_mb: int = Field(8, ge=5, description="s3: files larger than this go up in parts of this size.")
    host: str | None = Field(None, description="sftp/email: server host.")
    port: int | None = Field(None, ge=1, le=65535, description="sftp/email: server port (22 / 25).")
    username: str | None = Field(None, description="sftp/email: login name.")
    key_file: str | None = Field(None, description="sftp: private key file.")
    password_env: str | None = Field(None, description="sftp/email: environment variable with the password.")
    password_file: str | None = Field(None, description="sftp/email: file with the password.")
    known_hosts: str | None = Field(None, description="sftp: known_hosts file the server key must be in.")
    sender: str | None = Field(None, description="email: From address.")
    to: list[str] = Field(default_factory=list, description="email: recipients.")
    attach_max_bytes: int = Field(5 * 1024 * 1024, ge=0, description="email: attach files up to this size, "
                                  "else send the download link.")
    starttls: bool = Field(False, description="email: upgrade the SMTP connection with STARTTLS.")
    url: str | None = Field(None, description="webhook: URL to POST the job summary to.")
    hmac_secret_env: str | None = Field(None, description="webhook: environment variable with the HMAC key "
                                        "that signs the body (X-Egress-Signature).")

    @model_validator(mode="after")
    def _needs(self) -> "DestinationConfig":
        required = {"local": ["path"], "s3": ["bucket"], "sftp": ["host", "username"],
                    "email": ["host", "sender"], "webhook": ["url"]}[self.type]
        if self.type == "sftp" and not self.known_hosts:
            missing_hosts = True
        else:
            missing_hosts = False
        missing = [k for k in required if not getattr(self, k)]
        if missing:
            raise ValueError(f"a {self.type} destination needs {', '.join(missing)}")
        if self.type == "email" and not self.to:
            raise ValueError("an email destination needs at least one address in to")
        if missing_hosts:
            raise ValueError("an sftp destination needs known_hosts (the server's host key is always checked)")
        if self.type == "sftp" and not (self.key_file or self.password_env or self.password_file):
            raise ValueError("an sftp destination needs key_file, password_env or password_file")
        return self


class RoleConfig(_Strict):
    views: list[str] | None = Field(None, description="Views the role may read (default: all).")
    deny: dict[str, list[str]] = Field(default_factory=dict, description="view -> hidden columns.")
    mask: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="view -> column -> mask (" + ", ".join(MASK_KINDS) + ")."
    )
    max_rows: int | None = Field(None, ge=1, description="Most rows one query may return (54000 past it).")
    tenant_admin: bool = Field(False, description="Sees and manages every job, schedule and audit record of "
                               "its tenant (others: only their own).")

    @field_validator("mask")
    @classmethod
    def _known_masks(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for view, cols in value.items():
            for col, kind in cols.items():
                if kind not in MASK_KINDS:
                    raise ValueError(
                        f"unknown mask {kind!r} for {view}.{col}; use one of {', '.join(MASK_KINDS)}"
                    )
        return value


class UserConfig(_Strict):
    tenant: str = Field(description="Tenant whose rows the user sees.")
    role: str = Field(description="Role that decides the user's columns.")
    password: str = Field(description="SCRAM-SHA-256 verifier (never a plain password).")
    md5: str | None = Field(None, description="PostgreSQL md5 hash ('md5' + md5(password + user)), only for server.auth = \"md5\".")

    @field_validator("md5")
    @classmethod
    def _md5(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("md5") or len(value) != 35):
            raise ValueError("must be 'md5' followed by 32 hex digits; create it with `egress users add --md5`")
        return value

    @field_validator("password")
    @classmethod
    def _verifier(cls, value: str) -> str:
        if not value.startswith("SCRAM-SHA-256$"):
            raise ValueError("must be a SCRAM-SHA-256 verifier; create users with `egress users add`")
        return value


class Config(_Strict):
    home: str | None = Field(None, description="State directory (default: $EGRESS_HOME or ./.egress).")
    server: ServerConfig = Field(default_factory=ServerConfig)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    flight: FlightConfig = Field(default_factory=FlightConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    exports: ExportConfig = Field(default_factory=ExportConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    schedules: SchedulesConfig = Field(default_factory=SchedulesConfig)
    quotas: QuotasConfig = Field(default_factory=QuotasConfig)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict, description="Delivery targets by name.")
    tenants: list[str] = Field(default_factory=lambda: ["acme", "globex", "initech"],
                               description="Tenants that exist.")
    roles: dict[str, RoleConfig] = Field(default_factory=dict, description="Roles by name.")
    users: dict[str, UserConfig] = Field(default_factory=dict, description="Users by name.")

    @model_validator(mode="after")
    def _references(self) -> "Config":
        for name, user in self.users.items():
            if user.role not in self.roles:
                raise ValueError(f"users.{name}.role: unknown role {user.role!r}; define [roles.{user.role}]")
            if user.tenant not in self.tenants:
                raise ValueError(f"users.{name}.tenant: unknown tenant {user.tenant!r}; add it to tenants")
        return self


def demo_config() -> Config:
    """The embedded default: the demo warehouse, three tenants, four users, loopback only."""
    return Config(
        roles={
            "analyst": RoleConfig(deny={"companies": ["contact_email", "annual_revenue"]}),
            "manager": RoleConfig(tenant_admin=True),
            "support": RoleConfig(
                deny={"companies": ["annual_revenue"]},
                mask={"companies": {"contact_email": "email_domain"}},
            ),
        },
        users={
            "alice": UserConfig(tenant="acme", role="analyst", password=DEMO_VERIFIERS["alice"]),
            "bob": UserConfig(tenant="globex", role="analyst", password=DEMO_VERIFIERS["bob"]),
            "carol": UserConfig(tenant="acme", role="manager", password=DEMO_VERIFIERS["carol"]),
            "dave": UserConfig(tenant="initech", role="support", password=DEMO_VERIFIERS["dave"]),
        },
    )


def _fix_for(kind: str, loc: str) -> str:
    if kind == "extra_forbidden":
        return "remove it, or check its spelling against docs/configuration.md"
    if kind == "missing":
        return "add it"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "give a value of the right type"
    return "see docs/configuration.md"


def format_errors(source: str, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {loc}: {msg} (fix: {_fix_for(e['type'], loc)})")
    return lines


def parse(data: dict[str, Any], source: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigurationError("invalid configuration", detail="\n".join(format_errors(source, err))) from None


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("EGRESS_CONFIG")
    if env:
        return Path(env)
    local = Path("egress.toml")
    return local if local.exists() else None


def load(explicit: str | None = None) -> tuple[Config, Path | None]:
    """The config in force and the file it came from (None: the embedded default)."""
    path = find_config(explicit)
    if path is None:
        return demo_config(), None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file {path} does not exist",
                                 hint="pass an existing file with --config or unset EGRESS_CONFIG") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigurationError(f"{path}: not valid TOML: {err}") from None
    return parse(data, str(path)), path


def home_dir(config: Config, config_path: Path | None) -> Path:
    if config.home:
        base = config_path.parent if config_path else Path.cwd()
        return (base / config.home).resolve()
    return Path(os.environ.get("EGRESS_HOME", ".egress")).resolve()

"""Delivery of finished exports to configured destinations: a local directory, S3 (boto3,
multipart past a size), SFTP (paramiko, host key checked), e-mail (smtplib: the file attached under
a size limit, else a download link) and webhooks (POST of the job summary, HMAC-signed).

Each attempt is recorded in the state store (egress.deliveries); failures retry with exponential
backoff. The export area keeps its copy whatever happens here, until retention removes it.
Secrets come from environment variables or files named in the config; none is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import smtplib
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from service import state as st
from service.config import DestinationConfig
from service.jobs import export_area, job_summary

log = logging.getLogger("egress.delivery")


class DeliveryError(Exception):
    pass


def _secret(conf: DestinationConfig, env: str | None, file: str | None, what: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise DeliveryError(f"{what}: environment variable {env} is not set")
        return value
    if file:
        try:
            return Path(file).read_text().strip()
        except OSError as err:
            raise DeliveryError(f"{what}: cannot read {file}: {err.strerror}") from None
    return None


class Deliveries:
    def __init__(self, app: Any) -> None:
        self.app = app

    def after_success(self, job: dict[str, Any]) -> None:
        """The job hook: deliver a succeeded job to each destination its spec names."""
        spec = json.loads(job["spec"])
        for name in spec.get("deliver") or []:
            self.deliver(job, name)

    def deliver(self, job: dict[str, Any], name: str) -> bool:
        conf = self.app.config.destinations.get(name)
        if conf is None:
            self._record(job["id"], name, 1, "failed", f"destination {name} is not configured")
            return False
        attempts = conf.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                detail = getattr(self, f"_to_{conf.type}")(job, conf)
                self._record(job["id"], name, attempt, "delivered", detail)
                log.info("job %s delivered to %s (%s)", job["id"], name, conf.type)
                return True
            except Exception as err:  # noqa: BLE001 - recorded and retried; never fatal to the job
                reason = f"{type(err).__name__}: {err}"
                self._record(job["id"], name, attempt, "failed", reason)
                log.warning("job %s: delivery to %s failed (attempt %d of %d): %s", job["id"], name, attempt,
                            attempts, reason)
                if attempt < attempts:
                    time.sleep(conf.backoff_s * (2 ** (attempt - 1)))
        return False

    def _record(self, job_id: str, destination: str, attempt: int, state: str, detail: str) -> None:
        with self.app.state.tx() as conn:
            conn.execute(st.deliveries.insert().values(job_id=job_id, destination=destination, attempt=attempt,
                                                       state=state, detail=detail[:2000], at=time.time()))

    def _files(self, job: dict[str, Any]) -> list[tuple[Path, str]]:
        """(local path, name relative to the export area) of the job's files and manifest."""
        area = export_area(self.app, job["owner"])
        names = [f["name"] for f in json.loads(job["files"] or "[]")]
        if job["manifest"]:
            names.append(job["manifest"])
        out = []
        for name in names:
            path = Path(name) if name.startswith("/") else area / name
            out.append((path, Path(name).name if name.startswith("/") else name))
        return out

    # -- destinations ------------------------------------------------------------------------------
    def _to_local(self, job: dict[str, Any], conf: DestinationConfig) -> str:
        root = Path(conf.path or "")
        copied = 0
        for path, name in self._files(job):
            if path.is_dir():
                continue
            target = root / job["owner"] / name
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.delivering")
            shutil.copyfile(path, temp)
            os.replace(temp, target)  # never a partial file under the final name
            copied += 1
        return f"{copied} file(s) copied to {root / job['owner']}"

    def _to_s3(self, job: dict[str, Any], conf: DestinationConfig) -> str:
        import boto3
        from boto3.s3.transfer import TransferConfig

        key_id = _secret(conf, conf.access_key_env, None, "s3 access key")
        secret = _secret(conf, conf.secret_key_env, None, "s3 secret key")
        client = boto3.client("s3", endpoint_url=conf.endpoint_url, region_name=conf.region or "us-east-1",
                              aws_access_key_id=key_id, aws_secret_access_key=secret)
        part = conf.multipart_mb * 1024 * 1024
        transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, use_threads=False)
        keys = []
        for path, name in self._files(job):
            if path.is_dir():
                continue
            key = f"{conf.prefix.strip('/')}/{job['owner']}/{name}".lstrip("/")
            client.upload_file(str(path), conf.bucket, key, Config=transfer)
            keys.append(key)
        return f"{len(keys)} object(s) in s3://{conf.bucket}/{conf.prefix.strip('/')}"

    def _to_sftp(self, job: dict[str, Any], conf: DestinationConfig) -> str:
        import paramiko

        password = _secret(conf, conf.password_env, conf.password_file, "sftp password")
        client = paramiko.SSHClient()
        client.load_host_keys(str(conf.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(conf.host or "", port=conf.port or 22, username=conf.username, password=password,
                       key_filename=conf.key_file, allow_agent=False, look_for_keys=False, timeout=20)
        try:
            sftp = client.open_sftp()
            sent = 0
            for path, name in self._files(job):
                if path.is_dir():
                    continue
                remote = f"{conf.prefix.rstrip('/')}/{job['owner']}/{name}" if conf.prefix else f"{job['owner']}/{name}"
                _sftp_makedirs(sftp, remote.rsplit("/", 1)[0])
                temp = remote + ".delivering"
                sftp.put(str(path), temp)
                sftp.posix_rename(temp, remote)
                sent += 1
            sftp.close()
        finally:
            client.close()
        return f"{sent} file(s) sent to sftp://{conf.host}:{conf.port or 22}/{conf.prefix}"

    def _to_email(self, job: dict[str, Any], conf: DestinationConfig) -> str:
        summary = job_summary(job)
        files = [(p, n) for p, n in self._files(job) if p.is_file()]
        data_files = [(p, n) for p, n in files if not n.endswith(".manifest.json")]
        size = sum(p.stat().st_size for p, _ in data_files)
        message = EmailMessage()
        message["Subject"] = f"egress export {summary['name']} is ready ({summary['rows_done']:,} rows)"
        message["From"] = conf.sender or ""
        message["To"] = ", ".join(conf.to)
        lines = [f"Export job {summary['id']} of {summary['owner']} finished: {summary['rows_done']:,} rows, "
                 f"{summary['bytes']:,} bytes.", ""]
        for entry in summary["files"]:
            lines.append(f"  {entry['name']}  sha256 {entry['sha256']}")
        attach = size <= conf.attach_max_bytes
        links = self.app.links
        if not attach:
            lines += ["", "The files are larger than the attachment limit; download them here:"]
            if links is not None:
                lines += [f"  {links(job['owner'], n)}" for _, n in data_files]
            else:
                lines.append("  (no download server is running; the files are in the export area)")
        message.set_content("\n".join(lines) + "\n")
        if attach:
            for path, name in data_files:
                message.add_attachment(path.read_bytes(), maintype="application", subtype="octet-stream",
                                       filename=Path(name).name)
        password = _secret(conf, conf.password_env, conf.password_file, "smtp password")
        with smtplib.SMTP(conf.host or "", conf.port or 25, timeout=20) as smtp:
            if conf.starttls:
                smtp.starttls()
            if conf.username and password is not None:
                smtp.login(conf.username, password)
            smtp.send_message(message)
        return f"mailed to {len(conf.to)} recipient(s), " + ("files attached" if attach else "with download links")

    def _to_webhook(self, job: dict[str, Any], conf: DestinationConfig) -> str:
        body = json.dumps({"event": "export.succeeded", "job": job_summary(job)}).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "egress"}
        key = _secret(conf, conf.hmac_secret_env, None, "webhook HMAC key")
        if key is not None:
            headers["X-Egress-Signature"] = "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(conf.url or "", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=20) as answer:
            status = answer.status
        if not 200 <= status < 300:
            raise DeliveryError(f"the webhook answered HTTP {status}")
        return f"POST {conf.url} -> {status}"


def _sftp_makedirs(sftp: Any, folder: str) -> None:
    if not folder or folder in ("/", "."):
        return
    path = ""
    for part in folder.split("/"):
        if not part:
            path = "/"
            continue
        path = f"{path.rstrip('/')}/{part}" if path else part
        try:
            sftp.stat(path)
        except FileNotFoundError:
            sftp.mkdir(path)

"""Time-limited download links: HMAC-SHA256 over (user, file, expiry), served by gateway/http.py.

    /download/<user>/<file path>?expires=<unix seconds>&sig=<hex>

The key comes from http.secret_env, http.secret_file, or a random key kept (0600) in
home/link.key; it is never logged. Links name files inside one user's export area only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

from sql.errors import ConfigurationError


def signing_key(app: Any) -> bytes:
    conf = app.config.http
    source = str(app.config_path) if app.config_path else "the embedded default config"
    if conf.secret_env:
        value = os.environ.get(conf.secret_env)
        if not value:
            raise ConfigurationError(f"{source}: http.secret_env: ${conf.secret_env} is not set",
                                     hint="export the variable, or remove secret_env to use a generated key")
        return value.encode()
    path = Path(conf.secret_file) if conf.secret_file else app.home / "link.key"
    if not path.exists():
        if conf.secret_file:
            raise ConfigurationError(f"{source}: http.secret_file: {path} does not exist",
                                     hint="create it with a long random value, or remove secret_file")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _mac(key: bytes, user: str, name: str, expires: int) -> str:
    message = f"{user}\n{name}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, base_url: str, user: str, name: str, ttl_s: int, now: float | None = None) -> str:
    expires = int((now or time.time()) + ttl_s)
    path = "/download/" + urllib.parse.quote(user, safe="") + "/" + urllib.parse.quote(name)
    return f"{base_url.rstrip('/')}{path}?expires={expires}&sig={_mac(key, user, name, expires)}"


def check(key: bytes, user: str, name: str, expires: str, sig: str, now: float | None = None) -> str:
    """'ok', 'expired' or 'bad' (a forged or altered link)."""
    try:
        when = int(expires)
    except ValueError:
        return "bad"
    if not hmac.compare_digest(_mac(key, user, name, when), sig):
        return "bad"
    return "ok" if (now or time.time()) <= when else "expired"

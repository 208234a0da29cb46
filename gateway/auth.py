"""SCRAM-SHA-256 (RFC 5802 / 7677) for the wire protocol, server side.

Written by hand, on hashlib and hmac: scramp (which makes egress's stored verifiers) refuses an
empty user name in client-first-message, and libpq, pgjdbc, psycopg and asyncpg all send one
(`n,,n=,r=...`), since PostgreSQL takes the user from the startup packet. The exchange runs the
same way for unknown users (against a throwaway verifier), so a failure says nothing about
whether the user exists; both end in 28P01. No channel binding (SCRAM-SHA-256-PLUS) yet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

from service.passwords import Verifier, make_verifier
from sql.errors import InvalidPassword

MECHANISM = "SCRAM-SHA-256"
_DUMMY = Verifier.parse(make_verifier("egress-no-such-user"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _attributes(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise InvalidPassword("malformed SCRAM message")
        out[part[0]] = part[2:]
    return out


class ScramExchange:
    """One login: feed it the client's SASL messages, get back what to send."""

    def __init__(self, verifier: str | None) -> None:
        self.known = verifier is not None
        self.v = Verifier.parse(verifier) if verifier else _DUMMY
        self.client_first_bare = ""
        self.server_first = ""
        self.gs2_header = ""
        self.nonce = ""

    @staticmethod
    def parse_initial(data: bytes) -> tuple[str, bytes]:
        """SASLInitialResponse: mechanism name, then int32 length and the client-first message."""
        end = data.find(b"\x00")
        if end < 0 or len(data) < end + 5:
            raise InvalidPassword("malformed SASL initial response")
        mechanism = data[:end].decode("ascii", "replace")
        (size,) = struct.unpack_from("!i", data, end + 1)
        payload = data[end + 5:]
        if size != len(payload):
            raise InvalidPassword("malformed SASL initial response")
        return mechanism, payload

    def first(self, client_first: bytes) -> bytes:
        try:
            text = client_first.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPassword("malformed SCRAM message") from None
        parts = text.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y") or parts[1]:
            raise InvalidPassword("channel binding is not supported")
        self.gs2_header = parts[0] + "," + parts[1] + ","
        self.client_first_bare = parts[2]
        attrs = _attributes(self.client_first_bare)
        client_nonce = attrs.get("r", "")
        if not client_nonce:
            raise InvalidPassword("malformed SCRAM message")
        self.nonce = client_nonce + _b64(secrets.token_bytes(18))
        self.server_first = f"r={self.nonce},s={_b64(self.v.salt)},i={self.v.iterations}"
        return self.server_first.encode("utf-8")

    def final(self, client_final: bytes) -> bytes:
        try:
            text = client_final.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPassword("malformed SCRAM message") from None
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise InvalidPassword("malformed SCRAM message")
        attrs = _attributes(without_proof)
        if attrs.get("r") != self.nonce or attrs.get("c") != _b64(self.gs2_header.encode()):
            raise InvalidPassword("password authentication failed")
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode("utf-8")
        signature = hmac.new(self.v.stored_key, auth_message, hashlib.sha256).digest()
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise InvalidPassword("malformed SCRAM message") from None
        if len(proof) != len(signature):
            raise InvalidPassword("password authentication failed")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), self.v.stored_key)
        if not (ok and self.known):
            raise InvalidPassword("password authentication failed")
        server_signature = hmac.new(self.v.server_key, auth_message, hashlib.sha256).digest()
        return f"v={_b64(server_signature)}".encode("utf-8")

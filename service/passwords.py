"""SCRAM-SHA-256 verifiers in PostgreSQL's format, made and checked with scramp.

    SCRAM-SHA-256$<iterations>:<salt b64>$<StoredKey b64>:<ServerKey b64>
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass

from scramp import ScramMechanism

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096


@dataclass(frozen=True)
class Verifier:
    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    @classmethod
    def parse(cls, text: str) -> "Verifier":
        try:
            mech, rest = text.split("$", 1)
            iter_salt, keys = rest.split("$", 1)
            iterations, salt = iter_salt.split(":", 1)
            stored, server = keys.split(":", 1)
            if mech != MECHANISM:
                raise ValueError(mech)
            return cls(int(iterations), base64.b64decode(salt), base64.b64decode(stored),
                       base64.b64decode(server))
        except (ValueError, TypeError):
            raise ValueError("not a SCRAM-SHA-256 verifier") from None

    def auth_info(self) -> tuple[bytes, bytes, bytes, int]:
        """The tuple scramp's ScramServer wants for this user."""
        return self.salt, self.stored_key, self.server_key, self.iterations

    def __str__(self) -> str:
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        return f"{MECHANISM}${self.iterations}:{b64(self.salt)}${b64(self.stored_key)}:{b64(self.server_key)}"


def make_verifier(password: str, iterations: int = ITERATIONS) -> str:
    salt, stored, server, iters = ScramMechanism(MECHANISM).make_auth_info(password, iteration_count=iterations)
    return str(Verifier(iters, salt, stored, server))


def check_password(verifier: str, password: str) -> bool:
    """Recompute the keys from a plain password (used where the client sends one, e.g. Flight Basic)."""
    v = Verifier.parse(verifier)
    _, stored, server, _ = ScramMechanism(MECHANISM).make_auth_info(
        password, iteration_count=v.iterations, salt=v.salt
    )
    return hmac.compare_digest(stored, v.stored_key) and hmac.compare_digest(server, v.server_key)

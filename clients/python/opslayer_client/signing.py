"""Standard Webhooks signatures (https://www.standardwebhooks.com), with the standard library only,
so the agent client can verify what the deliverer signs without installing the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 5 * 60


class InvalidSignature(Exception):
    """The message was not signed with the secret, or is too old (a replay)."""


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` and base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return (
        "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    )


def signed_headers(
    secret: str, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a signed message; the id stays the same on every attempt."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature(secret, msg_id, ts, body),
    }


def signed_id(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[str, int, list[str]]:
    """What the headers claim (id, timestamp, signatures), refused when missing or outside the
    tolerance: checkable before reading a body. Raises InvalidSignature."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        offered = lowered["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise InvalidSignature("missing or malformed webhook-id/-timestamp/-signature") from exc
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > TOLERANCE_S:
        raise InvalidSignature("timestamp outside the 5-minute tolerance (a replay?)")
    return msg_id, timestamp, offered


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> str:
    """Check a message's signature and age; return its webhook-id. Raises InvalidSignature.

    A copy replayed within the tolerance verifies too: act once per webhook-id (the SDK's
    webhook keeps the ids it handled in a file, so a restart does not forget them)."""
    msg_id, timestamp, offered = signed_id(headers, now=now)
    expected = signature(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise InvalidSignature("no signature matches")
    return msg_id

"""Bot Framework tokens minted in the test against a local signing key, installed where
botbuilder looks for Microsoft's published keys: the real JWT validation runs on them."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from opslayer.adapters.teams.auth import signing_keys

ISSUER = "https://api.botframework.com"
APP_ID = "00000000-0000-4000-8000-00000000a99"
BOT_ID = f"28:{APP_ID}"
OUTBOUND_TOKEN = "outbound-token-for-tests"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "endorsements": ["msteams"]}


def new_key() -> SigningKey:
    return SigningKey(
        kid=uuid.uuid4().hex, private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


def install(*keys: SigningKey) -> None:
    """Make these the keys botbuilder trusts for Bot Connector tokens."""
    signing_keys().install([k.jwk() for k in keys])


def token(key: SigningKey, *, service_url: str, **claims: Any) -> str:
    """A Bot Connector token as Microsoft mints it; `claims` override (aud, iss, serviceurl…)."""
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": service_url,
        "nbf": now - 10,
        "iat": now - 10,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid})

"""Secrets kept at rest only encrypted: a key derived from ``MODERATION_SECRET_KEY`` (Fernet)."""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

WEBHOOK_SECRET_PREFIX = "whsec_"


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with this server key (the key changed?)."""


class SecretBox:
    """Encrypts and decrypts short secrets with a key derived from the server key."""

    def __init__(self, server_key: str, purpose: str = "webhook-secrets") -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()
        ).derive(server_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        """The encrypted, authenticated form of ``secret`` (safe to store)."""
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret back from its sealed form."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken as exc:
            raise SecretUnreadable(
                "the secret does not decrypt with MODERATION_SECRET_KEY"
            ) from exc


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")

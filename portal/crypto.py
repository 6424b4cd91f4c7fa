"""Encryption of tokens and secrets at rest with MultiFernet, so keys can rotate."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class TokenCipher:
    """Encrypts with the first key, decrypts with any; ``rotate`` re-encrypts with the first."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("TOKEN_ENCRYPTION_KEY holds no key")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        # Webhook intake decrypts the same hook secrets on every delivery: remember the
        # plaintext of recent ciphertexts (in this process's memory only, where it is anyway).
        self._decrypt_cached = lru_cache(maxsize=1024)(self._decrypt)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        return self._decrypt_cached(ciphertext)

    def _decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a stored secret cannot be decrypted with the configured keys"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        return self._fernet.rotate(ciphertext.encode()).decode()


def cipher() -> TokenCipher:
    """The current app's cipher (built once per app in create_app)."""
    return current_app.extensions["token_cipher"]


def encrypt(value: str | None) -> str | None:
    return None if value is None else cipher().encrypt(value)


def decrypt(value: str | None) -> str | None:
    return None if value is None else cipher().decrypt(value)

"""Tokens at rest: encrypted with MultiFernet, and rotatable by a command."""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import text

from portal.crypto import TokenCipher
from portal.extensions import db
from portal.models import Merchant


def test_access_token_is_stored_encrypted_and_read_back_in_clear(app):
    merchant = Merchant(store_hash="abc123")
    merchant.access_token = "planted-token-1234567890"
    db.session.add(merchant)
    db.session.commit()
    raw = db.session.execute(text("SELECT access_token_enc FROM merchants")).scalar_one()
    assert "planted-token" not in raw
    assert db.session.get(Merchant, merchant.id).access_token == "planted-token-1234567890"


def test_cipher_decrypts_with_an_old_key_and_rotates_to_the_new_one():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = TokenCipher(old).encrypt("secret")
    both = TokenCipher(f"{new},{old}")
    rotated = both.rotate(sealed)
    assert TokenCipher(new).decrypt(rotated) == "secret"


def test_rotate_keys_command_reencrypts_every_secret(app):
    old_key = app.config["TOKEN_ENCRYPTION_KEY"]
    merchant = Merchant(store_hash="rot1")
    merchant.access_token = "tok-a"
    merchant.bindo_token = "tok-b"
    db.session.add(merchant)
    db.session.commit()

    new_key = Fernet.generate_key().decode()
    app.extensions["token_cipher"] = TokenCipher(f"{new_key},{old_key}")
    try:
        result = app.test_cli_runner().invoke(args=["security", "rotate-keys"])
        assert "re-encrypted 2 secrets" in result.output
        db.session.expire_all()
        app.extensions["token_cipher"] = TokenCipher(new_key)  # the old key is now removable
        m = db.session.get(Merchant, merchant.id)
        assert (m.access_token, m.bindo_token) == ("tok-a", "tok-b")
    finally:
        app.extensions["token_cipher"] = TokenCipher(old_key)

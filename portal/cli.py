"""Command-line tools for support scripts: staff users, merchants, key rotation."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.crypto import cipher
from portal.extensions import db
from portal.models import SECRET_COLUMNS, Merchant, Role, StaffUser

staff_cli = AppGroup("staff", help="Staff users of the admin portal.")
merchants_cli = AppGroup("merchants", help="Merchants (BigCommerce stores).")
security_cli = AppGroup("security", help="Secrets at rest.")


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value)
@click.password_option("--password", prompt=True, confirmation_prompt=True)
def staff_create(email: str, role: str, password: str) -> None:
    """Create (or reset) a staff user; prompts for the password."""
    from portal.auth import hash_password

    if len(password) < 12:
        raise click.BadParameter("use at least 12 characters", param_hint="password")
    email = email.strip().lower()
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        user = StaffUser(email=email, password_hash="")
        db.session.add(user)
    user.password_hash = hash_password(password)
    user.role = role
    user.active = True
    db.session.commit()
    click.echo(f"staff user {email} ({role}) ready")


@merchants_cli.command("list")
def merchants_list() -> None:
    """One line per merchant: store hash, state, Bindo store, name."""
    for m in db.session.scalars(select(Merchant).order_by(Merchant.id)):
        click.echo(f"{m.store_hash}\t{m.state}\t{m.bindo_store_id or '-'}\t{m.store_name or ''}")


@security_cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first key of TOKEN_ENCRYPTION_KEY."""
    c = cipher()
    rows = 0
    for merchant in db.session.scalars(select(Merchant)):
        for column in SECRET_COLUMNS:
            value = getattr(merchant, column)
            if value:
                setattr(merchant, column, c.rotate(value))
                rows += 1
    db.session.commit()
    click.echo(f"re-encrypted {rows} secrets")


def register_cli(app: Flask) -> None:
    app.cli.add_command(staff_cli)
    app.cli.add_command(merchants_cli)
    app.cli.add_command(security_cli)

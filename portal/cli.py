"""Command-line tools for support scripts: staff users, merchants, key rotation."""

from __future__ import annotations

import getpass
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.crypto import cipher
from portal.extensions import db
from portal.models import SECRET_COLUMNS, JobRecord, Merchant, Role, StaffUser

staff_cli = AppGroup("staff", help="Staff users of the admin portal.")
merchants_cli = AppGroup("merchants", help="Merchants (BigCommerce stores).")
security_cli = AppGroup("security", help="Secrets at rest.")


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
def staff_create(email: str, role: str, password_stdin: bool) -> None:
    """Create (or reset) a staff user; prompts for the password.

    The password is never a command-line argument: those show in `ps` and shell history.
    """
    from portal.auth import password_problem, set_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem:
        raise click.BadParameter(problem, param_hint="password")
    email = email.strip().lower()
    user = db.session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        user = StaffUser(email=email, password_hash="")
        db.session.add(user)
    set_password(user, password)  # a reset also ends the user's open sessions
    user.role = role
    user.active = True
    db.session.commit()
    click.echo(f"staff user {email} ({role}) ready")


@merchants_cli.command("list")
def merchants_list() -> None:
    """One line per merchant: id (the admin URLs use it), store hash, state, Bindo store,
    name, and the manage page's path."""
    click.echo("id\tstore_hash\tstate\tbindo_store\tname\tmanage_page")
    for m in db.session.scalars(select(Merchant).order_by(Merchant.id)):
        click.echo(
            f"{m.id}\t{m.store_hash}\t{m.state}\t{m.bindo_store_id or '-'}\t"
            f"{m.store_name or ''}\t/admin/merchants/{m.id}/manage"
        )


def _merchant_or_fail(store_hash: str) -> Merchant:
    from portal.models import merchant_by_hash

    merchant = merchant_by_hash(store_hash.strip().lower())
    if merchant is None:
        raise click.ClickException(f"no merchant with store hash {store_hash}")
    return merchant


def _wait_for_job(job_id: str, seconds: float) -> JobRecord | None:
    """Poll the job's row (a worker runs it) until it ends or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db.session.expire_all()
        row = db.session.scalar(select(JobRecord).where(JobRecord.job_id == job_id))
        if row is not None and row.state in {"finished", "failed"}:
            return row
        time.sleep(0.5)
    return None


@merchants_cli.command("activate")
@click.argument("store_hash")
@click.option(
    "--wait", "wait_seconds", type=float, default=0.0, help="Wait for a worker to run it."
)
def merchants_activate(store_hash: str, wait_seconds: float) -> None:
    """Enqueue the activation (same as the admin button); needs a running worker."""
    from portal import lifecycle

    merchant = _merchant_or_fail(store_hash)
    blocker = lifecycle.activation_blocker(merchant)
    if blocker:
        raise click.ClickException(blocker)
    record = lifecycle.request_activation(merchant, f"cli:{getpass.getuser()}")
    click.echo(f"activation of {merchant.store_hash} queued as job {record.job_id}")
    if wait_seconds > 0:
        row = _wait_for_job(record.job_id, wait_seconds)
        if row is None:
            raise click.ClickException("the job did not finish in time (is a worker running?)")
        db.session.refresh(merchant)
        message = merchant.lifecycle_error or row.error or ""
        click.echo(f"job {row.state}; merchant {merchant.state}. {message}".strip())
        if row.state != "finished" or merchant.state != "active":
            raise SystemExit(1)


@merchants_cli.command("pause")
@click.argument("store_hash")
@click.option("--reason", required=True, help="shown to the merchant on the app page")
def merchants_pause(store_hash: str, reason: str) -> None:
    """Stop all sync for the store (workers skip it) until resumed."""
    from portal import lifecycle

    merchant = _merchant_or_fail(store_hash)
    try:
        lifecycle.pause(merchant, f"cli:{getpass.getuser()}", reason=reason)
    except lifecycle.LifecycleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{merchant.store_hash} paused")


@merchants_cli.command("resume")
@click.argument("store_hash")
def merchants_resume(store_hash: str) -> None:
    """Back to active, with a full sync to catch up."""
    from portal import lifecycle

    merchant = _merchant_or_fail(store_hash)
    try:
        run = lifecycle.resume(merchant, f"cli:{getpass.getuser()}")
    except lifecycle.LifecycleError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{merchant.store_hash} active again; full sync run {run.id} queued")


@merchants_cli.command("link")
@click.argument("store_hash")
@click.option("--bindo-store", "bindo_store", required=True, help="The Bindo store id.")
@click.option("--location", type=click.IntRange(min=1), help="The Bindo location sold online.")
@click.option(
    "--secrets-stdin",
    is_flag=True,
    help="Read the API token, then the webhook secret, one per line from standard input.",
)
def merchants_link(
    store_hash: str, bindo_store: str, location: int | None, secrets_stdin: bool
) -> None:
    """Save the Bindo link (as the manage page's form does; audited). The token and secret
    are prompted for (hidden) or read from stdin, never taken as arguments (those show in
    `ps` and shell history); blank keeps the saved ones."""
    from portal import lifecycle

    merchant = _merchant_or_fail(store_hash)
    if secrets_stdin:
        token, secret = (sys.stdin.readline().strip() for _ in range(2))
    else:
        token = click.prompt("Bindo API token (blank keeps it)", default="", hide_input=True)
        secret = click.prompt("Webhook secret (blank keeps it)", default="", hide_input=True)
    lifecycle.link_bindo(
        merchant,
        f"cli:{getpass.getuser()}",
        store_id=bindo_store.strip(),
        location_id=location,
        token=token.strip() or None,
        webhook_secret=secret.strip() or None,
    )
    click.echo(f"{merchant.store_hash} linked to Bindo store {merchant.bindo_store_id}")
    blocker = lifecycle.activation_blocker(merchant)
    if blocker:
        click.echo(f"Before activation: {blocker}")


@merchants_cli.command("reconcile")
@click.argument("store_hash")
def merchants_reconcile(store_hash: str) -> None:
    """Compare every linked product with BigCommerce now and restore Bindo's fields (the
    manage page's Reconcile button); needs a running worker."""
    from portal.admin.merchant_desk import request_reconcile

    merchant = _merchant_or_fail(store_hash)
    if not merchant.syncing:
        raise click.ClickException(
            f"only an active merchant can be reconciled (it is {merchant.state})"
        )
    record = request_reconcile(merchant, f"cli:{getpass.getuser()}")
    click.echo(f"reconciliation of {merchant.store_hash} queued as job {record.job_id}")


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
    from portal.probe import bigcommerce_cli

    app.cli.add_command(bigcommerce_cli)

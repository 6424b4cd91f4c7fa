"""``flask bigcommerce probe STORE_HASH``: a read-only look at a live store for go-live.

Only GET requests, with the stored token; the token is never printed. The report says what
the first real store answers for the things the simulator could only assume (docs/go-live.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from portal.models import Merchant, merchant_by_hash

bigcommerce_cli = AppGroup("bigcommerce", help="Read-only checks against live BigCommerce.")
RATE_HEADERS = (
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Time-Window-Ms",
    "X-Rate-Limit-Time-Reset-Ms",
)
TIMEOUT = 15


class Probe:
    """GETs against one store; remembers each answer's status and rate-limit headers."""

    def __init__(self, merchant: Merchant, token: str) -> None:
        self.base = (
            f"{current_app.config['BIGCOMMERCE_API_URL'].rstrip('/')}/stores/{merchant.store_hash}"
        )
        self.session = requests.Session()
        self.session.headers.update({"X-Auth-Token": token, "Accept": "application/json"})
        self.rate: dict[str, str] = {}

    def get(self, path: str, **params: Any) -> tuple[int | None, Any]:
        try:
            resp = self.session.get(
                self.base + path, params=params, timeout=TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as exc:
            return None, type(exc).__name__
        for name in RATE_HEADERS:
            if name in resp.headers:
                self.rate[name] = resp.headers[name]
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = resp.text[:200]
        return resp.status_code, body


def _data(body: Any) -> list[dict[str, Any]]:
    rows = body.get("data") if isinstance(body, dict) else body
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _section(
    probe: Probe, title: str, path: str, line: Callable[[dict[str, Any]], str], **params: Any
) -> None:
    status, body = probe.get(path, **params)
    click.echo(f"\n{title} (GET {path}: {status})")
    if status != 200:
        click.echo(f"  not readable: {body if isinstance(body, str) else status}")
        return
    rows = _data(body)
    for row in rows:
        click.echo(f"  {line(row)}")
    if not rows:
        click.echo("  none")


def run_probe(merchant: Merchant) -> None:
    token = merchant.access_token
    if not token:
        raise click.ClickException(f"{merchant.store_hash} has no stored token (not installed)")
    probe = Probe(merchant, token)
    click.echo(f"BigCommerce probe of {merchant.store_hash} (read-only)")
    click.echo(f"granted scopes: {merchant.scopes or '-'}")
    status, store = probe.get("/v2/store")
    click.echo(f"\nStore (GET /v2/store: {status})")
    if status == 200 and isinstance(store, dict):
        for key in ("name", "id", "domain", "plan_name", "weight_units", "currency"):
            click.echo(f"  {key}: {store.get(key)}")
        click.echo(
            f"  weight unit stored here: {merchant.weight_unit or '-'}"
            + ("" if store.get("weight_units") == merchant.weight_unit else "  <- differs")
        )
    _section(
        probe,
        "Category trees",
        "/v3/catalog/trees",
        lambda t: f"tree {t.get('id')} {t.get('name')!r} channels {t.get('channels')}",
    )
    _section(
        probe,
        "Inventory locations",
        "/v3/inventory/locations",
        lambda loc: (
            f"location {loc.get('id')} {loc.get('label')!r} enabled={loc.get('enabled')}"
            f" type={loc.get('type_id')}"
        ),
    )
    _section(
        probe,
        "Channels",
        "/v3/channels",
        lambda c: (
            f"channel {c.get('id')} {c.get('name')!r} {c.get('type')}/{c.get('platform')}"
            f" {c.get('status')}"
        ),
    )
    _section(
        probe,
        "Registered webhooks (this app's)",
        "/v3/hooks",
        lambda h: (
            f"hook {h.get('id')} {h.get('scope')} -> {h.get('destination')} "
            f"active={h.get('is_active')} header names={sorted((h.get('headers') or {}).keys())}"
        ),
    )
    click.echo(f"\nOur channels for new products: {merchant.bc_channel_ids or [1]}")
    click.echo(
        f"Webhook deliveries authenticated by: {merchant.webhook_auth_path or 'no delivery yet'}"
        f"; header names seen: {', '.join(merchant.webhook_header_names or []) or '-'}"
    )
    click.echo("\nRate-limit headers seen (last answer):")
    for name in RATE_HEADERS:
        click.echo(f"  {name}: {probe.rate.get(name, 'absent')}")


@bigcommerce_cli.command("probe")
@click.argument("store_hash")
def probe_command(store_hash: str) -> None:
    """Read-only report on a live store: store info and weight unit, category trees,
    locations, channels, registered hooks and the rate-limit headers seen."""
    merchant = merchant_by_hash(store_hash.strip().lower())
    if merchant is None:
        raise click.ClickException(f"no merchant with store hash {store_hash}")
    run_probe(merchant)

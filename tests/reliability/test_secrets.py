"""T38: secrets at rest and in logs, through real flows; key rotation re-encrypts everything.

Sentinel values are planted as the BigCommerce token, Bindo token, both webhook secrets, the
OAuth code, the callback JWTs and the app's client secret. Then the install, load, webhook
and order-import flows run (the import with a real worker process), and every captured log
line, every worker log file, every database row and every Redis key/value is searched.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from portal.crypto import TokenCipher
from portal.extensions import db
from portal.logs import install_redaction
from portal.models import SECRET_COLUMNS, ImportedOrder, Merchant
from tests.conftest import wait_for
from tests.orders.helpers import place_order, subscribe_orders
from tests.reliability.conftest import callback_jwt
from tests.stock.helpers import BINDO_LOCATION, bound_product
from tests.webhooks.conftest import bc_delivery, bc_payload, bindo_delivery, bindo_event

SENTINEL_BC = "sntlbctoken0a1b2c3d4e5f60718"
SENTINEL_BINDO = "sntlbindotoken9z8y7x6w5v"
SENTINEL_BINDO_HOOK = "sntlbindohooksecret1q2w3e"
SENTINEL_HOOK = "sntlhooksecret4r5t6y7u8i"


def dump_database() -> str:
    """Every row of every table as text."""
    out = []
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):
                out.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(out)


def dump_redis(conn) -> str:
    out = []
    for key in conn.scan_iter(count=500):
        kind = conn.type(key).decode()
        if kind == "string":
            value = conn.get(key)
        elif kind == "hash":
            value = conn.hgetall(key)
        elif kind == "list":
            value = conn.lrange(key, 0, -1)
        elif kind == "zset":
            value = conn.zrange(key, 0, -1)
        elif kind == "set":
            value = conn.smembers(key)
        else:
            value = b""
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


def hits(needles: list[str], haystack: str) -> list[str]:
    return [n[:12] + "..." for n in needles if n and n in haystack]


def test_no_secret_reaches_logs_database_or_redis_through_the_flows(
    stack, client, worker_process, redis_conn, caplog, tmp_path, monkeypatch
):
    app = stack.app
    # A production-like handler present when redaction is installed, as create_app does it.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    install_redaction()
    monkeypatch.setitem(app.config, "BIGCOMMERCE_SCOPES", stack.bc.config.scopes)
    needles = [
        SENTINEL_BC,
        SENTINEL_BINDO,
        SENTINEL_BINDO_HOOK,
        SENTINEL_HOOK,
        app.config["BIGCOMMERCE_CLIENT_SECRET"],
    ]
    try:
        # 1. Install (OAuth code exchange) and load (JWT) of a new store.
        stack.bc.create_store("sec1")
        install = urlparse(stack.bc.install_url("sec1"))
        needles.append(parse_qs(install.query)["code"][0])
        response = client.get(f"{install.path}?{install.query}")
        assert response.status_code == 303, response.get_data(as_text=True)[:300]
        needles.append(stack.bc.store("sec1").access_token)  # the token the exchange issued
        load_jwt = callback_jwt("sec1", user_id=stack.bc.store("sec1").owner_id)
        needles.append(load_jwt)
        assert (
            client.get(
                "/bigcommerce/load", query_string={"signed_payload_jwt": load_jwt}
            ).status_code
            == 303
        )
        replay = client.get("/bigcommerce/load", query_string={"signed_payload_jwt": load_jwt})
        assert replay.status_code == 401  # a refused JWT is logged too: still redacted

        # 2. A linked merchant whose secrets are the sentinels; webhooks both ways.
        m = stack.linked_merchant("sec2")
        stack.bc.store("sec2").access_token = SENTINEL_BC
        stack.bindo.set_token(m.bindo_store_id, SENTINEL_BINDO)
        m.access_token, m.bindo_token = SENTINEL_BC, SENTINEL_BINDO
        m.hook_secret, m.bindo_webhook_secret = SENTINEL_HOOK, SENTINEL_BINDO_HOOK
        db.session.commit()
        stack.bindo.store(m.bindo_store_id).webhook_secret = SENTINEL_BINDO_HOOK
        body, headers = bc_delivery(
            bc_payload("store/product/updated", "sec2"), hook_secret=SENTINEL_HOOK
        )
        assert client.post("/webhooks/bigcommerce", data=body, headers=headers).status_code == 200
        body, headers = bc_delivery(
            bc_payload(store_hash="sec2"), hook_secret="wrong-" + SENTINEL_HOOK
        )
        assert client.post("/webhooks/bigcommerce", data=body, headers=headers).status_code == 401
        event = bindo_event(store_id=m.bindo_store_id)
        body, headers = bindo_delivery(event, secret=SENTINEL_BINDO_HOOK)
        assert client.post(f"/webhooks/bindo/{m.id}", data=body, headers=headers).status_code == 200

        # 3. An order imported end to end by a real worker (BC webhook -> inbox -> RQ -> Bindo).
        subscribe_orders(stack, m, ("store/order/created",))
        product = bound_product(stack, m, stock={BINDO_LOCATION: 50})
        worker = worker_process("--no-ticker")
        place_order(stack, "sec2", [{"product_id": product.bc_product_id, "quantity": 1}])
        stack.bc.wait_deliveries(timeout=30)

        def imported() -> bool:
            db.session.expire_all()
            return (
                db.session.scalar(select(ImportedOrder).where(ImportedOrder.merchant_id == m.id))
                is not None
            )

        wait_for(imported, timeout=60, interval=0.3)
        # 4. A token revoked mid-run: the 401 path logs, too.
        stack.bc.revoke_token("sec2")
        place_order(stack, "sec2", [{"product_id": product.bc_product_id, "quantity": 1}])
        stack.bc.wait_deliveries(timeout=30)
        worker.stop()
    finally:
        root.removeHandler(handler)

    worker_logs = "\n".join(
        p.read_text(errors="replace") for p in Path(tmp_path).glob("worker*.log")
    )
    assert "Job OK" in worker_logs or "Successfully completed" in worker_logs, worker_logs[-2000:]
    assert not hits(needles, stream.getvalue()), "secret in the app's log output"
    assert not hits(needles, worker_logs), "secret in a worker log"
    database = dump_database()
    assert not hits(needles, database), "secret stored in clear in the database"
    assert not hits(needles, dump_redis(redis_conn)), "secret in Redis (job args must be ids)"
    raw = caplog.text
    print(
        f"\nT38: {len(needles)} sentinels; app log {len(stream.getvalue())} B, worker logs "
        f"{len(worker_logs)} B, DB dump {len(database)} B: 0 hits; unredacted caplog hits "
        f"(before any handler filter): {len(hits(needles, raw))}"
    )


def test_rotate_keys_reencrypts_every_secret_and_the_old_key_becomes_removable(app):
    old_key = app.config["TOKEN_ENCRYPTION_KEY"]
    merchants = []
    for n in range(25):
        m = Merchant(store_hash=f"rot{n}", state="active")
        m.access_token, m.bindo_token = f"bc-{n}", f"bindo-{n}"
        if n % 2:
            m.hook_secret, m.bindo_webhook_secret = f"hook-{n}", f"bhook-{n}"
        merchants.append(m)
    db.session.add_all(merchants)
    db.session.commit()
    before = {(m.id, c): getattr(m, c) for m in merchants for c in SECRET_COLUMNS if getattr(m, c)}
    new_key = Fernet.generate_key().decode()
    app.extensions["token_cipher"] = TokenCipher(f"{new_key},{old_key}")
    try:
        result = app.test_cli_runner().invoke(args=["security", "rotate-keys"])
        assert f"re-encrypted {len(before)} secrets" in result.output, result.output
        db.session.expire_all()
        only_new, only_old = TokenCipher(new_key), TokenCipher(old_key)
        rotated = 0
        for m in db.session.scalars(select(Merchant)):
            for column in SECRET_COLUMNS:
                stored = getattr(m, column)
                if not stored:
                    continue
                assert stored != before[(m.id, column)]
                only_new.decrypt(stored)  # readable without the old key
                try:
                    only_old.decrypt(stored)
                except ValueError:
                    rotated += 1
        assert rotated == len(before)
        app.extensions["token_cipher"] = only_new  # the old key removed from the config
        n = merchants[3]
        m = db.session.get(Merchant, n.id)
        assert (m.access_token, m.bindo_token, m.hook_secret) == ("bc-3", "bindo-3", "hook-3")
        print(f"\nT38 rotation: {rotated}/{len(before)} secrets re-encrypted (100 %)")
    finally:
        app.extensions["token_cipher"] = TokenCipher(old_key)


def test_tracebacks_are_redacted_like_messages():
    """An exception whose text carries a secret, logged with log.exception, is redacted too."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    install_redaction()
    try:
        try:
            raise RuntimeError(
                f"GET /load?signed_payload_jwt={callback_jwt('tb1')} token={SENTINEL_BC}"
            )
        except RuntimeError:
            logging.getLogger("portal.errors").exception("unhandled error")
    finally:
        root.removeHandler(handler)
    output = stream.getvalue()
    assert "RuntimeError" in output and "unhandled error" in output
    assert SENTINEL_BC not in output and "eyJ" not in output, output

"""Only the store owner, or a user the owner allows, changes settings on the app page."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.models import MerchantUser, merchant_by_hash
from tests.conftest import IsolatedClient, csrf_token
from tests.lifecycle.conftest import STORE, make_merchant, open_app

CHANGE = {"default_category_id": 0, "content_managed_by": "bigcommerce"}


def new_client(app) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def post_settings(client) -> int:
    page = client.get("/app").get_data(as_text=True)
    return client.post("/app", data={**CHANGE, "csrf_token": csrf_token(page)}).status_code


def owner_of() -> str:
    db.session.expire_all()
    return merchant_by_hash(STORE).content_managed_by


def test_a_user_who_is_not_the_owner_sees_settings_read_only_and_cannot_post(app, client):
    make_merchant()
    open_app(client, user_id=42)
    page = client.get("/app").get_data(as_text=True)
    assert 'id="settings-read-only"' in page
    assert "<fieldset disabled>" in page and "Save settings" not in page
    assert post_settings(client) == 403
    assert owner_of() == "bindo"


def test_the_owner_changes_settings(app, client):
    make_merchant()
    open_app(client, user_id=1)  # the owner (claims' owner id)
    assert "settings-read-only" not in client.get("/app").get_data(as_text=True)
    assert post_settings(client) == 303
    assert owner_of() == "bigcommerce"


def test_the_owner_can_allow_another_user_and_take_it_back(app, client):
    make_merchant()
    other = new_client(app)
    open_app(other, user_id=42)
    open_app(client, user_id=1)
    user = db.session.scalar(select(MerchantUser).where(MerchantUser.bc_user_id == 42))
    page = client.get("/app").get_data(as_text=True)
    assert 'id="settings-permissions"' in page
    token = csrf_token(page)
    url = f"/app/users/{user.id}/settings-permission"
    # The other user cannot grant themselves the right.
    own_token = csrf_token(other.get("/app").get_data(as_text=True))
    assert other.post(url, data={"allow": "1", "csrf_token": own_token}).status_code == 403
    assert client.post(url, data={"allow": "1", "csrf_token": token}).status_code == 303
    assert post_settings(other) == 303
    assert owner_of() == "bigcommerce"
    assert client.post(url, data={"allow": "0", "csrf_token": token}).status_code == 303
    assert post_settings(other) == 403

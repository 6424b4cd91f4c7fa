"""Every /admin route, walked from app.url_map: anonymous -> login, viewer reads but never
writes, CSRF on every POST, no secret in any page or export, merchant data escaped.

Generic on purpose: views other engineers add are covered without touching this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import url_for

from portal.extensions import db
from portal.models import SECRET_COLUMNS, JobRecord, Merchant, ProductBinding
from tests.admin.conftest import add_failed, add_merchant
from tests.conftest import csrf_token

READ_ONLY = {"GET"}
# Flask-Admin's own write endpoints and the flag that turns each on.
BUILTIN_WRITES = {
    "create_view": lambda v: v.can_create,
    "edit_view": lambda v: v.can_edit,
    "delete_view": lambda v: v.can_delete,
    "ajax_update": lambda v: bool(v.column_editable_list),
    "action_view": lambda v: bool(enabled_actions(v)),
}


def enabled_actions(view) -> list[str]:
    """Bulk actions a view offers at all (the built-in delete only when deleting is on)."""
    names = [name for name, _ in getattr(view, "_actions", None) or []]
    return [n for n in names if n != "delete" or view.can_delete]


XSS = "<script>alert(1)</script>"


@dataclass
class Route:
    endpoint: str
    url: str
    methods: frozenset[str]

    @property
    def view_name(self) -> str:
        return self.endpoint.rsplit(".", 1)[-1]

    @property
    def is_write(self) -> bool:
        return "POST" in self.methods or self.view_name in BUILTIN_WRITES

    @property
    def is_get(self) -> bool:
        return "GET" in self.methods


def dummy_value(name: str, converter: str) -> object:
    if name == "export_type":
        return "csv"
    return 1 if converter in {"IntegerConverter", "NumberConverter"} else "1"


def admin_routes(app) -> list[Route]:
    """Every /admin rule except static files, with dummy values for its converters."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/admin") or rule.endpoint.endswith("static"):
                continue
            values = {
                name: dummy_value(name, type(conv).__name__)
                for name, conv in rule._converters.items()
            }
            if rule.endpoint.rsplit(".", 1)[-1] in {"details_view", "edit_view"}:
                values["id"] = 1
            url = url_for(rule.endpoint, **values)
            methods = frozenset(rule.methods - {"HEAD", "OPTIONS"})
            routes.append(Route(rule.endpoint, url, methods))
    assert len(routes) > 10, "the admin should expose many routes"
    return routes


def admin_view_for(app, endpoint: str):
    prefix = endpoint.rsplit(".", 1)[0]
    for view in app.extensions["portal_admin"]._views:
        if view.endpoint == prefix:
            return view
    return None


def builtin_disabled(app, route: Route) -> bool:
    """A Flask-Admin write endpoint whose feature is off for everyone (it answers 403)."""
    flag = BUILTIN_WRITES.get(route.view_name)
    view = admin_view_for(app, route.endpoint)
    return flag is not None and view is not None and not flag(view)


def admin_only(app, route: Route) -> bool:
    """A view that even reading needs the admin role for (``required_role``)."""
    from portal.models import Role

    view = admin_view_for(app, route.endpoint)
    return getattr(view, "required_role", None) == Role.ADMIN


def goes_to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers.get("Location", "")


def token_of(client) -> str:
    return csrf_token(client.get("/login").get_data(as_text=True))


def post(client, url: str, token: str | None):
    data = {"csrf_token": token} if token else {}
    return client.post(url, data=data)


# -- anonymous --------------------------------------------------------------------------------


def test_every_admin_route_sends_anonymous_visitors_to_login(app, client, world):
    token = token_of(client)
    for route in admin_routes(app):
        response = client.get(route.url) if route.is_get else post(client, route.url, token)
        assert goes_to_login(response), f"{route.endpoint} {route.url}: {response.status_code}"


# -- viewer -----------------------------------------------------------------------------------


def test_viewer_reads_every_page_that_admins_read(app, as_role, world):
    viewer, admin = as_role("viewer"), as_role("admin")
    for route in admin_routes(app):
        if route.is_write or not route.is_get:
            continue
        seen = viewer.get(route.url)
        if admin_only(app, route):  # e.g. the queues page: refused below the admin role
            assert seen.status_code == 403, route.endpoint
            continue
        assert seen.status_code == admin.get(route.url).status_code, route.endpoint
        assert seen.status_code not in {401, 403, 500}, f"{route.endpoint}: {seen.status_code}"
        assert not goes_to_login(seen), route.endpoint
        if route.view_name == "index_view" or route.endpoint == "admin.index":
            assert seen.status_code == 200, route.endpoint


def test_viewer_is_refused_every_write_and_action(app, as_role, world):
    viewer = as_role("viewer")
    token = token_of(viewer)
    before = db.session.query(JobRecord).count()
    for route in admin_routes(app):
        if not route.is_write:
            continue
        if route.view_name == "action_view" and not builtin_disabled(app, route):
            for name in enabled_actions(admin_view_for(app, route.endpoint)):
                data = {"csrf_token": token, "action": name, "rowid": ["1"]}
                response = viewer.post(route.url, data=data)
                assert response.status_code == 403, f"{route.endpoint} {name}"
            continue
        if "POST" in route.methods:
            response = post(viewer, route.url, token)
        else:
            response = viewer.get(route.url)
        # Enabled writes need a higher role; disabled ones are refused to everyone (strict).
        assert response.status_code == 403, f"{route.endpoint}: {response.status_code}"
    assert db.session.query(JobRecord).count() == before, "a viewer request enqueued a job"


def test_disabled_builtin_writes_answer_403_even_to_admins(app, as_role, world):
    admin = as_role("admin")
    token = token_of(admin)
    disabled = [
        r
        for r in admin_routes(app)
        if r.view_name in {"create_view", "edit_view", "delete_view"} and builtin_disabled(app, r)
    ]
    assert len(disabled) >= 10, "most views are read-only"
    for route in disabled:
        response = (
            post(admin, route.url, token) if "POST" in route.methods else admin.get(route.url)
        )
        assert response.status_code == 403, f"{route.endpoint}: {response.status_code}"
        if route.is_get:
            assert admin.get(route.url).status_code == 403, route.endpoint


@pytest.mark.parametrize("endpoint", ["sync_errors", "alerts"])
def test_viewer_named_action_is_refused_with_403(as_role, world, endpoint):
    viewer = as_role("viewer")
    action = {"sync_errors": "retry", "alerts": "resolve"}[endpoint]
    response = viewer.post(
        f"/admin/{endpoint.replace('_', '-')}/action/",
        data={"csrf_token": token_of(viewer), "action": action, "rowid": ["1"]},
    )
    assert response.status_code == 403
    page = viewer.get(f"/admin/{endpoint.replace('_', '-')}/").get_data(as_text=True)
    assert f"modelActions.execute('{action}')" not in page


# -- support ----------------------------------------------------------------------------------


def test_support_may_use_every_sync_error_and_alert_action(as_role, world):
    support = as_role("support")
    token = token_of(support)
    merchant_id, binding_id = world["merchant"].id, world["binding"].id
    requests = [
        ("/admin/sync-errors/action/", {"action": "retry", "rowid": [str(binding_id)]}),
        (f"/admin/sync-errors/retry-merchant/{merchant_id}", {}),
        (f"/admin/sync-errors/link/{binding_id}", {"bc_product_id": "77"}),
        ("/admin/alerts/action/", {"action": "resolve", "rowid": [str(world["alert"].id)]}),
    ]
    for url, data in requests:
        response = support.post(url, data={"csrf_token": token, **data})
        assert response.status_code == 302, url
    # Both retries name the same single product, so the second coalesces into the first job.
    funcs = sorted(r.func for r in db.session.query(JobRecord))
    assert funcs == ["worker.jobs.catalog.link_product", "worker.jobs.catalog.retry_products"]


def test_support_reads_every_page(app, as_role, world):
    support = as_role("support")
    for route in admin_routes(app):
        if route.is_get and not route.is_write:
            expected = {403} if admin_only(app, route) else None
            status = support.get(route.url).status_code
            if expected:
                assert status in expected, route.endpoint
            else:
                assert status not in {401, 403, 500}, route.endpoint


# -- CSRF -------------------------------------------------------------------------------------


def test_every_admin_post_without_a_csrf_token_is_refused(app, as_role, world):
    admin = as_role("admin")
    for route in admin_routes(app):
        if "POST" in route.methods:
            response = post(admin, route.url, None)
            assert response.status_code == 400, f"{route.endpoint}: {response.status_code}"
    assert db.session.query(JobRecord).count() == 0


def test_retry_action_with_a_foreign_origin_token_free_post_is_refused(as_role, world):
    admin = as_role("admin")
    response = admin.post(
        "/admin/sync-errors/action/",
        data={"action": "retry", "rowid": ["1"]},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 400
    assert db.session.query(JobRecord).count() == 0


# -- secrets ----------------------------------------------------------------------------------


def plant_secrets(merchant: Merchant) -> list[str]:
    """Sentinel secrets set through the model's properties; returns every string to hunt for
    (the plaintexts and the stored ciphertexts)."""
    merchant.access_token = "SENTINEL-BC-ACCESS-TOKEN-7f3a"
    merchant.bindo_token = "SENTINEL-BINDO-TOKEN-91c2"
    merchant.bindo_webhook_secret = "SENTINEL-BINDO-WEBHOOK-SECRET-44d0"
    merchant.hook_secret = "SENTINEL-HOOK-SECRET-b81e"
    db.session.commit()
    stored = [getattr(merchant, column) for column in SECRET_COLUMNS]
    assert all(stored)
    return [
        "SENTINEL-BC-ACCESS-TOKEN-7f3a",
        "SENTINEL-BINDO-TOKEN-91c2",
        "SENTINEL-BINDO-WEBHOOK-SECRET-44d0",
        "SENTINEL-HOOK-SECRET-b81e",
        *stored,
    ]


def test_no_secret_appears_in_any_admin_page_or_export(app, as_role, world):
    needles = plant_secrets(world["merchant"])
    admin = as_role("admin")
    checked = 0
    for route in admin_routes(app):
        if not route.is_get:
            continue
        urls = [route.url]
        if route.view_name == "index_view":
            urls.append(route.url + "?search=SENTINEL")
        for url in urls:
            body = admin.get(url).get_data(as_text=True)
            checked += 1
            for needle in needles:
                assert needle not in body, f"secret leaked on {url}"
    assert checked > 10
    for column in SECRET_COLUMNS:
        name = column.replace("_", " ").title()
        for route in admin_routes(app):
            if route.view_name == "index_view":
                assert name not in admin.get(route.url).get_data(as_text=True), (column, route.url)


# -- XSS --------------------------------------------------------------------------------------


def test_merchant_and_product_names_are_escaped_in_every_admin_page(app, as_role, world):
    merchant = world["merchant"]
    merchant.store_name = XSS
    db.session.commit()
    other = add_merchant("store2", store_name=XSS)
    add_failed(
        other,
        202,
        name=XSS,
        sku=XSS,
        error_message=XSS,
        error_value=XSS,
        error_detail={"status": 422, "errors": {XSS: XSS}},
    )
    admin = as_role("admin")
    for route in admin_routes(app):
        if not route.is_get:
            continue
        response = admin.get(route.url)
        if response.mimetype != "text/html":
            continue  # CSV exports are attachments, not pages: raw values are right there
        assert XSS not in response.get_data(as_text=True), f"unescaped data on {route.url}"
    sync_errors = admin.get("/admin/sync-errors/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in sync_errors
    assert re.search(r"<script>\s*alert\(1\)", sync_errors) is None
    assert db.session.query(ProductBinding).count() == 2


@pytest.mark.parametrize("bad_id", ["2147483648", "99999999999999999999", "abc", "-1"])
def test_out_of_range_or_malformed_ids_never_reach_the_database(staff_client, bad_id):
    app = staff_client.application
    detail_urls = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin/") and rule.rule.endswith("/details/")
    )
    assert len(detail_urls) >= 5
    for url in detail_urls:
        response = staff_client.get(url, query_string={"id": bad_id})
        assert response.status_code in (302, 404), (url, response.status_code)

"""The Content-Security-Policy (no inline scripts without the nonce, https images) in a real
browser: the staff pages and the merchant app page load with no CSP violation, and the admin's
own scripts (filters, the run's live progress) still run."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import InstallNotification, SyncRun, utcnow
from tests.browser.conftest import staff_login
from tests.browser.test_merchant_iframe import control_panel, seed_status  # noqa: F401
from tests.conftest import make_staff

pytestmark = pytest.mark.browser


def watch_csp(page) -> list[str]:
    """Collects CSP violations reported by Chromium (console) and page errors."""
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"{page.url}: {msg.text}")
            if "Content Security Policy" in msg.text
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    return problems


def test_staff_pages_load_with_no_csp_violation_and_their_scripts_run(stack, page):
    merchant = stack.linked_merchant("store1")
    seed_status(merchant)
    run = SyncRun(
        merchant_id=merchant.id, kind="full", state="running", total=10, done=3,
        started_at=utcnow(),
    )  # fmt: skip
    note = InstallNotification(merchant_id=merchant.id, kind="install", message="installed")
    db.session.add_all([run, note])
    db.session.commit()
    make_staff(email="support@bindo.test", role="support")
    problems = watch_csp(page)
    staff_login(page, stack.portal_url, "support@bindo.test")
    for path in [
        "/admin/",
        "/admin/merchants/",
        f"/admin/merchants/{merchant.id}/manage",
        f"/admin/merchants/details/?id={merchant.id}",
        "/admin/notifications/",
        "/admin/orders/",
        "/admin/sync-errors/",
        "/admin/runs/",
        "/admin/alerts/",
        "/admin/audit/",
    ]:
        page.goto(f"{stack.portal_url}{path}")
        page.wait_for_load_state("load")
    # Flask-Admin's filter menu (jQuery, plus its onclick="return false;") still works.
    page.goto(f"{stack.portal_url}/admin/merchants/")
    page.click("text=Add Filter")
    page.locator("a.filter").first.click()
    expect(page.locator("#filter_form .filter-op, #filter_form select").first).to_be_visible()
    # A bulk action's menu item (an inline onclick, allowed by its hash) still submits.
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{stack.portal_url}/admin/notifications/")
    page.locator("input.action-checkbox").first.check()
    page.click("text=With selected")
    page.click("text=Mark handled")
    page.wait_for_load_state("load")
    db.session.expire_all()
    assert db.session.get(InstallNotification, note.id).handled_at is not None
    # The run page's live progress is an inline script with the nonce: it must run.
    page.goto(f"{stack.portal_url}/admin/runs/details/?id={run.id}")
    page.wait_for_load_state("networkidle")
    assert problems == []


def test_the_merchant_app_page_loads_with_no_csp_violation(stack, control_panel, page):  # noqa: F811
    merchant = stack.linked_merchant("store1")
    seed_status(merchant)
    problems = watch_csp(page)
    page.goto(f"{control_panel}/store/store1/app")
    app = page.frame_locator("#app")
    expect(app.locator("#connection-state")).to_be_visible()
    assert problems == []

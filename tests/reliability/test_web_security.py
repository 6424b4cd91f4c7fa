"""Web security scans over every route of app.url_map (RELIABILITY.md T34-T37, T39).

Complements tests/admin/test_security.py (admin routes anonymous/viewer/CSRF/secrets/XSS) and
tests/portal/test_auth.py (login basics): here every route of the whole app is walked, as an
anonymous visitor, as staff and as a merchant's iframe session.
"""

from __future__ import annotations

import html
import re
import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import create_app
from portal.extensions import db
from portal.models import LoginAttempt
from tests.conftest import base_config, csrf_token, login, make_staff
from tests.reliability.conftest import installed, open_app, size

HSTS_MIN = 31_536_000
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    endpoint: str
    url: str
    methods: frozenset[str]


def all_routes(app) -> list[Route]:
    """Every rule, with dummy converter values (ids 1, strings "1", files "x.css")."""
    routes = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            values = {}
            for name, conv in rule._converters.items():
                kind = type(conv).__name__
                if name == "filename":
                    values[name] = "x.css"
                elif name == "export_type":
                    values[name] = "csv"
                else:
                    values[name] = 1 if kind in {"IntegerConverter", "NumberConverter"} else "1"
            url = url_for(rule.endpoint, **values)
            routes.append(Route(rule.endpoint, url, frozenset(rule.methods - {"HEAD", "OPTIONS"})))
    assert len(routes) > 30
    return routes


def call(client, route: Route):
    if "GET" in route.methods:
        return client.get(route.url)
    method = sorted(route.methods)[0]
    return client.open(route.url, method=method, data={})


def check_headers(response, path: str) -> list[str]:
    problems = []
    h = response.headers
    hsts = re.search(r"max-age=(\d+)", h.get("Strict-Transport-Security", ""))
    if not hsts or int(hsts.group(1)) < HSTS_MIN:
        problems.append("HSTS")
    csp = h.get("Content-Security-Policy", "")
    scripts = re.search(r"script-src ([^;]+)", csp)
    if not scripts or "'unsafe-inline'" in scripts.group(1):
        problems.append("CSP script-src allows inline scripts")
    images = re.search(r"img-src ([^;]+)", csp)
    if not images or "http:" in images.group(1).split():
        problems.append("CSP img-src allows http images")
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp)
    if not ancestors:
        problems.append("CSP frame-ancestors")
    else:
        value = ancestors.group(1).strip()
        merchant = path.startswith("/app") or path.startswith("/bigcommerce")
        if merchant:
            origins = value.split()
            if not origins or any(
                not re.fullmatch(r"https://(\*\.)?(my)?bigcommerce\.com", o) for o in origins
            ):
                problems.append(f"frame-ancestors {value!r} on merchant page")
        elif value != "'none'":
            problems.append(f"frame-ancestors {value!r} (want 'none')")
    if h.get("X-Content-Type-Options") != "nosniff":
        problems.append("nosniff")
    if not h.get("Referrer-Policy"):
        problems.append("Referrer-Policy")
    return problems


def scan(client, app) -> int:
    seen = 0
    for route in all_routes(app):
        response = call(client, route)
        assert response.status_code < 500, f"{route.endpoint} {route.url}: {response.status_code}"
        problems = check_headers(response, route.url)
        assert not problems, f"{route.endpoint} {route.url} ({response.status_code}): {problems}"
        seen += 1
    return seen


# -- T37 headers on every route, three kinds of visitor --------------------------------------


def test_every_route_carries_the_security_headers_for_anonymous_visitors(app, client):
    installed("hdr1")
    print(f"\nT37 anonymous: {scan(client, app)} routes, 0 missing headers")


def test_every_route_carries_the_security_headers_for_staff(app, staff_client):
    installed("hdr1")
    print(f"\nT37 staff: {scan(staff_client, app)} routes, 0 missing headers")


def test_every_route_carries_the_security_headers_for_a_merchant_session(app, client):
    installed("hdr1")
    open_app(client, "hdr1")
    print(f"\nT37 merchant: {scan(client, app)} routes, 0 missing headers")


def test_error_pages_and_unknown_urls_carry_the_headers(app, client):
    for path in ("/nope", "/admin/nope", "/app/nope", "/bigcommerce/nope", "/webhooks/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert not check_headers(response, path), path


def cookie_attrs(response, name: str) -> dict[str, str | bool]:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            attrs: dict[str, str | bool] = {}
            for part in header.split(";")[1:]:
                key, _, value = part.strip().partition("=")
                attrs[key.lower()] = value or True
            return attrs
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def test_staff_cookie_is_httponly_lax_and_iframe_cookie_is_none_secure_partitioned(app, client):
    make_staff()
    staff = cookie_attrs(login(client), "bindo_session")
    assert staff.get("httponly") is True and staff.get("samesite") == "Lax"
    installed("ck1")
    merchant = cookie_attrs(open_app(client, "ck1"), "bc_app_session")
    assert merchant.get("httponly") is True
    assert merchant.get("samesite") == "None"
    assert merchant.get("secure") is True and merchant.get("partitioned") is True


def test_production_config_marks_the_staff_cookie_secure(database_url):
    cfg = base_config(database_url, APP_ENV="production", TESTING=False)
    prod = create_app(cfg)
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["REMEMBER_COOKIE_SECURE"] is True
    assert prod.config["DEBUG"] is False
    with prod.test_request_context("/login"):
        assert prod.session_interface.get_cookie_secure(prod) is True
        assert prod.session_interface.get_cookie_samesite(prod) == "Lax"
    with prod.test_request_context("/app"):
        assert prod.session_interface.get_cookie_partitioned(prod) is True


# -- T34 as merchant: an iframe session opens nothing under /admin ----------------------------


def test_a_merchant_app_session_gets_no_admin_page(app, client):
    installed("adm1")
    open_app(client, "adm1")
    token = csrf_token(client.get("/login").get_data(as_text=True))
    checked = 0
    for route in all_routes(app):
        if not route.url.startswith("/admin") or route.endpoint.endswith("static"):
            continue
        if "GET" in route.methods:
            response = client.get(route.url)
        else:
            response = client.post(route.url, data={"csrf_token": token})
        location = response.headers.get("Location", "")
        assert response.status_code in {302, 400} and (
            response.status_code == 400 or "/login" in location
        ), f"{route.url}: {response.status_code} {location}"
        checked += 1
    print(f"\nT34 merchant session: {checked} /admin routes, all sent to login")


# -- T35 CSRF beyond /admin, and exempt routes are signature-gated ----------------------------

EXEMPT_PREFIXES = ("/webhooks/", "/bigcommerce/")


def test_every_cookie_authenticated_post_needs_a_csrf_token(app, client):
    make_staff()
    login(client)
    installed("csrf1")
    open_app(client, "csrf1")
    posts = [
        r
        for r in all_routes(app)
        if r.methods & {"POST", "PUT", "PATCH", "DELETE"} and not r.url.startswith(EXEMPT_PREFIXES)
    ]
    for route in posts:
        for method in sorted(route.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            response = client.open(
                route.url, method=method, data={}, headers={"Origin": "https://evil.example"}
            )
            assert response.status_code == 400, f"{method} {route.url}: {response.status_code}"
    print(f"\nT35: {len(posts)} cookie-authenticated write routes refuse token-less POSTs")


def test_csrf_exempt_routes_still_refuse_unsigned_requests(app, client):
    installed("csrf2")
    exempt = [r for r in all_routes(app) if r.url.startswith(EXEMPT_PREFIXES)]
    assert exempt
    for route in exempt:
        response = call(client, route)
        assert response.status_code in {400, 401, 403, 405}, f"{route.url}: {response.status_code}"


# -- T36 login brute force ---------------------------------------------------------------------


def attempt(client, email: str, password: str = "wrong password", ip: str = "10.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_one_account_is_locked_after_ten_failures_even_from_rotating_ips(app, client):
    make_staff()
    statuses = [
        attempt(client, "admin@bindo.test", ip=f"10.1.0.{n}").status_code for n in range(15)
    ]
    assert statuses[:10] == [200] * 10 and statuses[10:] == [429] * 5
    # Even the right password is refused while the account is throttled.
    right = attempt(client, "admin@bindo.test", "correct horse battery", ip="10.2.0.1")
    assert right.status_code == 429
    assert "Try again" in right.get_data(as_text=True)


def test_one_ip_spraying_many_accounts_is_throttled(app, client):
    """100 failures from one address: 30 (3 x the account limit) go through, the rest 429."""
    n = size(40, 100)
    statuses = [attempt(client, f"user{i}@bindo.test", ip="10.9.9.9").status_code for i in range(n)]
    assert statuses.count(200) == 30 and statuses[30:] == [429] * (n - 30)


def test_fifty_accounts_three_tries_each_from_rotating_ips_are_not_locked_out(app, client):
    """Below the limit nothing is throttled (no lockout of innocent accounts by a spray)."""
    accounts = size(10, 50)
    for i in range(accounts):
        make_staff(email=f"s{i}@bindo.test")
    statuses = [
        attempt(client, f"s{i}@bindo.test", ip=f"10.3.{i}.{k}").status_code
        for i in range(accounts)
        for k in range(3)
    ]
    assert set(statuses) == {200}
    assert (
        attempt(client, "s0@bindo.test", "correct horse battery", ip="10.4.0.1").status_code == 302
    )
    assert db.session.query(LoginAttempt).count() == accounts * 3 + 1


def measure(client, email: str, ghost_prefix: str, rounds: int, bodies: set[str]) -> float:
    """Median(known) - median(unknown) in ms, interleaved so load hits both alike."""
    known, unknown = [], []
    for k in range(rounds):  # under the 10-per-account limit for every account
        for address, times in ((email, known), (f"{ghost_prefix}{k}@bindo.test", unknown)):
            ip = f"10.5.{len(bodies) % 250}.{k}"
            page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
            token = csrf_token(page.get_data(as_text=True))
            started = time.perf_counter()
            response = client.post(
                "/login",
                data={"email": address, "password": "wrong", "csrf_token": token},
                environ_base={"REMOTE_ADDR": ip},
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
            body = response.get_data(as_text=True)
            bodies.add(re.sub(r'value="[^"]*"', "", body).replace(address, "EMAIL"))
    print(
        f"\nT36 timing: existing {statistics.median(known) * 1000:.1f} ms, "
        f"unknown {statistics.median(unknown) * 1000:.1f} ms"
    )
    return abs(statistics.median(known) - statistics.median(unknown)) * 1000


@pytest.mark.real_password_hashing  # the cost of the check is what the two paths must share
def test_unknown_account_and_wrong_password_are_indistinguishable(app, client):
    """Same body; timing delta < 50 ms (RELIABILITY.md T36). CPU contention from other
    processes only adds noise, so up to 3 measurements are taken and the best one counts."""
    deltas = []
    bodies: set[str] = set()
    for attempt_no in range(3):
        make_staff(email=f"timing{attempt_no}@bindo.test")
        deltas.append(
            measure(client, f"timing{attempt_no}@bindo.test", f"ghost{attempt_no}-", 9, bodies)
        )
        if deltas[-1] < 50:
            break
    assert len(bodies) == 1, "the answer reveals whether the account exists"
    print(f"T36 timing deltas (ms): {[round(d, 1) for d in deltas]}")
    assert min(deltas) < 50


# -- T39 open redirects through next= and Flask-Admin's url= ----------------------------------

EVIL = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " //evil.example",
    "\t//evil.example",
    "/%2F%2Fevil.example",
    "http:evil.example",
    "data:text/html,x",
    "/\t/evil.example",
    "//evil.example@localhost",
    "https:/\\evil.example",
]


def offsite(location: str) -> bool:
    target = urlparse(location.strip())
    return bool(target.netloc and target.netloc != "localhost") or target.scheme not in {
        "",
        "http",
        "https",
    }


@pytest.mark.parametrize("target", EVIL)
def test_login_next_never_redirects_off_site(app, client, target):
    make_staff()
    page = client.get("/login", query_string={"next": target})
    token = csrf_token(page.get_data(as_text=True))
    response = client.post(
        "/login",
        query_string={"next": target},
        data={
            "email": "admin@bindo.test",
            "password": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert not offsite(response.headers["Location"]), response.headers["Location"]


@settings(
    max_examples=size(300, 3000),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    target=st.one_of(
        st.text(max_size=40),
        st.from_regex(
            r"\A[ \t\\/]{0,4}(https?:|javascript:|data:)?[\\/]{0,4}evil\.example[/?#@]?\Z"
        ),
    )
)
def test_safe_next_only_returns_same_site_paths(app, target):
    from portal.security import safe_next

    with app.test_request_context("/login", base_url="http://localhost"):
        result = safe_next(target, "/admin/")
    assert result == "/admin/" or (result.startswith("/") and not result.startswith("//"))
    assert not offsite(result), (target, result)
    # What a browser would do with it: urljoin + strip of leading whitespace/tabs
    assert "evil.example" not in urlparse("http://localhost" + result).netloc


def test_flask_admin_url_parameter_never_redirects_off_site(app, staff_client):
    from tests.admin.conftest import add_merchant

    add_merchant("redir1")
    token = csrf_token(staff_client.get("/login").get_data(as_text=True))
    checked = 0
    for route in all_routes(app):
        if not route.url.startswith("/admin") or "POST" not in route.methods:
            continue
        for target in EVIL:
            response = staff_client.post(
                route.url,
                query_string={"url": target},
                data={"csrf_token": token, "url": target, "rowid": "1", "id": "1"},
            )
            location = response.headers.get("Location", "")
            assert not offsite(location), f"{route.url} url={target!r} -> {location}"
            checked += 1
    for target in EVIL:
        for path in ("/admin/merchants/details/", "/admin/merchants/"):
            body = staff_client.get(path, query_string={"id": 1, "url": target}).get_data(
                as_text=True
            )
            hrefs = re.findall(r'href="([^"]*)"', body)
            bad = [
                h
                for h in hrefs
                if offsite(html.unescape(h)) and "evil" in h or "alert(1)" in h.split("?")[0]
            ]
            assert not bad, (path, target, bad)
    print(f"\nT39: {checked} admin POSTs with hostile url=, 0 off-site redirects")


def inline_scripts_carry_the_nonce(response) -> list[str]:
    """Problems: an inline script without this response's nonce, or a CSP without a nonce."""
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    if inline and not nonce:
        return ["inline scripts but no nonce in the CSP"]
    return [attrs for attrs in inline if f'nonce="{nonce.group(1)}"' not in attrs]


def test_admin_and_app_pages_use_a_fresh_nonce_for_their_inline_scripts(app, staff_client):
    from portal.models import SyncRun

    merchant = installed("csp1")
    run = SyncRun(merchant_id=merchant.id, kind="full", state="running", total=1, done=0)
    db.session.add(run)
    db.session.commit()
    pages = ["/admin/", "/admin/merchants/", f"/admin/runs/details/?id={run.id}"]
    nonces = set()
    for path in pages:
        response = staff_client.get(path)
        assert response.status_code == 200, path
        assert inline_scripts_carry_the_nonce(response) == [], path
        csp = response.headers["Content-Security-Policy"]
        nonces.add(re.search(r"'nonce-([^']+)'", csp).group(1))
    assert len(nonces) == len(pages)  # one per response, never reused
    # The run page's live progress is an inline script: it must be there, with the nonce.
    assert "<script nonce=" in staff_client.get(pages[-1]).get_data(as_text=True)

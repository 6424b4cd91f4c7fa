"""Crafted list parameters on every admin list view: a 4xx or a page, never a 500.

The views come from the app's Flask-Admin instance, so a view another engineer adds is fuzzed
without touching this file. Run it on PostgreSQL too (TEST_DATABASE_URL): that is where NUL
bytes and integers out of range fail inside the database.
"""

from __future__ import annotations

import pytest
from flask import url_for
from flask_admin.model import BaseModelView

from tests.admin.conftest import add_failed

NASTY_INTS = ["-1", "-999999999999", "999999999999", "99999999999999999999999", "abc", "1e308"]
NASTY_TEXT = [
    "999999999999",
    "-99999999999999999999999",
    "abc\x00def",
    "%_\\'\"",
    "9999-12-31 23:59:59 to 9999-12-31 23:59:59",
    "x" * 600,
]


def list_views(app) -> list[BaseModelView]:
    return [v for v in app.extensions["portal_admin"]._views if isinstance(v, BaseModelView)]


def crafted_queries(view) -> list[dict[str, str]]:
    queries: list[dict[str, str]] = []
    for index in [*range(len(view.get_list_columns()) + 2), *NASTY_INTS]:
        queries.append({"sort": str(index), "desc": "1"})
    for value in NASTY_INTS:
        queries.append({"page": value})
        queries.append({"page_size": value})
    if view.column_searchable_list:
        for value in NASTY_TEXT:
            queries.append({"search": value})
    for index, flt in enumerate(view.get_filters() or []):
        arg = view.get_filter_arg(index, flt)
        for value in NASTY_TEXT:
            queries.append({f"flt0_{arg}": value})
    return queries


def test_every_list_view_is_fuzzed(app):
    # The generator must see the views (a guard against an empty parametrisation).
    assert len(list_views(app)) >= 7
    assert all(crafted_queries(v) for v in list_views(app))


@pytest.mark.parametrize("role", ["viewer"])
def test_crafted_list_parameters_never_answer_500(app, as_role, world, role):
    add_failed(world["merchant"], 102, error_value="x\u00e9")
    client = as_role(role)
    failures = []
    for view in list_views(app):
        with app.test_request_context():
            url = url_for(f"{view.endpoint}.index_view")
        for query in crafted_queries(view):
            response = client.get(url, query_string=query)
            if response.status_code >= 500 or response.status_code == 403:
                failures.append((view.endpoint, query, response.status_code))
    assert failures == []


def test_nul_in_search_is_refused_before_the_database(app, as_role, world):
    client = as_role("viewer")
    assert client.get("/admin/merchants/", query_string={"search": "a\x00"}).status_code == 400


def test_negative_page_lists_the_first_page(app, as_role, world):
    client = as_role("viewer")
    response = client.get("/admin/merchants/", query_string={"page": "-1"})
    assert response.status_code == 200
    assert "store1" in response.get_data(as_text=True)

"""Merchants in the staff admin."""

from __future__ import annotations

from portal.admin.base import SecureModelView


class MerchantView(SecureModelView):
    column_list = (
        "store_hash",
        "store_name",
        "state",
        "owner_email",
        "bindo_store_id",
        "installed_at",
        "activated_at",
    )
    column_searchable_list = ("store_hash", "store_name", "owner_email", "bindo_store_id")
    column_filters = ("state", "content_managed_by")
    column_default_sort = ("installed_at", True)

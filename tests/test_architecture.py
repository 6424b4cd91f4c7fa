"""The import rules of docs/architecture.md, enforced by walking every module's imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


def test_shared_mapping_imports_only_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"shared"}
    for path in modules("shared/mapping"):
        bad = {n for n in imports_of(path) if top(n) not in allowed}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        assert not {
            n
            for n in imports_of(path)
            if n.startswith("shared.") and not n.startswith("shared.mapping")
        }


def test_portal_never_imports_worker():
    for path in modules("portal"):
        bad = {n for n in imports_of(path) if top(n) == "worker"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_worker_clients_never_import_portal_or_flask():
    for path in modules("worker/clients"):
        bad = {
            n
            for n in imports_of(path)
            if top(n) in {"portal", "flask", "flask_sqlalchemy", "sqlalchemy"}
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_sandbox_is_independent_of_our_code():
    for path in modules("sandbox"):
        bad = {n for n in imports_of(path) if top(n) in {"portal", "worker", "shared"}}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("package", ["portal", "worker", "shared"])
def test_every_module_has_a_docstring(package):
    for path in modules(package):
        if path.name == "__init__.py" and not path.read_text().strip():
            continue
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.relative_to(ROOT)} has no module docstring"


def test_rule_checker_catches_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import requests\nfrom portal.models import Merchant\n")
    assert {"requests", "portal.models"} <= imports_of(bad)


def test_every_job_path_the_portal_enqueues_exists_in_the_worker():
    """The portal enqueues by dotted path; a typo would only fail at run time in a worker."""
    import importlib
    import re

    paths: set[str] = set()
    for path in modules("portal"):
        paths.update(
            re.findall(r"[\"'](worker\.jobs\.[a-z_]+(?:\.[a-z_]+)*)[\"']", path.read_text())
        )
    assert paths, "the portal enqueues no job at all?"
    for dotted in sorted(paths):
        module_name, func_name = dotted.rsplit(".", 1)
        module = importlib.import_module(module_name)
        func = getattr(module, func_name, None)
        assert callable(func), f"{dotted} is enqueued by the portal but does not exist"

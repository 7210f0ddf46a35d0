"""scripts/check_imports.py: it finds circles and wrong-way imports, and the package has neither."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
assert _spec and _spec.loader
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)


def test_a_circle_of_three_is_one_circle():
    assert check.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_a_port_importing_the_domain_is_the_wrong_way():
    edges = {"wa_addon.phones": {"wa_addon.commands.grammar"}, "wa_addon.commands.grammar": {"wa_addon.phones"}}
    assert check.wrong_way(edges, check.FORBIDDEN) == [
        "wa_addon.phones -> wa_addon.commands.grammar  (wa_addon.phones may not import wa_addon.commands)"
    ]


def test_the_package_has_no_circle_and_no_wrong_way_import():
    edges = check.graph(ROOT / "wa_addon")
    assert check.circles(edges) == [] and check.wrong_way(edges, check.FORBIDDEN) == []

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


def test_a_command_asking_the_runtime_is_the_wrong_way(tmp_path):
    pkg = tmp_path / "wa_addon"
    (pkg / "commands").mkdir(parents=True)
    for name in ("__init__.py", "runtime.py", "commands/__init__.py"):
        (pkg / name).write_text("")
    (pkg / "commands" / "typed.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from wa_addon.runtime import Runtime\n"
    )
    (pkg / "commands" / "asks.py").write_text("def f():\n    from wa_addon import runtime\n")
    assert check.wrong_way(check.graph(pkg), check.FORBIDDEN) == [
        "wa_addon.commands.asks -> wa_addon.runtime  (wa_addon.commands may not import wa_addon.runtime)"
    ]

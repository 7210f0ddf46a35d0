"""The conformance suite: the sandbox passes it, and it catches hosts that break the contract."""

from __future__ import annotations

import uuid

import pytest
from helpers import without_summary

from wa_addon.host.conformance import CheckResult, format_report, run_checks
from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
from wa_addon.testing.wsgi_server import WSGIServerThread

KEY = "conformance-key"


@pytest.fixture
def sandbox_app(tmp_path):
    db = SandboxDB(str(tmp_path / "host.sqlite3"), kdf_cost=4)
    seed(db)
    yield create_sandbox_app(db, KEY)
    db.close()


def failed(results: list[CheckResult]) -> list[str]:
    return [r.name for r in results if not r.ok]


def test_sandbox_passes_every_check(sandbox_app):
    with WSGIServerThread(sandbox_app) as url:
        results = run_checks(url, KEY)
    assert failed(results) == [], format_report(results)
    assert len(results) >= 18


def test_checks_can_run_twice_on_the_same_host(sandbox_app):
    with WSGIServerThread(sandbox_app) as url:
        assert failed(run_checks(url, KEY)) == []
        assert failed(run_checks(url, KEY)) == []


def test_wrong_key_fails_without_crashing(sandbox_app):
    with WSGIServerThread(sandbox_app) as url:
        results = run_checks(url, "not-the-key")
    assert "auth: the given key is accepted" in failed(results)
    assert all("not run" in r.detail for r in results if r.name.startswith(("subtree", "requests")))


def test_unreachable_host_fails_every_check():
    with WSGIServerThread(lambda e, s: []) as url:
        pass  # the server is gone: the port refuses connections
    results = run_checks(url, KEY, timeout=2)
    assert results and not any(r.ok for r in results)
    assert "unreachable" in results[0].detail


def _forgetful(app):
    """A host that ignores Idempotency-Key: every call looks new."""

    def wrapped(environ, start_response):
        if "HTTP_IDEMPOTENCY_KEY" in environ:
            environ["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
        return app(environ, start_response)

    return wrapped


def test_a_host_without_idempotency_fails_those_checks(sandbox_app):
    with WSGIServerThread(_forgetful(sandbox_app)) as url:
        bad = failed(run_checks(url, KEY))
    assert "idempotency: the same key twice makes one payment" in bad
    assert "idempotency: the same key with another body is 409 idempotency_conflict" in bad
    assert "balance requests: approved once; the same key replays the same answer" in bad
    assert not any(name.startswith("subtree") for name in bad)


def _leaky(app):
    """A host that forgets the subtree rule on reads: a GET ignores the acting reseller."""

    def wrapped(environ, start_response):
        if environ["REQUEST_METHOD"] == "GET":
            environ.pop("HTTP_X_ACTING_RESELLER", None)
        return app(environ, start_response)

    return wrapped


def test_a_host_without_subtree_rules_fails_those_checks(sandbox_app):
    with WSGIServerThread(_leaky(sandbox_app)) as url:
        bad = failed(run_checks(url, KEY))
    assert bad == [
        "subtree: a retailer cannot read outside its subtree",
        "subtree: a retailer cannot read or act on its parent's request",
    ]


def test_format_report():
    report = format_report([CheckResult("a", True, "ok"), CheckResult("bb", False, "GET /x: expected 200, got 500")])
    lines = report.splitlines()
    assert lines[0] == "PASS  a   ok"
    assert lines[1] == "FAIL  bb  GET /x: expected 200, got 500"
    assert lines[-1] == "2 checks, 1 passed, 1 failed"


def test_the_summary_check_is_optional_but_checks_the_shape_when_offered(sandbox_app):
    with WSGIServerThread(sandbox_app) as url:
        offered = next(r for r in run_checks(url, KEY) if r.name.startswith("summary"))
    assert offered.ok and "resellers" in offered.detail

    with WSGIServerThread(without_summary(sandbox_app)) as url:
        absent = next(r for r in run_checks(url, KEY) if r.name.startswith("summary"))
    assert absent.ok and "not offered" in absent.detail

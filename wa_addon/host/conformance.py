"""The conformance suite behind ``wa-addon check-host URL --key K``.

It runs against any host that claims the REST contract (openapi.yaml) with
the admin key, and provisions its own data through the API: a dealer and a
retailer under it, an outsider dealer, minted balance and a few requests.
Run it against a staging host: it creates resellers (phones ``88010…``, a
range no operator assigns, so nobody real is messaged), mints small amounts
and places requests that it then cancels, fails or completes itself.  At the
end it suspends what it created.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import requests

from wa_addon.host import conformance_checks  # noqa: F401  (registers the checks)
from wa_addon.host.conformance_kit import CHECKS, CheckFailed, Client, Suite

__all__ = ["CheckResult", "format_report", "run_checks"]


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str = ""


def run_checks(
    base_url: str, key: str, *, session: requests.Session | None = None, timeout: float = 10
) -> list[CheckResult]:
    """Run every check against the host at ``base_url`` with the admin ``key``.

    Args:
        base_url: the host's root URL (``/api/v1`` is appended), or its API URL ending in ``/api/v1``.
        key: the host's admin API key.
        session: a ``requests.Session`` to use.
        timeout: seconds per HTTP call.

    Returns:
        One :class:`CheckResult` per check, in order.
    """
    client = Client(base_url, key, session or requests.Session(), timeout)
    suite = Suite(client, run_id=uuid.uuid4().hex[:8])
    return [_run_one(suite, name, fn, needs_setup) for name, fn, needs_setup in CHECKS]


def _run_one(suite: Suite, name: str, fn: Callable[[Suite], str | None], needs_setup: bool) -> CheckResult:
    if needs_setup and not suite.ready:
        return CheckResult(name, False, "not run: provisioning failed")
    try:
        return CheckResult(name, True, fn(suite) or "ok")
    except CheckFailed as exc:
        return CheckResult(name, False, str(exc))
    except requests.RequestException as exc:
        return CheckResult(name, False, f"host unreachable ({type(exc).__name__})")
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        return CheckResult(name, False, f"unexpected answer shape ({type(exc).__name__}: {_short(exc)})")


def format_report(results: list[CheckResult]) -> str:
    """A plain-text report: one line per check, then the totals."""
    width = max((len(r.name) for r in results), default=0)
    lines = [f"{'PASS' if r.ok else 'FAIL'}  {r.name.ljust(width)}  {r.detail}" for r in results]
    failed = sum(not r.ok for r in results)
    lines.append(f"{len(results)} checks, {len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


def _short(exc: BaseException) -> str:
    return re.sub(r"\s+", " ", str(exc))[:120]

"""The sandbox host as a WSGI app for gunicorn (gthread: keep-alive), with an optional latency.

``BENCH_HOST_DB`` (a seeded SQLite file), ``BENCH_HOST_KEY``, ``BENCH_HOST_LATENCY_MS``
(a PHP panel answers in 50-300 ms; 0 = as fast as the sandbox goes).
"""

from __future__ import annotations

import os
import time
from typing import Any

from wa_addon.sandbox import SandboxDB, create_sandbox_app

_latency = float(os.environ.get("BENCH_HOST_LATENCY_MS", "0")) / 1000
_app = create_sandbox_app(SandboxDB(os.environ["BENCH_HOST_DB"], kdf_cost=4), os.environ["BENCH_HOST_KEY"])


def app(environ: dict[str, Any], start_response: Any) -> Any:
    if _latency:
        time.sleep(_latency)
    return _app(environ, start_response)

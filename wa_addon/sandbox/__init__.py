"""The sandbox host: a small but real recharge server implementing the host REST API.

``SandboxDB`` keeps the data (SQLite, one transaction per money move),
``create_sandbox_app`` serves it under ``/api/v1``, ``seed`` loads the fixed
demo accounts documented in :mod:`wa_addon.sandbox.seed`.
"""

from wa_addon.sandbox.api import create_sandbox_app
from wa_addon.sandbox.db import SandboxDB
from wa_addon.sandbox.seed import seed

__all__ = ["SandboxDB", "create_sandbox_app", "seed"]

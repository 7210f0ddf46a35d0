"""PINs, passwords and tokens never reach a log, the journal or the audit trail.

A session of money commands, a wrong PIN, a PIN change and a new account runs
through the real webhook, a verbose worker process and the sandbox host; then
every place the add-on writes text is searched for the secrets.
"""

from __future__ import annotations

import logging
import re

from conftest import ADMIN_PHONE, APP_SECRET, GRAPH_TOKEN, HOST_KEY
from helpers import leaks

RETAIL1 = "8801822222222"


def test_no_secret_reaches_logs_journal_or_audit(stack, worker, caplog):
    caplog.set_level(logging.DEBUG)
    for text in ("FL 01712345678 50 4321", "FL 01712345678 60 9999", "PIN 4321 8765", "BAL 8765"):
        stack.say(RETAIL1, text)
    stack.say(ADMIN_PHONE, "ADDRS 01712000111 Test Shop")
    sent = stack.graph.wait_for(
        lambda s: any(m.to == ADMIN_PHONE for m in s) and len([m for m in s if m.to == RETAIL1]) >= 4, timeout=30
    )
    created = next(m.text for m in sent if m.to == ADMIN_PHONE)  # the admin reads Bengali
    password = re.search(r"পাসওয়ার্ড: (\S+)", created).group(1)
    new_pin = re.search(r"পিন: (\S+)", created).group(1)
    secrets = ["4321", "9999", "8765", password, new_pin, GRAPH_TOKEN, APP_SECRET, HOST_KEY]

    worker.terminate()
    worker.wait(10)
    written = {"worker log": worker.log_path.read_text(), "add-on log": caplog.text}
    for key in (stack.rt.keys.log("in"), stack.rt.keys.log("out"), stack.rt.keys.audit):
        written[key] = "\n".join(raw.decode() for raw in stack.rt.conn.lrange(key, 0, -1))
    assert written[stack.rt.keys.audit] and written[stack.rt.keys.log("in")]  # the places were written to
    for place, text in written.items():
        for secret in secrets:
            assert not leaks(secret, text), f"{secret!r} found in {place}"

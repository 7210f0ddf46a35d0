"""Meta's own contract: what is not addressed to us, not typed by the user, or not a command.

Parsing is checked on Meta-shaped payloads; the whole path (webhook, worker,
sandbox host, fake Graph API) proves nobody is answered and the host is told.
"""

from __future__ import annotations

import falcon
import falcon.testing
import pytest
from conftest import HOST_KEY, eventually

from wa_addon import http_errors
from wa_addon.host.http import HttpHost
from wa_addon.messages import NUMBER_CHANGED
from wa_addon.settings import Settings
from wa_addon.testing import cloud_payloads as cp
from wa_addon.transports.cloud_resource import MAX_BODY, CloudWebhook
from wa_addon.transports.cloud_webhook import parse_webhook

RETAIL1 = "8801822222222"  # Karim Store, English
NEW_PHONE = "8801822222299"


def number_changed(old: str, new: str) -> dict:
    change = {"body": f"User A changed from {old} to {new}", "wa_id": new, "type": "user_changed_number"}
    return cp.message(old, "system", change)


def edited(sender: str) -> dict:
    return cp.message(
        sender, "edit", {"original_message_id": "wamid.old", "message": {"type": "text", "text": {"body": "BAL"}}}
    )


def revoked(sender: str) -> dict:
    return cp.message(sender, "revoke", {"original_message_id": "wamid.old"})


def flow_done(sender: str) -> dict:
    reply = {"type": "nfm_reply", "nfm_reply": {"response_json": "{}", "body": "Sent", "name": "flow"}}
    return cp.message(sender, "interactive", reply)


def call_permission(sender: str) -> dict:
    reply = {"type": "call_permission_reply", "call_permission_reply": {"response": "accept"}}
    return cp.message(sender, "interactive", reply)


NOT_COMMANDS = [edited, revoked, flow_done, call_permission]


# -- parsing -------------------------------------------------------------------


@pytest.mark.parametrize("build", NOT_COMMANDS)
def test_edits_deletions_flow_completions_and_call_permissions_are_not_chats(build):
    assert parse_webhook(cp.dumps(cp.messages_webhook(build(RETAIL1)))) == ([], [])


def test_a_changed_number_is_read_as_old_and_new():
    (msg,), _ = parse_webhook(cp.dumps(cp.messages_webhook(number_changed(RETAIL1, NEW_PHONE))))
    assert (msg.kind, msg.sender, msg.text) == (NUMBER_CHANGED, RETAIL1, NEW_PHONE)


def test_changes_for_another_number_of_the_account_are_skipped():
    ours = cp.value([cp.text(RETAIL1, "BAL")])
    theirs = cp.value([cp.text(RETAIL1, "HELP")], [cp.status("wamid.x", "read", RETAIL1)])
    theirs["metadata"] = {**theirs["metadata"], "phone_number_id": "999000999"}
    raw = cp.dumps(cp.webhook(cp.entry(ours, theirs)))
    inbound, statuses = parse_webhook(raw, cp.PHONE_NUMBER_ID)
    assert [m.text for m in inbound] == ["BAL"] and statuses == []
    assert len(parse_webhook(raw)[0]) == 2  # no number configured: everything, as before


# -- the door --------------------------------------------------------------------


class Recorder:
    def __init__(self):
        self.calls = []

    def submit(self, inbound, statuses):
        self.calls.append((inbound, statuses))
        return len(inbound) + len(statuses)


@pytest.fixture
def door():
    intake = Recorder()
    app = http_errors.install(falcon.App())  # the app wiring: error body, StoreUnavailable -> 503
    settings = Settings(cloud_app_secret="s3cret", cloud_phone_number_id=cp.PHONE_NUMBER_ID)
    app.add_route("/hook", CloudWebhook(settings, intake))
    return falcon.testing.TestClient(app), intake


def test_a_body_over_the_cap_is_refused_before_it_is_read_or_verified(door):
    client, intake = door
    raw = b"{" + b" " * MAX_BODY + b"}"
    resp = client.simulate_post("/hook", body=raw, headers={cp.SIGNATURE_HEADER: cp.sign("s3cret", raw)})
    assert resp.status_code == 413 and resp.json["error"]["code"] == "too_large"  # before: 401 after reading all
    assert intake.calls == []


def test_a_webhook_for_another_number_gets_200_and_no_action(door):
    client, intake = door
    value = cp.value([cp.text(RETAIL1, "BAL")])
    value["metadata"]["phone_number_id"] = "999000999"
    raw = cp.dumps(cp.webhook(cp.entry(value)))
    resp = client.simulate_post("/hook", body=raw, headers={cp.SIGNATURE_HEADER: cp.sign("s3cret", raw)})
    assert resp.status_code == 200 and intake.calls == [([], [])]


# -- end to end ----------------------------------------------------------------------


def test_a_changed_number_moves_the_reseller_and_nobody_is_answered(stack):
    host = HttpHost(stack.settings.host_url, HOST_KEY)
    stack.post_cloud(cp.dumps(cp.messages_webhook(number_changed(RETAIL1, NEW_PHONE))))
    for build in NOT_COMMANDS:
        stack.post_cloud(cp.dumps(cp.messages_webhook(build(NEW_PHONE))))
    assert eventually(lambda: host.get_reseller("retail1").phone == NEW_PHONE)  # the host has no hook for it
    stack.say(NEW_PHONE, "BAL")
    stack.graph.wait_for(1, timeout=20)
    assert [(m.to, m.text) for m in stack.graph.sent] == [(NEW_PHONE, "Karim Store: balance ৳2,500")]


def test_a_chat_to_another_number_of_the_account_is_not_answered(stack):
    value = cp.value([cp.text(RETAIL1, "BAL")])
    value["metadata"]["phone_number_id"] = "999000999"
    assert stack.post_cloud(cp.dumps(cp.webhook(cp.entry(value)))).status_code == 200
    stack.say(RETAIL1, "HELP")
    stack.graph.wait_for(1, timeout=20)
    (only,) = stack.graph.sent
    assert only.text.startswith("Commands")

"""The admin page and its JSON twin: what they show, and what their forms change."""

from __future__ import annotations

import pytest
from admin_client import BEARER, FORM, TOKEN, Admin
from helpers import drain

from wa_addon import journal
from wa_addon.messages import Outbound
from wa_addon.queue import outbox
from wa_addon.settings import Settings

CLOUD_TOKEN = "EAAG-secret-cloud-token-value"


@pytest.fixture
def admin(redis_url, namespace) -> Admin:
    settings = Settings(
        redis_url=redis_url,
        namespace=namespace,
        transports=("cloud", "device"),
        admin_token=TOKEN,
        admin_numbers=("8801711000000",),
        cloud_token=CLOUD_TOKEN,
        cloud_phone_number_id="1098765",
    )
    return Admin(settings)


def msg(i: int, **extra) -> Outbound:
    return Outbound(id=f"m{i}", to="8801822222222", text=f"hello {i}", kind="notify.balance_added", **extra)


# --- the switches --------------------------------------------------------------


def test_turning_off_says_messages_are_kept_and_how_many_wait(admin):
    admin.post("/admin/switches", enabled="0")
    outbox.push(admin.rt, [msg(1), msg(2), msg(3)], "device")  # held: the add-on is off
    page = admin.page()
    assert "kept, not lost" in page and 'id="waiting-total">3</strong> waiting' in page
    assert admin.api().json["waiting"]["device"] == 3
    assert admin.rt.switches.enabled() is False


def test_turning_on_again_restarts_the_held_outbox(admin):
    admin.post("/admin/switches", enabled="0")
    outbox.push(admin.rt, [msg(1)], "device")
    drain(admin.rt)  # no worker here: a session in this process, as the worker's would
    assert admin.rt.lanes["out:device"].depth() == 1  # the session found the add-on off: kept
    admin.post("/admin/switches", enabled="1")  # announces the held partitions again
    drain(admin.rt)
    assert admin.rt.lanes["out:device"].depth() == 0


def test_notifications_form_switches_each_kind(admin):
    on = [k for k in admin.rt.switches.as_dict()["notifications"] if k != "balance_added"]
    admin.post("/admin/switches", section="notifications", notify=on)
    assert admin.rt.switches.notify("balance_added") is False
    assert all(admin.rt.switches.notify(k) for k in on)
    page = admin.page()
    assert "Saved: notify balance_added = off" in page  # only what changed
    assert 'id="notify-balance_added" >' in page and 'id="notify-otp" checked>' in page


def test_admin_numbers_and_language_form(admin):
    admin.post("/admin/switches", admin_numbers="01711000000\n+8801922222222", default_language="en")
    assert admin.rt.switches.admin_numbers() == ("8801711000000", "8801922222222")
    assert admin.rt.switches.default_language() == "en"
    admin.post("/admin/switches", admin_numbers="12ab", default_language="en")
    assert "not a phone number: 12ab" in admin.page()
    assert admin.rt.switches.admin_numbers() == ("8801711000000", "8801922222222")


def test_switch_changes_go_on_the_audit_trail(admin):
    admin.post("/admin/switches", enabled="0")
    entries = journal.recent(admin.rt.conn, admin.rt.keys.audit)
    assert entries[0]["command"] == "enabled = off" and entries[0]["who"] == "admin page"


# --- the JSON twin ------------------------------------------------------------------


def test_json_twin_reads_switches_and_status(admin):
    body = admin.api().json
    assert body["switches"]["enabled"] is True
    assert set(body["switches"]["notifications"]) >= {"balance_added", "request_created"}
    assert body["waiting"] == {"cloud": 0, "device": 0, "phones": 0, "total": 0}
    assert body["transports"]["device"]["phones"] == []
    assert body["failed"] == {"cloud": 0, "device": 0}


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_json_twin_changes_switches(admin, method):
    resp = admin.api(
        method,
        {
            "enabled": False,
            "notifications": {"balance_added": False},
            "admin_numbers": ["01711000000"],
            "default_language": "en",
        },
    )
    assert resp.status_code == 200
    assert resp.json["switches"]["enabled"] is False and resp.json["switches"]["default_language"] == "en"
    assert resp.json["changed"] == ["enabled = off", "notify balance_added = off", "default_language = en"]
    assert admin.rt.switches.notify("balance_added") is False


@pytest.mark.parametrize(
    "body, message",
    [
        ({"enabled": "no"}, "enabled must be true or false"),
        ({"colour": "red"}, "unknown setting(s): colour"),
        ({"notifications": {"balance_addded": False}}, "unknown notification kind(s): balance_addded"),
        ({"notifications": ["balance_added"]}, "notifications must be an object"),
        ({"admin_numbers": ["0171"]}, "not a phone number: 0171"),
        ({"admin_numbers": 8801711000000}, "admin_numbers must be a list"),
        ({"default_language": "fr"}, "default_language must be one of bn, en"),
        ([], "expected a JSON object"),
        ("{not json", "the body is not JSON"),
    ],
)
def test_json_twin_rejects_bad_input_and_changes_nothing(admin, body, message):
    before = admin.rt.switches.as_dict()
    resp = admin.api("PATCH", body)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalid"
    assert message in resp.json["error"]["message"]
    assert admin.rt.switches.as_dict() == before


def test_json_twin_wants_json(admin):
    resp = admin.c.simulate_patch("/admin/settings", body="enabled=0", headers={**BEARER, **FORM})
    assert resp.status_code == 400 and "application/json" in resp.json["error"]["message"]


def test_partial_changes_leave_the_rest(admin):
    admin.api("PATCH", {"notifications": {"otp": False}})
    admin.api("PATCH", {"notifications": {"message": False}})
    assert not admin.rt.switches.notify("otp") and not admin.rt.switches.notify("message")


# --- transports: no secrets, phones ------------------------------------------------


def test_cloud_check_shows_what_is_set_never_the_secrets(admin):
    page, api = admin.page(), admin.c.simulate_get("/admin/settings", headers=BEARER).text
    for text in (page, api):
        assert CLOUD_TOKEN not in text and TOKEN not in text
    assert "WA_CLOUD_APP_SECRET" in page and "1098765" in page  # the phone number id is no secret
    cloud = admin.api().json["transports"]["cloud"]
    assert cloud["missing"] == ["WA_CLOUD_APP_SECRET", "WA_CLOUD_VERIFY_TOKEN"] and not cloud["ready"]
    token_item = next(i for i in cloud["settings"] if i["name"] == "WA_CLOUD_TOKEN")
    assert token_item == {"name": "WA_CLOUD_TOKEN", "set": True, "value": None}


def test_a_new_phones_token_is_shown_once_in_the_answer_never_in_a_cookie(admin):
    resp = admin.post("/admin/phones", name="phone-2")
    assert resp.status_code == 200 and resp.headers["cache-control"] == "no-store"
    token = resp.text.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("wad_") and "shown only once" in resp.text and "offline" in resp.text
    assert all(token not in value for value in resp.headers.values()) and not resp.cookies
    later = admin.page()
    assert token not in later and "phone-2" in later
    assert admin.rt.transports["device"].authenticate(token) == "phone-2"


def test_a_phone_is_online_after_contact_and_can_be_revoked(admin):
    device = admin.rt.transports["device"]
    token = device.add_phone("phone-1")
    device.authenticate(token)  # a contact
    assert "online" in admin.page()
    assert admin.api().json["transports"]["device"]["phones"][0]["online"] is True
    admin.post("/admin/phones/phone-1/revoke")
    assert "Phone phone-1 revoked" in admin.page()
    assert device.authenticate(token) is None


def test_a_taken_phone_name_is_an_error_not_a_crash(admin):
    admin.post("/admin/phones", name="p1")
    admin.page()
    admin.post("/admin/phones", name="p1")
    assert "exists" in admin.page()


# --- messages, failures, audit ---------------------------------------------------------


def _journal(admin, direction, entries):
    pipe = admin.rt.conn.pipeline()
    journal.log_messages(pipe, admin.rt.keys, direction, entries)
    pipe.execute()


def test_messages_in_and_out_with_their_live_status(admin):
    _journal(admin, "in", [{"id": "i1", "from": "8801822222222", "text": "FL 01712345678 50 ****", "via": "device"}])
    _journal(
        admin,
        "out",
        [
            {
                "id": "o1",
                "to": "8801822222222",
                "text": "Balance: 2500",
                "kind": "reply",
                "status": "handed",
                "via": "device",
            }
        ],
    )
    admin.rt.conn.hset(admin.rt.keys.msg("o1"), "status", "sent")  # the phone's ack came later
    page = admin.page()
    assert "FL 01712345678 50 ****" in page and "Balance: 2500" in page
    assert '<span class="status sent">sent</span>' in page


def test_texts_are_escaped(admin):
    _journal(admin, "in", [{"id": "x", "from": "8801822222222", "text": "<script>alert(1)</script>", "via": "device"}])
    page = admin.page()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_failed_deliveries_can_be_retried_one_or_all(admin):
    key = admin.rt.keys.failed("device")
    for i in (1, 2, 3):
        admin.rt.conn.rpush(key, msg(i, secret=(i == 3)).to_json())
    page = admin.page()
    assert "hello 1" in page and "hello 3" not in page and "(hidden)" in page  # a PIN-bearing text stays hidden
    admin.post("/admin/failed/device/retry", msg_id="m1")
    assert "1 message(s) back in the device outbox" in admin.page()
    assert admin.rt.conn.llen(key) == 2 and admin.rt.lanes["out:device"].depth() == 1
    admin.post("/admin/failed/device/retry")
    assert admin.rt.conn.llen(key) == 0 and admin.rt.lanes["out:device"].depth() == 3


def test_audit_trail_is_shown(admin):
    pipe = admin.rt.conn.pipeline()
    journal.audit(
        pipe, admin.rt.keys, {"who": "8801822222222", "role": "reseller", "command": "FL 0171 50 ****", "outcome": "ok"}
    )
    pipe.execute()
    assert "FL 0171 50 ****" in admin.page()

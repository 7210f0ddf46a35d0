"""Dead letters: kept with when and why, shown without secrets, retried once, discarded for good."""

from __future__ import annotations

import json
import re

import pytest
from admin_client import TOKEN, Admin
from click.testing import CliRunner

from wa_addon.cli import main
from wa_addon.hooks.events import Event
from wa_addon.messages import Inbound, Outbound
from wa_addon.queue import dead
from wa_addon.queue.lanes import Item
from wa_addon.queue.session import Session
from wa_addon.settings import Settings

CHAT = Inbound(transport="device", msg_id="w1", sender="8801822222222", text="PIN 1234 5678")


@pytest.fixture
def admin(redis_url, namespace) -> Admin:
    return Admin(Settings(redis_url=redis_url, namespace=namespace, transports=("device",), admin_token=TOKEN))


def wrap(msg: Inbound) -> str:
    return json.dumps({"k": "msg", "v": json.loads(msg.to_json())})


def run_in_lane(rt, processor) -> None:
    """Drain the work lanes with ``processor`` (outboxes are not served: replies stay queued)."""
    Session(rt, {"in": processor, "ev": processor}, burst=True, classes=("lo",), budget=10).run()


def broken(rt, payload):
    raise RuntimeError("the PIN 1234 5678 must not be kept")  # a message quoting the chat


def test_a_failing_item_is_kept_with_its_key_when_and_where_but_not_the_message(admin):
    rt = admin.rt
    rt.lanes["in"].push([Item(wrap(CHAT), CHAT.sender, "d1")])
    run_in_lane(rt, broken)
    [letter] = dead.read(rt, "in")
    assert letter.key == CHAT.sender and letter.item == wrap(CHAT) and letter.at is not None
    assert re.fullmatch(r"RuntimeError in .+\.py:\d+", letter.why), letter.why
    envelope = json.loads(letter.raw)
    del envelope["item"]
    assert "1234 5678" not in json.dumps(envelope)  # only the item itself has the text, not the why
    assert rt.lanes["in"].depth() == 0  # set aside: it does not block the sender's next chats


def test_the_page_shows_who_what_and_why_and_hides_secrets(admin):
    rt = admin.rt
    secret = Outbound(id="o1", to="8801933333333", text="Your code is 482913", kind="otp", secret=True)
    event = Event("evt_1", "reseller.reset", "2026-01-01T00:00:00Z", {"id": 7, "password": "hunter2-secret"})
    rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "RuntimeError in x.py:1"))
    rt.conn.rpush(rt.keys.dead("out:device"), dead.letter(secret.to, secret.to_json(), "unreadable message"))
    rt.conn.rpush(rt.keys.dead("ev"), dead.letter("reseller:7", event.to_json(), "KeyError in hooks/notify.py:9"))
    rt.conn.rpush(rt.keys.dead("ev"), "{not json, written before envelopes}")
    page = admin.page()
    section = page[page.index('id="dead-letters"') : page.index('id="messages-out"')]
    assert "from 8801822222222" in section and "PIN **** ****" in section and "1234 5678" not in section
    assert "to 8801933333333" in section and "(hidden)" in section and "482913" not in section
    assert "event reseller.reset" in section and "hunter2" not in section and "KeyError in hooks/notify.py:9" in section
    assert "unreadable" in section and "(not recorded)" in section and "unknown" in section
    assert "Retry all 2 on ev" in section
    assert admin.api().json["dead_letters"] == {"ev": 2, "in": 1, "out:device": 1, "sys:device": 0}


def test_a_retry_puts_the_item_back_once_however_often_it_is_clicked(admin):
    rt, runs = admin.rt, []
    rt.lanes["in"].push([Item(wrap(CHAT), CHAT.sender, "d1")])
    run_in_lane(rt, broken)
    [letter] = dead.read(rt, "in")
    admin.post("/admin/dead/retry", lane="in", id=letter.id)
    assert "1 dead letter(s) of in back on the lane" in admin.page()
    admin.post("/admin/dead/retry", lane="in", id=letter.id)  # a second click, or a second admin
    assert "0 dead letter(s) of in back on the lane (already retried" in admin.page()
    dead.retry(rt, "in")  # and a retry of the lane's all: nothing left to put back
    run_in_lane(rt, lambda rt, payload: (runs.append(payload), (None, []))[1])
    assert runs == [wrap(CHAT)] and dead.read(rt, "in") == []


def test_a_retry_cut_short_after_the_push_runs_the_item_once(admin):
    rt = admin.rt
    rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "RuntimeError in x.py:1"))
    [letter] = dead.read(rt, "in")
    rt.lanes["in"].push([Item(letter.item, letter.key, dedupe=f"dead-{letter.id}")])  # pushed, then the crash
    assert dead.retry(rt, "in", letter.id) == 1  # the entry goes; the push is not repeated
    assert rt.lanes["in"].depth() == 1


def test_a_discard_removes_the_letter_and_beats_a_later_retry(admin):
    rt = admin.rt
    rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "RuntimeError in x.py:1"))
    [letter] = dead.read(rt, "in")
    admin.post("/admin/dead/discard", lane="in", id=letter.id)
    assert "1 dead letter(s) of in discarded" in admin.page()
    rt.lanes["in"].push([Item(letter.item, letter.key, dedupe=f"dead-{letter.id}")])  # the racing retry's push
    assert rt.lanes["in"].depth() == 0


def test_a_discard_after_a_retry_leaves_the_item_on_its_lane(admin):
    rt = admin.rt
    rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "why"))
    [letter] = dead.read(rt, "in")
    rt.lanes["in"].push([Item(letter.item, letter.key, dedupe=f"dead-{letter.id}")])  # a retry's push came first
    assert dead.discard(rt, "in", letter.id) == 0
    assert rt.lanes["in"].depth() == 1


def test_the_forms_need_a_signed_in_admin_the_csrf_token_and_a_known_lane(admin):
    rt = admin.rt
    rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "why"))
    [letter] = dead.read(rt, "in")
    stranger = admin.c.simulate_post(
        "/admin/dead/discard",
        body=f"lane=in&id={letter.id}&csrf={admin.csrf}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        cookies={"wa_csrf": admin.csrf},
    )  # no session cookie
    assert stranger.status_code == 303 and stranger.headers["location"].endswith("/admin/login")
    resp = admin.c.simulate_post(
        "/admin/dead/discard",
        body=f"lane=in&id={letter.id}&csrf=wrong",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        cookies=admin.cookies,
    )
    assert resp.status_code == 403 and len(dead.read(rt, "in")) == 1
    admin.post("/admin/dead/retry", lane="nope", id=letter.id)
    assert "No lane named nope." in admin.page()
    admin.post("/admin/dead/discard", lane="in")
    assert "Say which dead letter" in admin.page() and len(dead.read(rt, "in")) == 1


def test_cli_lists_retries_and_discards_dead_letters(admin, monkeypatch):
    rt = admin.rt
    monkeypatch.setenv("WA_REDIS_URL", rt.settings.redis_url)
    monkeypatch.setenv("WA_NAMESPACE", rt.settings.namespace)
    monkeypatch.setenv("WA_TRANSPORTS", "device")
    for _ in range(2):
        rt.conn.rpush(rt.keys.dead("in"), dead.letter(CHAT.sender, wrap(CHAT), "RuntimeError in x.py:1"))
    first, second = dead.read(rt, "in")
    runner = CliRunner()
    listed = runner.invoke(main, ["failed", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"dead in  {first.id}" in listed.output and "PIN **** ****" in listed.output
    assert "1234 5678" not in listed.output and "0 failed, 2 dead letter(s)" in listed.output
    assert runner.invoke(main, ["failed", "retry", first.id]).output.strip() == "1 dead letter(s) back on their lane"
    again = runner.invoke(main, ["failed", "retry", first.id])
    assert again.exit_code != 0 and "retried already?" in again.output
    assert runner.invoke(main, ["failed", "discard", second.id]).exit_code == 0
    assert dead.read(rt, "in") == [] and rt.lanes["in"].depth() == 1
    assert runner.invoke(main, ["failed", "retry", "--dead", "--lane", "bogus"]).exit_code != 0

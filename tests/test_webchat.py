"""The demo's web chat, without a browser: its routes over a recording phone.

The phone here is a hand-written stand-in for :class:`DeviceSim` (our own
interface: ``say`` and ``sent``); the browser tests run the real one.
"""

from __future__ import annotations

import time

import falcon.testing
import pytest

from wa_addon.app import mount, not_found
from wa_addon.settings import Settings
from wa_addon.webchat import WebChat, create_chat_app

ADMIN, RETAIL1 = "8801711000000", "8801822222222"


class RecordingPhone:
    def __init__(self):
        self.said: list[tuple[str, str]] = []
        self.sent: list[dict] = []

    def say(self, sender, text):
        self.said.append((sender, text))
        return {"ok": True, "accepted": 1}

    def receive(self, to, text, msg_id, at=None, lease=1):
        at = time.time() if at is None else at
        self.sent.append({"at": at, "id": msg_id, "lease": f"{msg_id}.{lease}", "to": to, "text": text})


@pytest.fixture
def chat():
    return WebChat(Settings(admin_numbers=(ADMIN,)), RecordingPhone())


@pytest.fixture
def client(chat):
    return falcon.testing.TestClient(mount(not_found, create_chat_app(chat), "/chat"), headers={"Host": "localhost"})


def test_send_goes_through_the_phone_and_back_to_the_page(chat, client):
    resp = client.simulate_post(
        "/chat/send", body=f"who={RETAIL1}&text=BAL", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"/chat?who={RETAIL1}#end"
    assert chat.phone.said == [(RETAIL1, "BAL")]


def test_json_send_answers_with_the_conversation(chat, client):
    resp = client.simulate_post("/chat/send", json={"who": RETAIL1, "text": "  BAL "})
    assert resp.json["ok"] and [m["text"] for m in resp.json["messages"]] == ["BAL"]
    assert client.simulate_post("/chat/send", json={"who": RETAIL1, "text": " "}).json["ok"] is False
    assert len(chat.phone.said) == 1


def test_conversation_is_what_you_typed_and_what_the_phone_got_for_you(chat, client):
    later = chat.send(RETAIL1, "BAL")["at"] + 1
    chat.phone.receive(RETAIL1, "Karim Store: balance ৳2,500", "r1", at=later)
    chat.phone.receive(ADMIN, "for the admin", "a1")
    got = client.simulate_get("/chat/messages", params={"who": RETAIL1}).json["messages"]
    assert [(m["mine"], m["text"]) for m in got] == [(True, "BAL"), (False, "Karim Store: balance ৳2,500")]


def test_a_message_the_phone_sent_twice_shows_twice_as_on_a_real_phone(chat, client):
    chat.phone.receive(RETAIL1, "Karim Store: balance ৳2,500", "r1", at=1.0)
    chat.phone.receive(RETAIL1, "Karim Store: balance ৳2,500", "r1", at=2.0, lease=2)  # after a lost ack
    got = client.simulate_get("/chat/messages", params={"who": RETAIL1}).json["messages"]
    assert [m["text"] for m in got] == ["Karim Store: balance ৳2,500"] * 2
    assert len({m["id"] for m in got}) == 2


def test_the_admin_role_follows_the_runtime_switches(conn, namespace):
    from wa_addon.store import Keys
    from wa_addon.switches import Switches

    settings = Settings(namespace=namespace, admin_numbers=(ADMIN,))
    switches = Switches(conn, Keys(namespace), settings)
    chat = WebChat(settings, RecordingPhone(), admin_numbers=switches.admin_numbers)
    assert chat.account(ADMIN).role == "admin" and chat.account(RETAIL1).role == "reseller"
    switches.set(admin_numbers=RETAIL1)  # as the admin page saves it
    assert chat.account(RETAIL1).role == "admin" and chat.account(RETAIL1).pin == ""
    assert chat.account(ADMIN).role == "reseller"
    page = (
        falcon.testing.TestClient(create_chat_app(chat))
        .simulate_get("/", params={"who": RETAIL1}, host="localhost")
        .text
    )
    assert "COMPLETE 1 TRX123" in page


def test_page_shows_the_conversation_escaped_and_the_commands_for_the_role(chat, client):
    chat.phone.receive(RETAIL1, "<b>hi</b>", "x1")
    page = client.simulate_get("/chat", params={"who": RETAIL1}).text
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    assert "Karim Store" in page and "PIN 4321" in page and "BAL — your balance" in page
    admin = client.simulate_get("/chat", params={"who": ADMIN}).text
    assert "COMPLETE 1 TRX123" in admin and "BAL — your balance" not in admin


def test_a_draft_fills_the_composer_without_javascript(client):
    page = client.simulate_get("/chat", params={"who": RETAIL1, "draft": "FL 01712345678 50 4321"}).text
    assert 'value="FL 01712345678 50 4321"' in page


def test_another_sites_post_is_refused(chat, client):
    resp = client.simulate_post(
        "/chat/send", json={"who": RETAIL1, "text": "BAL"}, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403 and chat.phone.said == []


def test_a_dns_rebinding_page_or_a_tunnel_names_another_host_and_is_refused(chat, client):
    # A rebinding page's Origin matches its own Host: the old same-origin check let it through.
    rebound = {"Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    resp = client.simulate_post("/chat/send", json={"who": ADMIN, "text": "ADDBAL retail1 5"}, headers=rebound)
    assert resp.status_code == 403 and chat.phone.said == []
    tunnelled = client.simulate_get("/chat", headers={"Host": "abcd.ngrok-free.app"})  # the peer is loopback
    assert tunnelled.status_code == 403
    assert client.simulate_get("/chat", remote_addr="203.0.113.9").status_code == 403  # from afar, as localhost
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert client.simulate_get("/chat", headers={"Host": host}).status_code == 200


def test_more_host_names_are_allowed_only_when_asked():
    chat = WebChat(Settings(admin_numbers=(ADMIN,), demo_chat_hosts=("shop-pc.lan",)), RecordingPhone())
    lan = falcon.testing.TestClient(mount(not_found, create_chat_app(chat), "/chat"))
    assert lan.simulate_get("/chat", host="shop-pc.lan", remote_addr="192.168.1.20").status_code == 200
    assert lan.simulate_get("/chat", host="other.lan", remote_addr="192.168.1.20").status_code == 403


def test_who_must_be_a_number(client):
    assert client.simulate_get("/chat/messages", params={"who": "x; drop"}).status_code == 400


def test_the_script_is_served(client):
    resp = client.simulate_get("/chat/webchat.js")
    assert resp.status_code == 200 and "fetch(" in resp.text
    assert resp.headers["content-type"].startswith("text/javascript")


def test_the_command_list_speaks_the_persons_language_and_a_stranger_is_no_admin():
    chat = WebChat(Settings(admin_numbers=(ADMIN,)), RecordingPhone())
    client = falcon.testing.TestClient(create_chat_app(chat), headers={"Host": "localhost"})
    salma = client.simulate_get("/", params={"who": "8801933333333"}).text  # seeded: Bengali
    karim = client.simulate_get("/", params={"who": RETAIL1}).text  # seeded: English
    assert "BAL — আপনার ব্যালেন্স" in salma and "BAL — your balance" in karim
    stranger = client.simulate_get("/", params={"who": "8801799999999"}).text
    assert "unknown sender" in stranger and "COMPLETE" not in stranger and "not registered" in stranger
    assert "+8801799999999</strong> · unknown sender" in stranger  # the number once, not "+880… · +880…"
    assert f"Karim Store</strong> · +{RETAIL1} · reseller" in karim
    assert chat.account("8801799999999").role == "unknown"


def test_the_host_panel_places_a_balance_request_and_fails_a_request_on_the_real_sandbox(tmp_path):
    from wa_addon.sandbox import SandboxDB, seed

    events: list[tuple[str, dict]] = []
    db = SandboxDB(str(tmp_path / "host.sqlite3"), on_event=lambda kind, data: events.append((kind, data)), kdf_cost=4)
    seed(db)
    rid = db.create_request({"service": "FL", "number": "01712345678", "amount": "50"}, actor=3, idem_key="r")["id"]
    client = falcon.testing.TestClient(
        create_chat_app(WebChat(Settings(admin_numbers=(ADMIN,)), RecordingPhone(), host=db)),
        headers={"Host": "localhost"},
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    asked = client.simulate_post("/host/balance-request", body=f"who={RETAIL1}&amount=700&note=Eid", headers=form)
    assert asked.status_code == 303 and "balance+request" in asked.headers["Location"]
    failed = client.simulate_post("/host/fail", body=f"who={RETAIL1}&id={rid}&note=operator+down", headers=form)
    assert failed.status_code == 303 and db.get_request(rid)["status"] == "failed"
    again = client.simulate_post("/host/fail", body=f"who={RETAIL1}&id={rid}", headers=form)
    assert "host+refused" in again.headers["Location"]  # a failed request cannot fail twice
    assert [t for t, _ in events][-2:] == ["balance_request.created", "request.updated"]
    assert db.get_reseller(3)["balance"] == "2500.00"  # refunded
    page = client.simulate_get("/", params={"who": RETAIL1, "said": "host: request #1 failed"}).text
    assert "Host panel" in page and "host: request #1 failed" in page

"""The phones' HTTP endpoints over real HTTP (no worker: what gets queued is inspected)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner
from conftest import HOST_KEY, eventually, settings_env

from wa_addon.device_sim import DeviceSim, parse_line
from wa_addon.messages import Outbound
from wa_addon.settings import Settings

RETAIL1 = "8801822222222"


class Phones:
    """The add-on app (device transport only) on loopback HTTP."""

    def __init__(self, url: str, rt):
        self.url, self.rt = url, rt
        self.device = rt.transports["device"]

    def phone(self, name: str, **kw) -> DeviceSim:
        return DeviceSim(self.url, self.device.add_phone(name), **kw)

    def hand(self, to: str, text: str, msg_id: str) -> Outbound:
        msg = Outbound(id=msg_id, to=to, text=text)
        assert self.device.send(msg).ok
        return msg


@pytest.fixture
def device_settings(redis_url, namespace, sandbox) -> Settings:
    return Settings(
        redis_url=redis_url,
        namespace=namespace,
        host_url=sandbox,
        host_key=HOST_KEY,
        transports=("device",),
        device_poll_max=3,
        device_names=("Karim Store=8801822222222",),
        device_reply_wait=0.5,
    )


@pytest.fixture
def phones(device_settings) -> Iterator[Phones]:
    from wa_addon.app import Addon, not_found
    from wa_addon.host.http import HttpHost
    from wa_addon.testing.wsgi_server import serve_in_thread

    addon = Addon(device_settings, HttpHost(device_settings.host_url, HOST_KEY))
    base, stop = serve_in_thread(addon.mount(not_found))
    yield Phones(base + device_settings.prefix, addon.runtime)
    stop()
    addon.runtime.close()


ENDPOINTS = [("post", "inbound"), ("get", "outbox"), ("post", "ack"), ("post", "autoresponder")]


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_a_wrong_or_missing_token_is_refused_with_a_json_401(phones, method, endpoint):
    url = f"{phones.url}/device/{endpoint}"
    for headers in ({}, {"Authorization": "Bearer wad_wrong"}, {"Authorization": "Basic eDp5"}):
        resp = requests.request(method, url, headers=headers, json={}, timeout=10)
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "endpoint"), [("get", "inbound"), ("post", "outbox"), ("get", "ack")])
def test_the_wrong_method_is_a_405_that_names_the_right_one(phones, method, endpoint):
    resp = requests.request(method, f"{phones.url}/device/{endpoint}", timeout=10)
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert ("GET" if method == "post" else "POST") in resp.headers["Allow"]


def test_a_revoked_phone_is_refused(phones):
    sim = phones.phone("p1")
    sim.poll_once()
    phones.device.revoke_phone("p1")
    with pytest.raises(requests.HTTPError) as err:
        sim.poll_once()
    assert err.value.response.status_code == 401


def test_revoking_a_phone_closes_its_open_long_poll(phones):
    token = phones.device.add_phone("p1")
    answer = {}

    def poll() -> None:
        answer["resp"] = requests.get(
            f"{phones.url}/device/outbox", params={"wait": 3}, timeout=10, headers={"Authorization": f"Bearer {token}"}
        )

    waiting = threading.Thread(target=poll)
    waiting.start()
    wake = phones.rt.keys.device("wake")
    assert eventually(lambda: phones.rt.conn.pubsub_numsub(wake)[0][1] > 0, timeout=10)  # the poll waits
    phones.device.revoke_phone("p1")
    phones.hand(RETAIL1, "after the revocation", "m1")  # wakes the poll: before, it leased this
    waiting.join(10)
    assert answer["resp"].status_code == 401
    assert phones.device.queue.state("m1")["state"] == "queued"


def test_a_new_token_under_the_same_name_cannot_ack_the_old_tokens_lease(phones):
    old = phones.phone("p1", ack=False)  # it leases, then is lost before it acks
    phones.hand(RETAIL1, "hello", "m1")
    (leased,) = old.poll_once()
    phones.device.revoke_phone("p1")
    new = phones.phone("p1", ack=False)
    assert new.post("ack", [{"lease": leased["lease"], "status": "sent"}]) == {
        "results": [{"lease": leased["lease"], "result": "unknown"}]
    }
    assert phones.device.queue.state("m1")["state"] == "queued"  # still to send, by a phone that holds it
    (again,) = new.poll_once()
    assert new.post("ack", [{"lease": again["lease"], "status": "sent"}])["results"][0]["result"] == "ok"


def test_only_the_autoresponder_takes_the_token_as_a_query_parameter(phones):
    token = phones.device.add_phone("p1")
    assert requests.get(f"{phones.url}/device/outbox", params={"token": token}, timeout=10).status_code == 401
    body = {"query": {"sender": "x", "message": "hi", "isTestMessage": True}}
    resp = requests.post(f"{phones.url}/device/autoresponder", params={"token": token}, json=body, timeout=10)
    assert resp.status_code == 200 and resp.json() == {"replies": [{"message": "wa-addon: connected as p1"}]}


def test_inbound_is_queued_once_per_phone_message_id_and_sender(phones):
    sim = phones.phone("p1")
    assert sim.say(RETAIL1, "BAL", msg_id="m1")["accepted"] == 1
    assert sim.say("01822222222", "BAL", msg_id="m1")["accepted"] == 1  # same sender, local form: a repost
    sim.say("8801933333333", "BAL", msg_id="m1")  # same phone id, another sender: a new message
    assert phones.rt.lanes["in"].depth() == 2


def test_inbound_resolves_contact_names_and_reports_what_it_dropped(phones):
    sim = phones.phone("p1")
    answer = sim.post(
        "inbound",
        [
            {"id": "1", "from": "Karim Store", "text": "BAL"},
            {"id": "2", "from": "Unknown Person", "text": "BAL"},
            {"id": "3", "from": RETAIL1, "text": "BAL", "group": True},
        ],
    )
    assert answer["accepted"] == 1
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(1, "unknown_sender"), (2, "group")]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"messages": [{"id": "1"}]}', b'{"messages": 5}'])
def test_malformed_inbound_gets_a_json_400(phones, body):
    token = phones.device.add_phone("p1")
    resp = requests.post(
        f"{phones.url}/device/inbound",
        data=body,
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and "code" in resp.json()["error"]


def test_a_long_poll_returns_at_once_when_a_message_is_queued(phones):
    sim = phones.phone("p1")
    got: list = []
    poll = threading.Thread(target=lambda: got.extend(sim.poll_once(wait=3)))
    started = time.monotonic()
    poll.start()
    _subscribed(phones)
    phones.hand(RETAIL1, "hello", "x1")
    poll.join(10)
    assert [m["id"] for m in got] == ["x1"]
    # Handed over, not found at the end of the wait (3 s): a wide margin for a loaded machine.
    assert time.monotonic() - started < 2.9


def test_a_long_poll_is_capped_by_the_settings(phones):
    sim = phones.phone("p1")
    started = time.monotonic()
    assert sim.poll_once(wait=600) == []
    assert 3 <= time.monotonic() - started < 30  # device_poll_max=3, not the 600 s asked for


def test_a_poll_leases_and_the_ack_settles_the_status(phones):
    sim = phones.phone("p1")
    phones.hand(RETAIL1, "one", "x1")
    phones.rt.conn.hset(phones.rt.keys.msg("x1"), mapping={"status": "handed"})  # as the outbox does
    [sent] = sim.poll_once()
    assert (sent["to"], sent["text"], sent["lease"]) == (RETAIL1, "one", "x1.1")
    assert sim.acks == [{"lease": "x1.1", "result": "ok"}]
    assert phones.rt.conn.hget(phones.rt.keys.msg("x1"), "status") == b"sent"
    again = sim.post("ack", {"lease": "x1.1", "status": "sent"})
    assert again == {"results": [{"lease": "x1.1", "result": "duplicate"}]}


def test_an_ack_with_an_unknown_status_is_refused(phones):
    sim = phones.phone("p1")
    with pytest.raises(requests.HTTPError) as err:
        sim.post("ack", {"lease": "x1.1", "status": "delivered"})
    assert err.value.response.json()["error"]["code"] == "bad_status"


def test_every_request_records_the_phones_last_contact(phones):
    sim = phones.phone("p1")
    phones.phone("p2")
    sim.poll_once()
    assert [(p.name, p.online) for p in phones.device.tokens.phones()] == [("p1", True), ("p2", False)]


def test_the_pause_holds_the_outbox_not_the_phones_queue(phones):
    # What reached the phones' queue was handed over before the switch went off,
    # or is the "service paused" answer, which must go out while off.
    sim = phones.phone("p1")
    phones.hand(RETAIL1, "one", "x1")
    phones.rt.switches.set(enabled=False)
    assert [m["id"] for m in sim.poll_once(wait=0.2)] == ["x1"]


def test_autoresponder_ignores_groups_and_unmapped_names(phones):
    token = phones.device.add_phone("ar")
    url = f"{phones.url}/device/autoresponder?token={token}"
    for query in (
        {"sender": "Karim Store", "message": "BAL", "isGroup": True},
        {"sender": "Somebody", "message": "BAL", "isGroup": False},
    ):
        assert requests.post(url, json={"query": query}, timeout=10).json() == {"replies": []}
    assert phones.rt.lanes["in"].depth() == 0


def test_an_autoresponder_chat_does_not_hold_back_the_contacts_notifications(phones):
    token = phones.device.add_phone("ar")
    query = {"sender": "Karim Store", "message": "BAL", "isGroup": False}
    answer = requests.post(f"{phones.url}/device/autoresponder?token={token}", json={"query": query}, timeout=10)
    assert answer.json() == {"replies": []}  # no worker here: the reply is late
    phones.hand(RETAIL1, "Balance added", "n1")
    # "ar" is online, but AutoResponder sends only when asked: a polling phone takes it now.
    assert [m["id"] for m in phones.phone("p1").poll_once()] == ["n1"]


def test_the_phones_get_a_503_when_redis_is_down(device_settings):
    import falcon.testing

    from wa_addon.app import Addon
    from wa_addon.host.http import HttpHost
    from wa_addon.redis_server import free_port

    settings = device_settings.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = falcon.testing.TestClient(Addon(settings, HttpHost(settings.host_url, HOST_KEY)).app)
    resp = client.simulate_get("/device/outbox", headers={"Authorization": "Bearer wad_x"})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "unavailable"


def test_the_sim_reads_from_colon_text_lines():
    assert parse_line("8801822222222: RS 5 : x") == ("8801822222222", "RS 5 : x")
    assert parse_line("  # a comment") is None
    with pytest.raises(ValueError):
        parse_line("no colon here")


def test_the_device_commands_add_list_map_and_revoke(device_settings):
    from wa_addon.cli import main

    runner = CliRunner(env=settings_env(device_settings))
    added = runner.invoke(main, ["device", "add", "shop-1"])
    assert added.exit_code == 0 and added.output.startswith("wad_")
    assert runner.invoke(main, ["device", "add", "shop-1"]).exit_code == 1
    listed = runner.invoke(main, ["device", "list"])
    assert "shop-1" in listed.output and "never" in listed.output and "0 waiting" in listed.output
    mapped = runner.invoke(main, ["device", "map", "Rahim Telecom", "01933333333"])
    assert mapped.output.strip() == "Rahim Telecom -> 8801933333333"
    assert runner.invoke(main, ["device", "map", "X", "12"]).exit_code == 2
    assert runner.invoke(main, ["device", "revoke", "shop-1"]).output.strip() == "revoked shop-1"
    assert runner.invoke(main, ["device", "revoke", "shop-1"]).exit_code == 1


def test_the_device_sim_command_posts_a_script_polls_once_and_records(phones, device_settings, tmp_path):
    import json

    from wa_addon.cli import main

    script, record = tmp_path / "chat.txt", tmp_path / "sent.jsonl"
    script.write_text("# a reseller asks\n8801822222222: BAL\n", encoding="utf-8")
    phones.hand(RETAIL1, "queued before", "x1")
    token = phones.device.add_phone("sim")
    result = CliRunner(env=settings_env(device_settings)).invoke(
        main,
        [
            "device-sim",
            "--url",
            phones.url,
            "--token",
            token,
            "--script",
            str(script),
            "--record",
            str(record),
            "--once",
            "--wait",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "<- 8801822222222: BAL  (1 accepted)" in result.output
    assert "-> 8801822222222: queued before" in result.output
    assert [json.loads(line)["id"] for line in record.read_text().splitlines()] == ["x1"]
    assert phones.rt.lanes["in"].depth() == 1


def _subscribed(phones: Phones) -> None:
    # The poll has subscribed to the wake channel: an observable event in Redis.
    channel = phones.rt.keys.device("wake")
    deadline = time.monotonic() + 5
    while phones.rt.conn.pubsub_numsub(channel)[0][1] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)

"""Work lanes through ``consume``: re-runs, outages inside a command, poison items.

Real Redis and the sandbox host over HTTP; the drain is called in-process so a
failure can be placed exactly where a crash or an outage would hit.
"""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from test_commands_chat import ADMIN, DEALER2, RETAIL1, RETAIL2, Chat, open_chat

from wa_addon import inbound
from wa_addon.commands import dispatch
from wa_addon.consume import consume
from wa_addon.messages import Inbound
from wa_addon.runtime import IN_LANE, Runtime


class Queued:
    """Pushes chats onto the inbound lane and drains it in this process."""

    def __init__(self, chat):
        self.chat, self.rt = chat, chat.rt
        self.starts: list[tuple[str, int, str]] = []
        self.rt.start_drain = lambda lane, part, token: self.starts.append((lane, part, token))

    def say(self, sender: str, text: str) -> Inbound:
        msg = Inbound("cloud", f"wamid.{uuid.uuid4().hex}", sender, text)
        inbound.Intake(self.rt).submit([msg], [])
        return msg

    def drain(self) -> int:
        lane, part, token = self.starts[-1]
        return consume(self.rt, lane, part, token, inbound.process)

    def replies(self) -> list[str]:
        lane = self.rt.lanes["out:cloud"]
        raws = [r for p in range(lane.parts) for r in self.rt.conn.lrange(self.rt.keys.lane(lane.name, p, "q"), 0, -1)]
        return [json.loads(r)["text"] for r in raws]

    def held(self) -> int:
        return self.rt.lanes[IN_LANE].depth()


@pytest.fixture
def queued(redis_url, namespace, sandbox):
    for chat in open_chat(redis_url, namespace, sandbox):
        # The cloud transport, so replies have an outbox; no drain is ever started, nothing is sent.
        rt = Runtime(chat.rt.settings, chat.host)
        yield Queued(Chat(rt, chat.host))
        rt.close()


def test_a_redis_error_inside_a_command_is_retried_not_answered_and_money_moves_once(queued, monkeypatch):
    real_audit = dispatch._audit
    calls = []

    def flaky_audit(*args):
        calls.append(1)
        if len(calls) == 1:
            raise redis.exceptions.ConnectionError("Redis went away")
        real_audit(*args)

    monkeypatch.setattr(dispatch, "_audit", flaky_audit)
    queued.say(DEALER2, "ADDBAL retail3 100 2468")
    assert queued.drain() == 0  # the outage stopped the batch at this message
    assert queued.held() == 1 and queued.replies() == []  # kept, no "something went wrong"
    assert queued.chat.balance("retail3") == "900.00"  # the money moved on the first run...
    queued.starts.append(queued.starts[-1])
    assert queued.drain() == 1  # ...and the re-run replays the same idempotency key
    assert queued.chat.balance("retail3") == "900.00" and queued.chat.balance("dealer2") == "2900.00"
    assert len(queued.replies()) == 1


def test_an_unreadable_item_goes_to_the_dead_letters_and_does_not_block_the_sender(queued):
    queued.say(RETAIL1, "BAL")
    _, part, _ = queued.starts[-1]
    queue_key = queued.rt.keys.lane(IN_LANE, part, "q")
    queued.rt.conn.lpush(queue_key, '{"k":"msg","v":{"transport":"cloud","unknown_field":1}}')
    assert queued.drain() == 2
    assert queued.replies() == ["Karim Store: balance ৳2,500.00"]
    assert queued.rt.conn.llen(queued.rt.keys.dead(IN_LANE)) == 1


def test_a_rerun_batch_with_a_held_repeat_and_its_yes_sends_once(queued):
    queued.say(RETAIL2, "FL 01712345678 200 5678")
    queued.drain()
    held = queued.say(RETAIL2, "FL 01712345678 200 5678")  # the same again: held for a YES
    yes = queued.say(RETAIL2, "YES")
    queued.drain()
    assert queued.chat.balance("retail2") == "100.00"  # the first and the confirmed repeat
    for msg in (held, yes):  # a crash made that batch run again
        dispatch.handle(queued.rt, msg)
    queued.chat.send(ADMIN, "ADDBAL retail2 1000")  # a top-up later...
    dispatch.handle(queued.rt, Inbound("cloud", f"wamid.{uuid.uuid4().hex}", RETAIL2, "YES"))
    assert queued.chat.balance("retail2") == "1100.00"  # ...and no third request from a reopened hold


def test_the_housekeeper_survives_redis_going_away(queued, monkeypatch):
    lane = queued.rt.lanes[IN_LANE]

    def down(*args, **kwargs):
        from wa_addon.store import StoreUnavailable

        raise StoreUnavailable("Redis went away")

    monkeypatch.setattr(lane, "kick", down)
    assert queued.rt.housekeep() == 0  # logged, not raised: the thread's loop goes on

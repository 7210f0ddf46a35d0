"""Lanes: dedupe, order, claim in chunks, ack in any order, one owner per partition, recovery."""

from __future__ import annotations

import redis

from wa_addon.queue.lanes import Item, Lane, Scripts, decode
from wa_addon.store import Keys


def make_lane(conn: redis.Redis, ns: str, parts: int = 4, name: str = "out:test") -> Lane:
    return Lane(conn, Keys(ns), Scripts(conn), name, parts)


def announced(conn, ns: str, cls: str = "hi") -> list[tuple[str, int, str]]:
    entries = [e.decode().rsplit("|", 2) for e in conn.lrange(Keys(ns).ready(cls), 0, -1)]
    return [(name, int(part), token) for name, part, token in entries]


def payloads(raws: list[str] | None) -> list[str]:
    return [decode(r)[1] for r in raws or []]


def ack(lane: Lane, part: int, token: str, raws: list[str], first: int = 0) -> int:
    lane.scripts.load()  # acks go by bare EVALSHA in the session's pipeline
    pipe = lane.conn.pipeline(transaction=False)
    lane.ack(part, token, first, raws, pipe)
    return pipe.execute()[0]


def test_push_announces_each_idle_partition_once_on_its_ready_list(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    assert lane.push([Item("a", "x", "id-a"), Item("b", "y", "id-b")]) == 1
    assert lane.push([Item("c", "x", "id-c")]) == 0  # the partition has an owner-to-be already
    assert [e[:2] for e in announced(conn, namespace)] == [("out:test", 0)]
    work = make_lane(conn, namespace, parts=1, name="in")
    work.push([Item("d", "x", "id-d")])
    assert [e[:2] for e in announced(conn, namespace, "lo")] == [("in", 0)]  # work lanes wait behind outboxes


def test_duplicate_ids_are_queued_once(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item("a", "x", "same")])
    lane.push([Item("a-again", "x", "same")])
    _, part, token = announced(conn, namespace)[0]
    assert payloads(lane.claim(part, token, 10)) == ["a"]


def test_items_keep_their_order_key_and_payload(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item('{"text": "x\\u001f"}', "8801822222222", "id")])
    _, part, token = announced(conn, namespace)[0]
    assert [decode(r) for r in lane.claim(part, token, 1)] == [("8801822222222", '{"text": "x\\u001f"}')]
    assert decode("an item queued before order keys were kept") == ("", "an item queued before order keys were kept")


def test_claims_take_more_in_order_and_acks_remove_any_done_item(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item(str(i), f"r{i % 2}", f"id{i}") for i in range(5)])
    _, part, token = announced(conn, namespace)[0]
    first = lane.claim(part, token, 3)
    assert payloads(first) == ["0", "1", "2"]
    assert ack(lane, part, token, [first[1]]) == 1  # the second finished first: acked alone
    assert payloads(lane.claim(part, token, 3)) == ["3", "4"]  # only what is new
    assert lane.claim(part, token, 3) == []  # nothing new, but items are still held: still owned
    held = conn.lrange(Keys(namespace).lane("out:test", part, "proc"), 0, -1)
    assert payloads([h.decode() for h in held]) == ["0", "2", "3", "4"]
    assert ack(lane, part, token, [held[3].decode()], first=2) == 1  # "0", "2" by the front, "4" by value
    assert payloads([h.decode() for h in conn.lrange(Keys(namespace).lane("out:test", part, "proc"), 0, -1)]) == ["3"]
    ack(lane, part, token, [], first=1)
    assert lane.claim(part, token, 3) == []  # empty, but kept until its owner lets go...
    assert lane.claim(part, token, 3, mode="release") is None  # ...then gone: the flag is dropped...
    assert conn.get(Keys(namespace).lane("out:test", part, "busy")) is None
    lane.push([Item("5", "r", "id5")])
    assert len(announced(conn, namespace)) == 2  # ...so the next push announces the partition again


def test_a_stale_token_cannot_claim_or_ack(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item("a", "x", "id-a")])
    _, part, token = announced(conn, namespace)[0]
    assert lane.claim(part, "not-the-owner", 10) is None
    raws = lane.claim(part, token, 10)
    assert ack(lane, part, "not-the-owner", raws) == 0
    assert lane.depth() == 1


def test_an_ack_after_the_flag_expired_takes_it_back_when_nobody_else_did(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item("a", "x", "id-a")])
    _, part, token = announced(conn, namespace)[0]
    raws = lane.claim(part, token, 10)
    conn.delete(Keys(namespace).lane("out:test", part, "busy"))  # a stall longer than the flag's life
    assert ack(lane, part, token, raws) == 1 and lane.depth() == 0


def test_items_held_by_a_dead_owner_are_recovered_first_after_a_kick(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item("a", "x", "id-a"), Item("b", "x", "id-b")])
    _, part, token = announced(conn, namespace)[0]
    assert payloads(lane.claim(part, token, 1)) == ["a"]
    conn.delete(Keys(namespace).lane("out:test", part, "busy"))  # the session died; its flag expired
    assert lane.kick() == 1
    _, _, new_token = announced(conn, namespace)[-1]
    assert payloads(lane.claim(part, new_token, 10, mode="recover")) == ["a", "b"]  # the held one first
    assert lane.claim(part, new_token, 10) == []
    assert lane.kick() == 0  # owned again: nothing to announce


def test_same_order_key_always_lands_in_the_same_partition(conn, namespace):
    lane = make_lane(conn, namespace, parts=8)
    assert len({lane.partition("8801711111111") for _ in range(10)}) == 1
    assert len({lane.partition(str(n)) for n in range(100)}) == 8


def test_depth_counts_waiting_and_held(conn, namespace):
    lane = make_lane(conn, namespace, parts=2)
    lane.push([Item(str(i), str(i), f"i{i}") for i in range(6)])
    _, part, token = announced(conn, namespace)[0]
    lane.claim(part, token, 1)
    assert lane.depth() == 6


def test_a_push_into_an_owned_empty_partition_wakes_its_owner_only(conn, namespace):
    lane = make_lane(conn, namespace, parts=1)
    lane.push([Item("a", "x", "id-a")])
    _, part, token = announced(conn, namespace)[0]
    assert payloads(lane.claim(part, token, 10, mode="recover", new_token="s1.n1")) == ["a"]
    lane.push([Item("b", "x", "id-b")])  # the queue was empty: the owner is told...
    lane.push([Item("c", "x", "id-c")])  # ...once, not for every item
    assert conn.lrange(Keys(namespace).wake("s1"), 0, -1) == [b"out:test|0|s1.n1"]
    assert len(announced(conn, namespace)) == 1  # no other session was offered it
    assert payloads(lane.claim(part, "s1.n1", 10)) == ["b", "c"]

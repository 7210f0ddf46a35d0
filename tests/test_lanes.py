"""Lanes: dedupe, order, batching, one drainer per partition, recovery."""

from __future__ import annotations

import redis

from wa_addon.lanes import Item, Lane
from wa_addon.store import Keys, Scripts


def make_lane(conn: redis.Redis, ns: str, parts: int = 4) -> Lane:
    return Lane(conn, Keys(ns), Scripts(conn), "out:test", parts)


class Starts(list):
    def __call__(self, lane: str, part: int, token: str) -> None:
        self.append((lane, part, token))


def test_push_starts_one_drainer_per_idle_partition(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "id-a"), Item("b", "y", "id-b")], starts)
    lane.push([Item("c", "x", "id-c")], starts)
    assert len(starts) == 1  # the second push found a drainer already owning the partition


def test_duplicate_ids_are_queued_once(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "same")], starts)
    lane.push([Item("a-again", "x", "same")], starts)
    _, part, token = starts[0]
    assert lane.claim(part, token, 10) == ["a"]


def test_claim_keeps_order_and_ack_drops_done_items(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item(str(i), "same-recipient", f"id{i}") for i in range(5)], starts)
    _, part, token = starts[0]
    assert lane.claim(part, token, 3) == ["0", "1", "2"]
    assert lane.ack(part, token, 2)
    assert lane.claim(part, token, 3) == ["2"]  # held items come back first, alone
    lane.ack(part, token, 1)
    assert lane.claim(part, token, 10) == ["3", "4"]
    lane.ack(part, token, 2)
    assert lane.claim(part, token, 10) == []
    assert conn.get(Keys(namespace).lane("out:test", part, "busy")) is None  # released


def test_a_stale_token_cannot_claim_or_ack(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "id-a")], starts)
    _, part, token = starts[0]
    assert lane.claim(part, "not-the-owner", 10) is None
    assert not lane.ack(part, "not-the-owner", 1)
    assert lane.claim(part, token, 10) == ["a"]


def test_items_held_by_a_dead_drainer_are_recovered_by_a_kick(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "id-a"), Item("b", "x", "id-b")], starts)
    _, part, token = starts[0]
    assert lane.claim(part, token, 10) == ["a", "b"]
    conn.delete(Keys(namespace).lane("out:test", part, "busy"))  # the drainer died; its flag expired
    kicks = Starts()
    assert lane.kick(kicks) == 1
    assert lane.claim(part, kicks[0][2], 10) == ["a", "b"]


def test_a_push_after_the_drainer_finished_starts_a_new_one(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "id-a")], starts)
    _, part, token = starts[0]
    lane.claim(part, token, 10)
    lane.ack(part, token, 1)
    assert lane.claim(part, token, 10) == []
    lane.push([Item("b", "x", "id-b")], starts)
    assert len(starts) == 2


def test_deferred_partitions_come_due_and_are_not_kicked_early(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=1), Starts()
    lane.push([Item("a", "x", "id-a")], starts)
    _, part, token = starts[0]
    lane.claim(part, token, 10)
    lane.defer(part, token, 30)
    conn.delete(Keys(namespace).lane("out:test", part, "busy"))
    assert lane.kick(Starts()) == 0  # waiting on its retry time, not orphaned
    assert lane.due(now=0) == []
    assert lane.due(now=10**10) == [(part, token)]


def test_same_order_key_always_lands_in_the_same_partition(conn, namespace):
    lane = make_lane(conn, namespace, parts=8)
    assert len({lane.partition("8801711111111") for _ in range(10)}) == 1
    assert len({lane.partition(str(n)) for n in range(100)}) == 8


def test_depth_counts_waiting_and_held(conn, namespace):
    lane, starts = make_lane(conn, namespace, parts=2), Starts()
    lane.push([Item(str(i), str(i), f"i{i}") for i in range(6)], starts)
    _, part, token = starts[0]
    lane.claim(part, token, 1)
    assert lane.depth() == 6

"""A stream of chats posted as Meta posts them, and the tally of what came of each.

Every chat is a signed Cloud webhook from a seeded reseller: mostly
``FL <number> 10 1111`` with a number of its own (so its reply and its host
row are found by that number), every fifth a ``BAL``.  A webhook not answered
200 is posted again every half second, as Meta redelivers.  The tally
counts, per chat: acknowledged (a 200), answered once, lost (no reply),
duplicated (replies beyond one), double money moves (host rows beyond one).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests
from stack import APP_SECRET, reseller_phone

from wa_addon.testing import cloud_payloads as cp

PIN = "1111"  # every bench reseller's
_numbers = itertools.count(1)


@dataclass
class Chat:
    sender: str  # phone
    shop: str  # the reseller's name: a BAL reply starts with it
    text: str
    number: str = ""  # the number topped up (FL), "" for BAL
    raw: bytes = b""
    acked: bool = False


def make_chats(count: int, first_reseller: int, senders: int) -> list[Chat]:
    """``count`` chats from resellers ``first_reseller`` .. ``first_reseller + senders - 1``."""
    chats = []
    for i in range(count):
        r = first_reseller + i % senders
        if i % 5 == 4:
            chat = Chat(reseller_phone(r), f"Bench Shop {r}", "BAL")
        else:
            number = f"017{next(_numbers):08d}"
            chat = Chat(reseller_phone(r), f"Bench Shop {r}", f"FL {number} 10 {PIN}", number)
        chat.raw = cp.dumps(cp.messages_webhook(cp.text(chat.sender, chat.text)))
        chats.append(chat)
    return chats


def post(url: str, chat: Chat, copies: int = 1, give_up: float = 60.0) -> None:
    """Post the chat's webhook (``copies`` at once) until one is answered 200, as Meta would."""
    headers = {"X-Hub-Signature-256": cp.sign(APP_SECRET, chat.raw), "Content-Type": "application/json"}
    deadline = time.monotonic() + give_up

    def once() -> bool:
        try:
            return requests.post(url, data=chat.raw, headers=headers, timeout=10).status_code == 200
        except requests.RequestException:
            return False

    while not chat.acked and time.monotonic() < deadline:
        if copies == 1:
            chat.acked = once()
        else:
            with ThreadPoolExecutor(copies) as pool:
                chat.acked = any(list(pool.map(lambda _: once(), range(copies))))
        if not chat.acked:
            time.sleep(0.5)  # Meta retries with a back-off; half a second keeps the run short


def stream(
    poster: Callable[[int, Chat], None], chats: list[Chat], seconds: float, clients: int = 8
) -> threading.Thread:
    """``poster(i, chat)`` for each chat, spread evenly over ``seconds`` from ``clients`` threads.

    Returns the running thread.
    """

    def run() -> None:
        started = time.monotonic()

        def send(i: int) -> None:
            time.sleep(max(0.0, started + i * seconds / len(chats) - time.monotonic()))
            poster(i, chats[i])

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, range(len(chats))))

    thread = threading.Thread(target=run, name="chaos-stream")
    thread.start()
    return thread


@dataclass
class Tally:
    """One fault's row."""

    fault: str
    sent: int = 0
    acknowledged: int = 0
    once: int = 0
    lost: int = 0
    duplicated: int = 0
    double_money: int = 0
    other: list[str] = field(default_factory=list)  # replies that belong to no chat (shown, never dropped)
    notes: list[str] = field(default_factory=list)  # a fault's own figures (the device doors)
    broken: int = 0  # doors the fault found open

    def row(self) -> str:
        return (
            f"| {self.fault} | {self.sent} | {self.acknowledged} | {self.once} | {self.lost} | "
            f"{self.duplicated} | {self.double_money} |"
        )


HEADER = (
    "| fault | sent | acknowledged | answered once | lost | duplicated | double money moves |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)


def replies_per_chat(chats: list[Chat], sent: list[tuple[str, str]]) -> list[int]:
    """How many replies each chat got; ``sent`` is (recipient, text) as the Graph accepted them.

    An FL reply names its number; a BAL reply starts with the shop's name.
    A reseller's BAL replies are shared out over its BAL chats in order.
    """
    by_number = {c.number: i for i, c in enumerate(chats) if c.number}
    bal: dict[str, list[int]] = {}
    for i, c in enumerate(chats):
        if not c.number:
            bal.setdefault(c.sender, []).append(i)
    counts = [0] * len(chats)
    bal_got: dict[str, int] = {}
    for to, text in sent:
        hit = next((by_number[n] for n in _numbers_in(text) if n in by_number), None)
        if hit is not None:
            counts[hit] += 1
        elif to in bal and ": balance" in text:
            k = bal_got.get(to, 0)
            bal_got[to] = k + 1
            mine = bal[to]
            counts[mine[min(k, len(mine) - 1)]] += 1  # beyond its BAL chats: the last one's duplicate
    return counts


def _numbers_in(text: str) -> list[str]:
    return [w for w in text.replace("—", " ").split() if w.startswith("017") and len(w) == 11]


def tally(fault: str, chats: list[Chat], sent: list[tuple[str, str]], rows: dict[str, int]) -> Tally:
    counts = replies_per_chat(chats, sent)
    t = Tally(fault, sent=len(chats), acknowledged=sum(c.acked for c in chats))
    t.once = sum(1 for n in counts if n == 1)
    t.lost = sum(1 for n in counts if n == 0)
    t.duplicated = sum(n - 1 for n in counts if n > 1)
    t.double_money = sum(n - 1 for n in rows.values() if n > 1)
    known = {c.sender for c in chats}
    t.other = [text for to, text in sent if to in known and not _numbers_in(text) and ": balance" not in text]
    return t

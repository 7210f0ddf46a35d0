"""The chaos suite: `make chaos` (or `python chaos/run.py [--quick]`), on the deployment shape.

Each fault of chaos/faults.py gets a fresh `wa-addon serve` + `wa-addon worker
--processes 2` on one Redis (AOF, fsync every second), the sandbox host under
gunicorn (behind a faulty proxy) and the fake Graph API, and a stream of
signed chats; a third of the way in, the fault strikes.  When every chat is
answered and the lanes are empty (or 90 s have passed each) it prints one row: sent, acknowledged,
answered once, lost, duplicated, double money moves.  It exits 1 if a chat
was lost or money moved twice; duplicates are reported (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from chats import HEADER, Tally, make_chats, post, stream, tally  # noqa: E402
from device import DeviceStack  # noqa: E402
from faults import FAULTS, Fault  # noqa: E402
from stack import SPACING, Stack, seed_host  # noqa: E402

from wa_addon.redis_server import EmbeddedRedis  # noqa: E402

# Seconds to wait once nothing is queued or held: a send in flight is held in
# its lane (or leased, on the phones) until it is recorded, so this only covers
# a reply counted an instant after its record.
SETTLE = 1.0
WAIT = 90.0  # seconds after the stream for every chat to be answered; unanswered then = lost


def run_fault(workdir: Path, server: EmbeddedRedis, fault: Fault, first: int, count: int, seconds: float) -> Tally:
    chats = make_chats(count, first, senders=min(SPACING, max(1, count // 10)))
    kind = DeviceStack if fault.device else Stack
    marks = [("start", time.monotonic())]
    with kind(workdir, server, f"fault{first}", host_via_proxy=fault.host_via_proxy, extra=fault.extra) as stack:
        stack.wait_workers()
        marks.append(("up", time.monotonic()))
        if isinstance(stack, DeviceStack):
            poster = stream(lambda i, chat: stack.post_chat(i, chat, fault.copies), chats, seconds)
        else:
            poster = stream(lambda i, chat: post(stack.webhook, chat, fault.copies), chats, seconds)
        time.sleep(seconds / 3)
        fault.harm(stack)
        poster.join()
        marks.append(("streamed", time.monotonic()))
        wait_answered(stack, chats, timeout=WAIT)
        marks.append(("answered", time.monotonic()))
        stack.wait_drained(timeout=WAIT)  # a send retried after a timeout comes 30 s later: a duplicate
        marks.append(("drained", time.monotonic()))
        if fault.after:
            fault.after(stack)
        time.sleep(SETTLE)
        if stack.dead_letters():
            print(f"    ({stack.dead_letters()} items in the dead letters)", file=sys.stderr)
        row = tally(fault.name, chats, stack.sent(), stack.host_rows([c.number for c in chats if c.number]))
        if isinstance(stack, DeviceStack):
            stack.report()
            row.notes, row.broken = stack.notes, stack.broken
    marks.append(("stopped", time.monotonic()))
    steps = ", ".join(f"{b[0]} {b[1] - a[1]:.1f}" for a, b in itertools.pairwise(marks))
    print(f"    (seconds: {steps})", file=sys.stderr, flush=True)
    return row


def wait_answered(stack: Stack, chats: list, timeout: float) -> None:
    from chats import replies_per_chat

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(replies_per_chat(chats, stack.sent())):
            return
        time.sleep(0.5)  # replies land at the fake Graph or the phones; counting them is the only event


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI: the quick faults, fewer chats")
    parser.add_argument("--chats", type=int, help="chats per fault (default 200, quick 40)")
    parser.add_argument("--only", help="run the faults whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, Redis data) and print it")
    args = parser.parse_args()
    count = args.chats or (40 if args.quick else 200)
    seconds = 4.0 if args.quick else 12.0
    faults = [f for f in FAULTS if (f.quick if args.quick else f.full) and (not args.only or args.only in f.name)]
    bad = 0
    with contextlib.ExitStack() as scope:
        workdir = Path(
            tempfile.mkdtemp(prefix="wa-chaos-")
            if args.keep
            else scope.enter_context(tempfile.TemporaryDirectory(prefix="wa-chaos-"))
        )
        if args.keep:
            print(f"    (logs and data in {workdir})", file=sys.stderr)
        seed_host(workdir / "host.sqlite3", len(faults))
        server = EmbeddedRedis(workdir / "redis", persist=True).start()
        try:
            print(HEADER, flush=True)
            for i, fault in enumerate(faults):
                row = run_fault(workdir, server, fault, i * SPACING, count, seconds)
                print(row.row(), flush=True)
                for text in row.other:
                    print(f"    (a reply to no chat: {text[:80]!r})", file=sys.stderr)
                for note in row.notes:
                    print(f"    ({note})", flush=True)
                bad += row.lost + row.double_money + row.broken
        finally:
            server.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""A fake Graph API for benchmarks: asyncio, keep-alive, answering after a set latency.

Run as a process: ``python benchmarks/graph_server.py PORT LATENCY_MS JITTER_MS``.
``POST /{version}/{id}/messages`` is answered like Meta (a wamid) after
LATENCY ± JITTER ms without holding a thread; the arrival time and recipient
of each message are kept.  ``GET /stats`` returns them (and resets with
``?reset=1``): ``{"arrivals": [[unix time, recipient], ...]}``.

The tests' fake (wa_addon/testing/fake_graph.py) plays Meta's errors; this
one only has to be fast enough not to be what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import sys
import time

ARRIVALS: list[tuple[float, str]] = []
IDS = itertools.count(1)
LAGS: list[tuple[float, float]] = []  # (when, how late) of the loop's own 10 ms ticks, when over 20 ms


async def watch_loop() -> None:
    """Record when this server itself was held up: its arrival stamps are only as good as its loop."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.01)
        late = time.monotonic() - before - 0.01
        if late > 0.02:
            LAGS.append((time.time(), late))


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float, jitter: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            if method == "POST" and path.endswith("/messages"):
                ARRIVALS.append((time.time(), str(json.loads(body).get("to"))))
                await asyncio.sleep(max(0.0, latency + random.uniform(-jitter, jitter)))
                answer = {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.BENCH{next(IDS)}"}]}
            else:
                answer = {"arrivals": ARRIVALS[:], "lags": LAGS[:]}
                if "reset=1" in path:
                    ARRIVALS.clear()
                    LAGS.clear()
            data = json.dumps(answer).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(data)).encode()
                + b"\r\n\r\n"
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, latency: float, jitter: float) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, latency, jitter), "127.0.0.1", port, backlog=1024)
    watcher = asyncio.create_task(watch_loop())
    async with server:
        await server.serve_forever()
    watcher.cancel()


if __name__ == "__main__":
    # Meta's servers are not on our CPU: a higher priority keeps arrival times
    # from bunching when this machine is saturated (the stamps are the measure).
    with contextlib.suppress(OSError, AttributeError):
        os.nice(-10)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3]) / 1000))

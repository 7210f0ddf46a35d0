"""The browser tests' shared parts: the web chat and admin page as objects, waits on the stack.

The browser is Debian's Chromium (``wa_addon.testing.chromium``).
"""

from __future__ import annotations

import re
import time

from wa_addon import demo as demo_mod
from wa_addon.runtime import Runtime, out_lane

ADMIN, RETAIL1 = "8801711000000", "8801822222222"
WAIT_MS = 45_000  # a reply crosses the worker, the host and the phone's long poll
SWITCH_MAX_AGE = 1.0  # seconds a worker may use switches it read earlier (Runtime(cached_switches=True))


class Chat:
    """One person's web chat tab."""

    def __init__(self, context, demo: demo_mod.Demo, who: str):
        self.page, self.who = context.new_page(), who
        self.url = f"{demo.url}/chat?who={who}"
        self.page.goto(self.url)

    def send(self, text: str) -> None:
        self.page.fill("#text", text)
        self.page.click("#send")

    def received(self):
        return self.page.locator(".bubble.theirs")

    def expect(self, pattern: str) -> str:
        """Wait until a received message matches ``pattern``; returns its text."""
        from playwright.sync_api import expect

        bubble = self.received().filter(has_text=re.compile(pattern))
        expect(bubble.first).to_be_visible(timeout=WAIT_MS)
        return bubble.first.inner_text()


class AdminPage:
    """The admin page in a browser, signed in with the demo's token."""

    def __init__(self, context, demo: demo_mod.Demo):
        self.page = context.new_page()
        self.page.goto(f"{demo.url}{demo.settings.prefix}/admin")
        self.page.fill("#token", demo.settings.admin_token)
        self.page.click("#sign-in")

    def set_notification(self, kind: str, on: bool) -> None:
        self.page.set_checked(f"#notify-{kind}", on)
        self.page.click("#save-notifications")
        self.page.wait_for_selector("#flash")
        workers_see_switches()


def workers_see_switches() -> None:
    """Wait until every worker has read the switches again (they cache them for SWITCH_MAX_AGE)."""
    time.sleep(SWITCH_MAX_AGE + 0.2)  # no event says a worker has read them: wait that long out


def settle(demo: demo_mod.Demo, timeout: float = 30) -> None:
    """Wait until nothing is left to do: chats, events, outboxes and the phones' queue all empty.

    Then everything the add-on was going to send has reached the phone.
    """
    rt = Runtime(demo.settings, None)
    lanes = [rt.lanes[name] for name in ("in", "ev", out_lane("device"))]
    phones = rt.transports["device"].queue
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        counts = phones.counts()
        if not any(lane.depth() for lane in lanes) and counts == {"queued": 0, "leased": 0}:
            return
        time.sleep(0.1)  # a state in Redis, not an event: poll it briefly
    raise AssertionError("the stack did not settle")

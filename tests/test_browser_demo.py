"""Browser tests: Playwright drives Debian's Chromium through the real ``wa-addon demo`` stack.

The stack is the demo's own (``wa_addon.demo.start``): the sandbox host with the
add-on mounted, a worker process, and the simulated phone on the device
transport; the web chat sends through that phone over HTTP and shows what the
phone received.  Nothing is faked.  Chromium comes from Debian's package
(``/usr/bin/chromium``, installed by ``.ci/run``); Playwright never downloads a
browser.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_pages import ADMIN, RETAIL1, AdminPage, Chat, settle, workers_see_switches
from conftest import drop_namespace

from wa_addon import demo as demo_mod
from wa_addon.redis_server import free_port
from wa_addon.settings import Settings
from wa_addon.testing.chromium import CHROMIUM, FLAGS

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Debian's Chromium is not installed ({CHROMIUM}); apt-get install chromium"
)


@pytest.fixture(scope="module")
def demo(redis_url, tmp_path_factory) -> Iterator[demo_mod.Demo]:
    """The demo stack on a free port, a fresh state folder and its own Redis namespace."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(redis_url=redis_url, namespace=namespace)
    running = demo_mod.start(settings, free_port(), tmp_path_factory.mktemp("demo"), echo=None)
    yield running
    running.stop()
    drop_namespace(redis_url, namespace)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    yield ctx
    ctx.close()


def test_a_notification_switched_off_on_the_admin_page_does_not_arrive(demo, context):
    admin_page = AdminPage(context, demo)
    admin, reseller = Chat(context, demo, ADMIN), Chat(context, demo, RETAIL1)

    admin_page.set_notification("balance_added", False)
    assert "balance_added = off" in admin_page.page.inner_text("#flash")
    admin.send("ADDBAL retail1 100")
    admin.expect(r"Karim Store \(retail1\)")  # the host moved the money: its event is queued by now
    settle(demo)
    reseller.page.reload()
    assert not reseller.received().filter(has_text="added to your balance").count()

    admin_page.set_notification("balance_added", True)
    admin.send("ADDBAL retail1 50")
    text = reseller.expect("added to your balance")
    assert "৳50" in text and "৳100" not in reseller.page.inner_text("#messages")


def test_a_reseller_recharges_and_the_admin_completes_it(demo, context):
    reseller, admin = Chat(context, demo, RETAIL1), Chat(context, demo, ADMIN)

    reseller.send("FL 01712345678 50 4321")
    placed = reseller.expect(r"Request #\d+ received")
    request_id = re.search(r"#(\d+)", placed).group(1)

    admin.expect(f"COMPLETE {request_id} ")  # the admin's new-request notification
    admin.send(f"COMPLETE {request_id} TRX123")
    assert "TRX123" in admin.expect("TRX123")
    done = reseller.expect(rf"Request #{request_id} successful")
    assert "TRX123" in done


def test_the_admin_page_works_without_javascript(demo, browser):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = AdminPage(context, demo).page
        page.click("#toggle-enabled")
        assert "kept, not lost" in page.inner_text("#paused-note")
        assert page.inner_text("#state-pill") == "PAUSED"
        page.click("#toggle-enabled")
        assert page.inner_text("#state-pill") == "ON"
        workers_see_switches()  # the next test's chats must not meet a worker that still sees PAUSED
    finally:
        context.close()


def test_the_web_chat_works_without_javascript(demo, browser):
    context = browser.new_context(java_script_enabled=False)
    try:
        chat = Chat(context, demo, "8801933333333")  # retail2
        chat.send("HELP")  # a form post, then the page again
        assert chat.page.locator(".bubble.mine").last.inner_text().startswith("HELP")
        settle(demo)
        chat.page.reload()
        assert "BAL" in chat.received().last.inner_text()
    finally:
        context.close()

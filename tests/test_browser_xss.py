"""XSS in a real browser (issue 10): what hosts and users send is shown, never run.

Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright, as in
tests/test_browser_demo.py) loads the web chat and the admin page of a real
``wa-addon demo`` stack after the host renamed a reseller to a script and the
reseller sent one as a chat.  Each payload, if it ran, would set a global
``__x...`` of the page; the test asserts that none is set, and that the
payload is on the page as text (so it was rendered at all: a page that
dropped it would prove nothing).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_pages import AdminPage, Chat, settle
from conftest import drop_namespace

from wa_addon import demo as demo_mod
from wa_addon.redis_server import free_port
from wa_addon.sandbox import SandboxDB
from wa_addon.settings import Settings
from wa_addon.testing.chromium import CHROMIUM, FLAGS

RETAIL2 = "8801933333333"
# Each payload, if it runs, sets a global of its own named __x...; the host keeps names to 100 characters.
NAME = "<img src=x onerror=__ximg=1>Rahim</script><script>__xname=1</script>"
TEXT = (
    "</script><script>__xtext=1</script><svg onload=__xsvg=1><b>bold</b>"
    "<iframe srcdoc='<script>parent.__xframe=1</script>'></iframe>{{7*7}}"
)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"Debian's Chromium is not installed ({CHROMIUM}); apt-get install chromium"
)


@pytest.fixture(scope="module")
def demo(redis_url, tmp_path_factory) -> Iterator[demo_mod.Demo]:
    """The demo stack; the host renames retail2 to a script (as a host's admin might, by mistake or not)."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    state = tmp_path_factory.mktemp("demo-xss")
    running = demo_mod.start(Settings(redis_url=redis_url, namespace=namespace), free_port(), state, echo=None)
    try:  # a failing rename must not leave the demo's worker process behind
        SandboxDB(str(state / "host.sqlite3")).update_reseller("retail2", {"name": NAME})
        yield running
    finally:
        running.stop()
    drop_namespace(redis_url, namespace)


@pytest.fixture(scope="module")
def page(demo) -> Iterator[object]:
    """One browser context for the module: the reseller chats first, the admin page reads it all after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context()
        dialogs: list[str] = []
        context.on("page", lambda p: p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
        yield context, dialogs
        context.close()
        browser.close()


def ran(p) -> list[str]:
    """The payloads that ran on page ``p``: the globals they set."""
    return sorted(p.evaluate("Object.keys(window).filter(k => k.startsWith('__x'))"))


def test_a_hostile_name_and_chat_text_are_shown_as_text_in_the_web_chat(demo, page):
    context, dialogs = page
    chat = Chat(context, demo, RETAIL2)
    chat.send(TEXT)
    chat.send("BAL")
    chat.expect(re.escape(NAME))  # the balance starts with the host's name for retail2, added by the page's script
    settle(demo)
    chat.page.reload()  # and rendered by the server
    texts = chat.page.locator(".bubble").all_inner_texts()
    assert any(TEXT in t for t in texts) and any(t.startswith(NAME) for t in texts)
    assert chat.page.locator("#messages b, #messages img, #messages svg, #messages script").count() == 0
    assert ran(chat.page) == [] and dialogs == []


def test_the_admin_page_shows_them_as_text(demo, page):
    context, dialogs = page
    admin = AdminPage(context, demo).page
    admin.wait_for_selector("#messages-in")
    assert TEXT in admin.inner_text("#messages-in")
    assert NAME in admin.inner_text("#messages-out")  # the BAL reply, with the name
    assert admin.locator("#messages-in b, #messages-out img, #messages-in svg, main script").count() == 0
    assert ran(admin) == [] and dialogs == []


def test_the_checks_would_see_a_payload_that_ran(demo, page):
    """The same payloads, put on a page unescaped, are counted: the checks above can fail."""
    context, _ = page
    probe = context.new_page()
    probe.set_content(f"<html><body><p>{NAME}</p><p>{TEXT}</p></body></html>")
    probe.wait_for_function("Object.keys(window).filter(k => k.startsWith('__x')).length >= 5")
    assert ran(probe) == ["__xframe", "__ximg", "__xname", "__xsvg", "__xtext"]

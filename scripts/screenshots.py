"""Screenshots of the admin page and the demo's web chat, for the README.

Runs the real demo stack (as ``wa-addon demo`` does), plays a short
conversation in the web chat (a reseller's recharge, the admin completing it),
and saves, under ``docs/``::

    admin-page.png        web-chat.png          (desktop, 1280 px wide)
    admin-page-phone.png  web-chat-phone.png    (phone, 390 px wide)
    guided-flow-phone.png                       (a Bengali reseller's FL, step by step)
    interactive-alert-phone.png                 (the Graph API body of a balance-request
                                                 alert with its buttons, drawn as WhatsApp shows it)

Usage::

    .venv/bin/python scripts/screenshots.py [--out docs]

Needs Debian's Chromium (``apt-get install chromium``) and the ``playwright``
package (``pip install -e '.[test]'``); Bengali and emoji glyphs need
``apt-get install fonts-noto-core fonts-noto-color-emoji``.  Redis: ``WA_REDIS_URL``,
else a private embedded one.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from wa_addon import demo as demo_mod
from wa_addon.cli import ensure_redis
from wa_addon.messages import Outbound
from wa_addon.redis_server import free_port
from wa_addon.render import Renderer, choice, label
from wa_addon.settings import Settings
from wa_addon.testing.chromium import CHROMIUM, FLAGS
from wa_addon.transports.cloud import build_body

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
ADMIN, RETAIL1, RETAIL2 = "8801711000000", "8801822222222", "8801933333333"
WAIT_MS = 45_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", type=Path, help="folder for the PNG files")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    _warn_fonts()
    state = Path(tempfile.mkdtemp(prefix="wa-shots-"))
    settings = ensure_redis(
        Settings.from_env().with_(state_dir=str(state), namespace=f"shots{uuid.uuid4().hex[:8]}"), start="private"
    )  # stops with this script: its state folder is a temporary one
    demo = demo_mod.start(settings, free_port(), state, echo=None)
    try:
        _shoot(demo, out)
    finally:
        demo.stop()
        shutil.rmtree(state, ignore_errors=True)
    shots = ("*-page*.png", "web-chat*.png", "guided-flow*.png", "interactive-alert*.png")
    print("\n".join(str(p) for pattern in shots for p in sorted(out.glob(pattern))))


def _shoot(demo: demo_mod.Demo, out: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport=DESKTOP)
        request_id = _play(page, demo)
        _admin_page(page, demo)
        page.set_viewport_size({"width": DESKTOP["width"], "height": 1240})  # down to the phones
        page.screenshot(path=str(out / "admin-page.png"))
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(out / "admin-page-phone.png"))
        page.set_viewport_size(DESKTOP)
        _chat(page, demo, RETAIL1)
        expect(page.locator(".bubble.theirs").filter(has_text=f"#{request_id} successful")).to_be_visible(
            timeout=WAIT_MS
        )
        page.screenshot(path=str(out / "web-chat.png"))
        page.set_viewport_size(PHONE)
        page.locator("#messages").evaluate("box => box.scrollTop = box.scrollHeight")
        page.screenshot(path=str(out / "web-chat-phone.png"))
        _guided(page, demo, out)
        _interactive_alert(page, out)
        browser.close()


def _guided(page: Page, demo: demo_mod.Demo, out: Path) -> None:
    """Salma (Bengali) sends FL alone and is asked for the number, the amount and the PIN."""
    page.set_viewport_size(PHONE)
    _chat(page, demo, RETAIL2)
    _say(page, "FL", "১/৩")
    _say(page, "01712345678", "২/৩")
    _say(page, "৫০", "৩/৩")
    _say(page, "5678", "নেওয়া হয়েছে")
    page.locator("#messages").evaluate("box => box.scrollTop = box.scrollHeight")
    page.screenshot(path=str(out / "guided-flow-phone.png"))


def _interactive_alert(page: Page, out: Path) -> None:
    """The admin's balance-request alert as the Cloud API gets it (build_body), drawn as a phone shows it."""
    text = Renderer().render(
        "bn", "notify_balance_request", id=7, amount="1000", name="Karim Store", username="retail1", note="Eid stock"
    )
    taps = [choice("ACCEPT 7", label("accept", "bn")), choice("DENY 7", label("deny", "bn"))]
    body = build_body(Outbound("shot", ADMIN, text, choices=taps))["interactive"]
    buttons = "".join(f"<div class=b>{html.escape(b['reply']['title'])}</div>" for b in body["action"]["buttons"])
    page.set_viewport_size(PHONE)
    page.set_content(ALERT_PAGE.format(text=html.escape(body["body"]["text"]), buttons=buttons))
    page.locator("#shot").screenshot(path=str(out / "interactive-alert-phone.png"))


ALERT_PAGE = """<!doctype html><meta charset=utf-8><style>
body {{ margin: 0; background: #efeae2; font: 16px 'Noto Sans Bengali', 'Noto Sans', sans-serif; }}
.m {{ margin: 24px 16px; max-width: 320px; background: #fff; border-radius: 8px; box-shadow: 0 1px 1px #0002; }}
.t {{ padding: 10px 12px; white-space: pre-wrap; }}
.b {{ border-top: 1px solid #eee; padding: 10px; text-align: center; color: #00a5f4; font-weight: 600; }}
</style><div id=shot style="padding: 1px 0"><div class=m><div class=t>{text}</div>{buttons}</div></div>"""


def _play(page: Page, demo: demo_mod.Demo) -> str:
    """A reseller checks the balance and recharges; the admin completes it.  Returns the request id."""
    _chat(page, demo, RETAIL1)
    _say(page, "BAL", "balance")
    placed = _say(page, "FL 01712345678 50 4321", r"Request #\d+ received")
    request_id = re.search(r"#(\d+)", placed).group(1)  # type: ignore[union-attr]
    _chat(page, demo, ADMIN)
    _wait_for(page, f"COMPLETE {request_id} ")
    _say(page, f"COMPLETE {request_id} TRX123", "TRX123")
    return request_id


def _chat(page: Page, demo: demo_mod.Demo, who: str) -> None:
    page.goto(f"{demo.url}/chat?who={who}")


def _say(page: Page, text: str, reply: str) -> str:
    page.fill("#text", text)
    page.click("#send")
    return _wait_for(page, reply)


def _wait_for(page: Page, pattern: str) -> str:
    bubble = page.locator(".bubble.theirs").filter(has_text=re.compile(pattern)).last
    expect(bubble).to_be_visible(timeout=WAIT_MS)
    return bubble.inner_text()


def _admin_page(page: Page, demo: demo_mod.Demo) -> None:
    page.goto(f"{demo.url}{demo.settings.prefix}/admin")
    page.fill("#token", demo.settings.admin_token)
    page.click("#sign-in")
    page.wait_for_selector("#notifications")


def _warn_fonts() -> None:
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=bn"], capture_output=True, text=True, check=False).stdout if fc_list else ""
    if not fonts.strip():
        print("warning: no Bengali font; apt-get install fonts-noto-core fonts-noto-color-emoji")


if __name__ == "__main__":
    main()

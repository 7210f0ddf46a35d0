"""`wa-addon demo` runs the whole stack on embedded defaults and answers chats."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from wa_addon import demo
from wa_addon.redis_server import free_port
from wa_addon.sandbox.seed import RESELLERS
from wa_addon.settings import Settings


def test_demo_answers_a_reseller_through_the_simulated_phone(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}  # embedded everything
    proc = subprocess.Popen(
        [sys.executable, "-m", "wa_addon.cli", "demo", "--port", str(free_port()), "--state-dir", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen: list[str] = []
    replied, paid = threading.Event(), threading.Event()

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("-> 8801822222222: Karim Store: balance"):
                replied.set()
            if line.startswith("-> 8801711000000: 💰 Karim Store (retail1)-কে ৳৫"):
                paid.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        proc.stdin.write("8801822222222: BAL\n")
        proc.stdin.flush()
        assert replied.wait(60), "".join(seen)
        proc.stdin.write("8801711000000: ADDBAL retail1 5\n")  # the demo's phone is bound to the admin
        proc.stdin.flush()
        assert paid.wait(60), "".join(seen)
        assert any("8801711000000" in line for line in seen)  # the banner lists the seeded accounts
        assert (tmp_path / "redis").is_dir() and (tmp_path / "host.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(20)


def _banner(**settings) -> str:
    return demo.banner(demo.Demo(Settings(**settings), "http://127.0.0.1:8000", None))


@pytest.mark.parametrize(
    ("host_key", "shown"),
    [
        (demo.DEMO_HOST_KEY, f"key: {demo.DEMO_HOST_KEY}"),
        ("the-users-real-host-key", "key: (from WA_HOST_KEY)"),
    ],
)
def test_the_banner_prints_only_the_demos_own_host_key(host_key, shown):
    text = _banner(host_key=host_key)
    assert shown in text
    if host_key != demo.DEMO_HOST_KEY:
        assert host_key not in text


def test_the_banner_lists_the_seeded_accounts_from_the_seed():
    text = _banner(host_key=demo.DEMO_HOST_KEY)
    lines = text.split("Seeded accounts")[1].split("\n\n")[0].splitlines()
    for _id, username, _name, phone, _level, parent, balance, pin, status, language, _services in RESELLERS:
        row = next(line.split() for line in lines if line.split()[:1] == [username])
        want = [phone, "-", "(mints)"] if parent is None else [phone, pin, f"{balance:.2f}"]
        assert row[1:4] == want and row[4] == language
        assert (status in " ".join(row[5:])) == (status != "active")


def _demo_run(state_dir, *args: str, say: str = "", until: str = "Replies and notifications") -> str:
    """Run ``wa-addon demo`` until a line starting with ``until`` is printed; everything printed till then."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wa_addon.cli",
            "demo",
            "--port",
            str(free_port()),
            "--state-dir",
            str(state_dir),
            *args,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            if line.strip().startswith(until):
                done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if say:
            proc.stdin.write(say + "\n")
            proc.stdin.flush()
        assert done.wait(60), "".join(seen)
        return "".join(seen)
    finally:
        proc.terminate()
        proc.wait(20)


def _retail1_balance(banner: str) -> str:
    return next(line.split()[3] for line in banner.splitlines() if line.split()[:1] == ["retail1"])


def test_the_banner_shows_balances_now_and_reset_starts_from_the_seed(tmp_path):
    _demo_run(tmp_path, say="8801822222222: FL 01712345678 50 4321", until="-> 8801822222222: ✅ Request")
    assert _retail1_balance(_demo_run(tmp_path)) == "2450.00"  # not the seed's 2500.00: no longer true
    assert _retail1_balance(_demo_run(tmp_path, "--reset")) == "2500.00"
    assert _retail1_balance(_demo_run(tmp_path)) == "2500.00"  # the reset host database is the one kept

"""`wa-addon demo` runs the whole stack on embedded defaults and answers chats."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from wa_addon.redis_server import free_port


def test_demo_answers_a_reseller_through_the_simulated_phone(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}  # embedded everything
    proc = subprocess.Popen(
        [sys.executable, "-m", "wa_addon.cli", "demo", "--port", str(free_port()), "--state-dir", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    seen: list[str] = []
    replied = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("-> 8801822222222: Karim Store: balance"):
                replied.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        proc.stdin.write("8801822222222: BAL\n")
        proc.stdin.flush()
        assert replied.wait(60), "".join(seen)
        assert any("8801711000000" in line for line in seen)  # the banner lists the seeded accounts
        assert (tmp_path / "redis").is_dir() and (tmp_path / "host.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(20)

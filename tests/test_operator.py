"""What an operator trips over on a fresh machine: each trap as a new user meets it."""

from __future__ import annotations

import os
import subprocess
import sys

import redis
from click.testing import CliRunner
from conftest import HOST_KEY, settings_env

from wa_addon import doctor, redis_server
from wa_addon.host.conformance import run_checks
from wa_addon.host.http import HttpHost, root_url
from wa_addon.settings import Settings


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``wa-addon ARGS`` in a child process (its exit runs the atexit stops), with only ``env`` of WA_*."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return subprocess.run(
        [sys.executable, "-m", "wa_addon.cli", *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_host_url_is_taken_with_or_without_the_api_prefix(sandbox):
    assert root_url("http://h:8/api/v1/") == root_url("http://h:8/api/v1") == root_url("http://h:8") == "http://h:8"
    assert HttpHost(sandbox + "/api/v1", HOST_KEY).list_services() == HttpHost(sandbox, HOST_KEY).list_services()
    checked = Settings(host_url=sandbox + "/api/v1/", host_key=HOST_KEY)
    assert doctor.check_host(checked).ok, doctor.check_host(checked).detail


def test_check_host_passes_against_the_url_the_demo_prints(sandbox):
    results = run_checks(sandbox + "/api/v1", HOST_KEY)
    assert all(r.ok for r in results), [r for r in results if not r.ok]


def test_doctor_blames_the_url_not_the_key_for_a_404(sandbox):
    wrong_path = doctor.check_host(Settings(host_url=sandbox + "/panel", host_key=HOST_KEY))
    assert not wrong_path.ok and "WA_HOST_URL" in wrong_path.detail and "WA_HOST_KEY" not in wrong_path.detail
    wrong_key = doctor.check_host(Settings(host_url=sandbox, host_key="wrong"))
    assert not wrong_key.ok and "WA_HOST_KEY" in wrong_key.detail


def test_doctor_with_nothing_set_says_the_cloud_transport_is_not_configured(tmp_path):
    cloud = doctor.check_cloud(Settings(state_dir=str(tmp_path)))
    assert not cloud.ok and cloud.detail.startswith("not configured: set WA_CLOUD_TOKEN")
    assert "unreachable" not in cloud.detail and "WA_TRANSPORTS=device" in cloud.detail


def test_a_one_off_command_stops_the_embedded_redis_it_started(tmp_path):
    state = str(tmp_path)
    added = cli("device", "add", "shop-1", WA_STATE_DIR=state, WA_TRANSPORTS="device")
    assert added.returncode == 0 and added.stdout.startswith("wad_"), added.stderr
    assert redis_server.running(tmp_path / "redis") is None  # nothing left running
    listed = cli("device", "list", WA_STATE_DIR=state, WA_TRANSPORTS="device")
    assert listed.returncode == 0 and "shop-1" in listed.stdout, listed.stderr  # kept on disk between runs
    assert redis_server.running(tmp_path / "redis") is None


def test_a_one_off_command_uses_the_shared_embedded_redis_and_leaves_it_running(tmp_path):
    url, _ = redis_server.shared(tmp_path / "redis")  # as `wa-addon serve` leaves it
    try:
        assert cli("device", "add", "shop-1", WA_STATE_DIR=str(tmp_path)).returncode == 0
        assert redis_server.running(tmp_path / "redis") == url
        assert redis.Redis.from_url(url).hlen("wa:dev:tokens") == 1
    finally:
        redis.Redis.from_url(url).shutdown(nosave=True)


def test_send_finds_the_embedded_redis_of_the_state_folder(tmp_path, graph):
    from conftest import GRAPH_TOKEN, PHONE_NUMBER_ID

    from wa_addon.queue.outbox import out_lane
    from wa_addon.runtime import Runtime

    url, _ = redis_server.shared(tmp_path / "redis")
    cloud = {
        "WA_CLOUD_TOKEN": GRAPH_TOKEN,
        "WA_CLOUD_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WA_CLOUD_APP_SECRET": "s",
        "WA_CLOUD_VERIFY_TOKEN": "v",
        "WA_CLOUD_GRAPH_URL": graph.url,
    }
    try:
        sent = cli("send", "01822222222", "hello", WA_STATE_DIR=str(tmp_path), **cloud)
        assert sent.returncode == 0 and "queued" in sent.stdout and "on cloud" in sent.stdout, sent.stderr
        rt = Runtime(Settings(redis_url=url), host=None)  # type: ignore[arg-type]
        assert rt.lanes[out_lane("cloud")].depth() == 1
    finally:
        redis.Redis.from_url(url).shutdown(nosave=True)


def test_send_refuses_a_transport_that_is_not_configured(redis_url, namespace):
    from wa_addon.cli import main

    settings = Settings(redis_url=redis_url, namespace=namespace)
    runner = CliRunner(env=settings_env(settings))
    bare = runner.invoke(main, ["send", "01822222222", "hello"])
    assert bare.exit_code == 1
    assert "not queued: the cloud transport is not configured: set WA_CLOUD_TOKEN" in bare.output
    phones = CliRunner(env=settings_env(settings.with_(transports=("device",))))
    no_phone = phones.invoke(main, ["send", "01822222222", "hello"])
    assert no_phone.exit_code == 1 and "wa-addon device add" in no_phone.output
    other = phones.invoke(main, ["send", "--transport", "cloud", "01822222222", "hello"])
    assert other.exit_code == 1 and "not in WA_TRANSPORTS" in other.output
    assert not redis.Redis.from_url(redis_url).keys(f"{namespace}:lane:*")  # nothing queued


def test_failed_list_and_retry_from_the_command_line(redis_url, namespace):
    from wa_addon.cli import main
    from wa_addon.messages import Outbound
    from wa_addon.queue.outbox import out_lane
    from wa_addon.runtime import Runtime

    settings = Settings(redis_url=redis_url, namespace=namespace)
    rt = Runtime(settings, host=None)  # type: ignore[arg-type]
    for msg in (
        Outbound(id="f1", to="8801822222222", text="hello"),
        Outbound(id="f2", to="8801933333333", text="PIN 1234", secret=True),
    ):
        rt.conn.rpush(rt.keys.failed("cloud"), msg.to_json())  # as the outbox leaves a permanent failure
    rt.conn.hset(rt.keys.msg("f1"), "error", "131026: undeliverable")
    rt.conn.rpush(rt.keys.dead("in"), "{}")
    runner = CliRunner(env=settings_env(settings))
    listed = runner.invoke(main, ["failed", "list"])
    assert listed.exit_code == 0, listed.output
    assert "f1  to 8801822222222" in listed.output and "131026: undeliverable" in listed.output
    assert "1234" not in listed.output and "(hidden)" in listed.output
    assert "2 failed, 1 dead letter(s)" in listed.output and "dead in  " in listed.output
    assert runner.invoke(main, ["failed", "retry", "f1"]).output.strip() == "1 message(s) back in the outbox"
    assert rt.lanes[out_lane("cloud")].depth() == 1 and rt.conn.llen(rt.keys.failed("cloud")) == 1
    assert runner.invoke(main, ["failed", "retry", "f1"]).exit_code == 1  # not failed any more
    assert runner.invoke(main, ["failed", "retry", "--transport", "device"]).exit_code == 2
    assert runner.invoke(main, ["failed", "retry"]).output.strip() == "1 message(s) back in the outbox"

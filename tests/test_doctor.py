"""`wa-addon doctor` tells what works and what does not, without secrets."""

from __future__ import annotations

from wa_addon import doctor
from wa_addon.redis_server import EmbeddedRedis, free_port
from wa_addon.settings import Settings


def test_a_healthy_stack_passes_every_check(stack_settings):
    settings = stack_settings.with_(hook_secret="s3cret-hook")
    checks = doctor.run(settings)
    assert all(c.ok for c in checks), doctor.format_report(checks)
    report = doctor.format_report(checks)
    assert "+880 1700-000000" in report  # the Graph API's answer for the phone number id
    for secret in (settings.cloud_token, settings.host_key, settings.hook_secret, settings.cloud_app_secret):
        assert secret not in report


def test_failures_are_named(stack_settings):
    settings = stack_settings.with_(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", host_key="wrong", cloud_token="not-the-token", hook_secret=""
    )
    by_name = {c.name: c for c in doctor.run(settings)}
    assert not by_name["redis"].ok
    assert not by_name["host"].ok and "WA_HOST_KEY" in by_name["host"].detail
    assert not by_name["settings"].ok and "WA_HOOK_SECRET" in by_name["settings"].detail
    assert not by_name["cloud"].ok and "190" in by_name["cloud"].detail  # Meta's "token invalid"
    unset = {c.name: c for c in doctor.run(settings.with_(cloud_token=""))}
    assert "WA_CLOUD_TOKEN" in unset["settings"].detail and "not configured" in unset["cloud"].detail


def test_missing_settings_are_listed_in_order_with_the_admin_pages_cloud_list():
    from wa_addon.admin.views import CLOUD_SETTINGS, cloud_missing

    bare = Settings(transports=("cloud", "device"))
    cloud = ["WA_CLOUD_TOKEN", "WA_CLOUD_PHONE_NUMBER_ID", "WA_CLOUD_APP_SECRET", "WA_CLOUD_VERIFY_TOKEN"]
    assert cloud_missing(bare) == cloud and all(name in [env for env, *_ in CLOUD_SETTINGS] for name in cloud)
    assert doctor.check_settings(bare).detail == "not set: " + ", ".join(
        ["WA_HOST_URL", "WA_HOST_KEY", "WA_HOOK_SECRET", "WA_ADMIN_NUMBERS", *cloud]
    )
    assert "WA_CLOUD" not in doctor.check_settings(bare.with_(transports=("device",))).detail


def test_an_unknown_time_zone_is_flagged():
    full = Settings(
        host_url="http://h", host_key="k", hook_secret="s", admin_numbers=("8801711000000",), transports=("device",)
    )
    assert doctor.check_settings(full).ok
    wrong = doctor.check_settings(full.with_(timezone="Asia/Dacca_"))
    assert not wrong.ok and "WA_TIMEZONE" in wrong.detail


def test_without_redis_url_it_reports_the_embedded_redis_of_the_state_folder(tmp_path):
    settings = Settings(state_dir=str(tmp_path))
    idle = doctor.check_redis(settings)
    assert idle.ok and "no embedded Redis running" in idle.detail and "share" in idle.detail
    with EmbeddedRedis(tmp_path / "redis", persist=False) as server:
        running = doctor.check_redis(settings)
    assert running.ok and server.url in running.detail and str(tmp_path / "redis") in running.detail


def test_the_graph_api_version_defaults_to_a_current_one_and_warns_before_retirement():
    from datetime import date

    from wa_addon.transports import graph_versions

    assert Settings().cloud_api_version == "v26.0"
    assert graph_versions.retires_on("v21.0") == date(2027, 1, 21)
    cloud = Settings(transports=("cloud",))
    fresh = doctor.check_graph_version(cloud, today=date(2026, 11, 30))
    assert fresh.ok and not fresh.warn and "no retirement date" in fresh.detail
    old = cloud.with_(cloud_api_version="v21.0")
    far = doctor.check_graph_version(old, today=date(2026, 11, 1))  # 81 days left
    assert far.ok and not far.warn
    near = doctor.check_graph_version(old, today=date(2026, 11, 30))  # 52 days left
    assert near.ok and near.warn and "2027-01-21" in near.detail and "WA_CLOUD_API_VERSION=v26.0" in near.detail
    assert doctor.format_report([near]).startswith("WARN graph api")
    gone = doctor.check_graph_version(cloud.with_(cloud_api_version="v17.0"), today=date(2026, 11, 30))
    assert not gone.ok and "retired" in gone.detail
    assert doctor.check_graph_version(Settings(transports=("device",))).detail == "not configured"


def test_the_version_is_a_setting():
    assert Settings.from_env({"WA_CLOUD_API_VERSION": "v25.0"}).graph_base == "https://graph.facebook.com/v25.0"

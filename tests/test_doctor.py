"""`wa-addon doctor` tells what works and what does not, without secrets."""

from __future__ import annotations

from wa_addon import doctor
from wa_addon.redis_server import free_port


def test_a_healthy_stack_passes_every_check(stack_settings):
    settings = stack_settings.with_(hook_secret="s3cret-hook")
    checks = doctor.run(settings)
    assert all(c.ok for c in checks), doctor.format_report(checks)
    report = doctor.format_report(checks)
    assert "+880 1700-000000" in report  # the Graph API's answer for the phone number id
    for secret in (settings.cloud_token, settings.host_key, settings.hook_secret, settings.cloud_app_secret):
        assert secret not in report


def test_failures_are_named(stack_settings):
    settings = stack_settings.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0", host_key="wrong",
                                    cloud_token="", hook_secret="")
    by_name = {c.name: c for c in doctor.run(settings)}
    assert not by_name["redis"].ok
    assert not by_name["host"].ok and "WA_HOST_KEY" in by_name["host"].detail
    assert not by_name["settings"].ok and "WA_CLOUD_TOKEN" in by_name["settings"].detail
    assert not by_name["cloud"].ok and "190" in by_name["cloud"].detail

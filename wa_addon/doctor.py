"""``wa-addon doctor``: checks settings, Redis, the host and each transport.

Each check is a small function returning a :class:`Check`; nothing here
changes state, and no secret is printed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import redis
import requests

from wa_addon import redis_conn, redis_server
from wa_addon.admin.views import cloud_missing  # the admin page's list: one list, two reports
from wa_addon.host import HostError, HostUnavailable
from wa_addon.host.http import HttpHost
from wa_addon.redis_server import version_problem
from wa_addon.render import known_zone
from wa_addon.settings import DEFAULT_GRAPH_API_VERSION, Settings, state_dir_of
from wa_addon.transports import graph_versions
from wa_addon.transports.device import DeviceTransport


@dataclass(frozen=True)
class Check:
    """One line of the report; ``warn``: works now, needs attention soon."""

    name: str
    ok: bool
    detail: str
    warn: bool = False


def check_settings(settings: Settings) -> Check:
    missing = _missing(settings)
    if missing:
        return Check("settings", False, "not set: " + ", ".join(missing))
    if not known_zone(settings.timezone):
        return Check("settings", False, f"WA_TIMEZONE {settings.timezone!r} is no time zone (e.g. Asia/Dhaka)")
    return Check("settings", True, f"transports {', '.join(settings.transports)}; prefix {settings.prefix}")


def _missing(settings: Settings) -> list[str]:
    need = {
        "WA_HOST_URL": settings.host_url,
        "WA_HOST_KEY": settings.host_key,
        "WA_HOOK_SECRET": settings.hook_secret,
        "WA_ADMIN_NUMBERS": ",".join(settings.admin_numbers),
    }
    missing = [name for name, value in need.items() if not value]
    return missing + (cloud_missing(settings) if "cloud" in settings.transports else [])


def check_redis(settings: Settings) -> Check:
    if settings.redis_sentinels:
        return _sentinel_master(settings)
    if not settings.redis_url:
        return _embedded_redis(settings)
    return _redis_version(settings, "")  # never the URL: it may hold a password


def _sentinel_master(settings: Settings) -> Check:
    """The sentinels asked, and the master they name now."""
    where = f"; sentinels {', '.join(settings.redis_sentinels)}, master {settings.redis_sentinel_master}"
    try:
        host, port = redis_conn.master_address(settings)
    except redis.exceptions.RedisError as exc:
        why = redis_conn.sentinel_refusal(settings) or type(exc).__name__
        return Check("redis", False, f"no master from the sentinels: {why}{where}")
    return _redis_version(settings, f"{where} at {host}:{port}")


def _redis_version(settings: Settings, where: str) -> Check:
    try:
        version = str(redis_conn.connect(settings, socket_timeout=3).info("server").get("redis_version", "?"))
    except redis.exceptions.AuthenticationError:
        return Check(
            "redis",
            False,
            f"the password was refused: set WA_REDIS_PASSWORD (and WA_REDIS_USERNAME "
            f"with an ACL user) or the URL's{where}",
        )
    except redis.exceptions.RedisError as exc:
        return Check("redis", False, f"unreachable: {type(exc).__name__}{where}")
    problem = version_problem(version)
    return Check("redis", problem is None, (problem or f"redis {version}") + where)


def embedded_url(settings: Settings) -> str | None:
    """The URL of the embedded Redis of the settings' state folder, if one runs."""
    return redis_server.running(state_dir_of(settings) / "redis")


def _embedded_redis(settings: Settings) -> Check:

    folder = state_dir_of(settings) / "redis"
    url = embedded_url(settings)
    if url is None:
        return Check(
            "redis",
            True,
            f"WA_REDIS_URL unset, no embedded Redis running in {folder}: "
            "serve and worker start one there (and share it)",
        )
    where = f"; WA_REDIS_URL unset: the embedded Redis of {folder} runs at {url}"
    return _redis_version(settings.with_(redis_url=url), where)


def check_host(settings: Settings) -> Check:
    if not settings.host_url:
        return Check("host", False, "WA_HOST_URL not set")
    try:
        services = HttpHost(settings.host_url, settings.host_key, timeout=5).list_services()
    except HostUnavailable as exc:
        return Check("host", False, f"unreachable: {exc}")
    except HostError as exc:
        return Check("host", False, f"refused: {exc.code} ({_host_hint(exc.status)})")
    return Check("host", True, f"{len(services)} services at {settings.host_url}")


def _host_hint(status: int) -> str:
    """What to look at for a refusal: the key only when the host said it was the key."""
    if status in (401, 403):
        return "is WA_HOST_KEY right?"
    if status == 404:
        return "is WA_HOST_URL the host's root URL? /api/v1 is added to it"
    return f"HTTP {status}"


def check_cloud(settings: Settings) -> Check:
    if "cloud" not in settings.transports:
        return Check("cloud", True, "not configured")
    missing = cloud_missing(settings)
    if missing:
        return Check(
            "cloud",
            False,
            f"not configured: set {', '.join(missing)}, or WA_TRANSPORTS=device to use Android phones instead",
        )
    url = f"{settings.graph_base}/{settings.cloud_phone_number_id}"
    try:
        resp = requests.get(url, headers={"Authorization": f"Bearer {settings.cloud_token}"}, timeout=5)
    except requests.RequestException as exc:
        return Check("cloud", False, f"Graph API unreachable: {type(exc).__name__}")
    if resp.status_code != 200:
        code = (resp.json().get("error") or {}).get("code") if _is_json(resp) else None
        return Check("cloud", False, f"Graph API answered {resp.status_code} (error.code {code})")
    return Check("cloud", True, f"phone number {resp.json().get('display_phone_number', '?')}")


def check_graph_version(settings: Settings, today: date | None = None) -> Check:
    """Whether ``WA_CLOUD_API_VERSION`` is far from the day Meta retires it."""
    if "cloud" not in settings.transports:
        return Check("graph api", True, "not configured")
    version = settings.cloud_api_version
    left = graph_versions.days_left(version, today or date.today())
    newest = f"set WA_CLOUD_API_VERSION={DEFAULT_GRAPH_API_VERSION}"
    if left is None:
        return Check("graph api", True, f"{version}: no retirement date announced")
    if left < 0:
        return Check("graph api", False, f"{version} is retired: {newest}")
    detail = f"{version} retires on {graph_versions.retires_on(version)} (in {left} days)"
    if left <= graph_versions.WARN_DAYS:
        return Check("graph api", True, f"{detail}: {newest}", warn=True)
    return Check("graph api", True, detail)


def _is_json(resp: requests.Response) -> bool:
    return resp.headers.get("Content-Type", "").startswith("application/json")


def check_device(settings: Settings) -> Check:
    if "device" not in settings.transports:
        return Check("device", True, "not configured")
    url = settings.redis_url or embedded_url(settings) or ""
    if not url and not settings.redis_sentinels:
        return Check("device", False, "no Redis to read the phones from: set WA_REDIS_URL, or start serve or worker")
    try:
        phones = DeviceTransport(settings.with_(redis_url=url)).tokens.phones()
    except redis.exceptions.RedisError:
        return Check("device", False, "Redis unreachable")
    online = [p.name for p in phones if p.online]
    return Check("device", bool(online), f"{len(online)} of {len(phones)} phones online: {', '.join(online) or '-'}")


def not_ready(settings: Settings, transport: str) -> str | None:
    """Why a message queued on ``transport`` would never leave, or None (``wa-addon send``).

    ``settings.redis_url`` (or ``redis_sentinels``) must be set (the device transport reads its phones there).
    """
    if transport not in settings.transports:
        return f"transport {transport} is not in WA_TRANSPORTS ({','.join(settings.transports)})"
    if transport == "cloud" and cloud_missing(settings):
        return f"the cloud transport is not configured: set {', '.join(cloud_missing(settings))}"
    if transport == "device" and not DeviceTransport(settings).tokens.phones():
        return "no phone is registered for the device transport: wa-addon device add NAME"
    return None


CHECKS: list[Callable[[Settings], Check]] = [
    check_settings,
    check_redis,
    check_host,
    check_cloud,
    check_graph_version,
    check_device,
]


def run(settings: Settings) -> list[Check]:
    """Every check, in order."""
    return [check(settings) for check in CHECKS]


def format_report(checks: list[Check]) -> str:
    return "\n".join(f"{_mark(c)} {c.name:9} {c.detail}" for c in checks)


def _mark(check: Check) -> str:
    return "FAIL" if not check.ok else "WARN" if check.warn else "ok  "

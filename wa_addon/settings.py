"""One :class:`Settings` object, read from ``WA_*`` variables in one place.

An optional TOML file (``WA_CONFIG`` or ``--config``) may hold the same
``WA_*`` names; the environment wins over the file.  Runtime switches that the
admin flips (add-on on/off, notification kinds, ...) are not here: they live
in Redis, see :mod:`wa_addon.switches`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
# Meta's newest Graph API version (2026-07-29); retirement dates: transports/graph_versions.py.
DEFAULT_GRAPH_API_VERSION = "v26.0"


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Deployment settings.  Each field maps to ``WA_<FIELD NAME UPPERCASE>``."""

    redis_url: str = ""  # empty: start the embedded Redis (unless sentinels are set)
    # "host:port" of Redis Sentinels; when set, the master of redis_sentinel_master is used (redis_conn.py).
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "mymaster"
    # The master's user and password (with a WA_REDIS_URL that has its own, the URL's win).
    redis_username: str = ""
    redis_password: str = field(default="", repr=False)  # never in a repr, a log or a traceback
    # The sentinels' own user and password (their requirepass / ACL), not the master's.
    redis_sentinel_username: str = ""
    redis_sentinel_password: str = field(default="", repr=False)
    redis_tls: bool = False  # TLS to the master (a WA_REDIS_URL may say rediss:// instead)
    redis_sentinel_tls: bool = False  # TLS to the sentinels
    redis_tls_ca_certs: str = ""  # the CA file that signed the servers' certificates; empty: the system's
    redis_tls_certfile: str = ""  # a client certificate and its key, for servers with tls-auth-clients yes
    redis_tls_keyfile: str = ""
    # With sentinels: a webhook or host event is acknowledged only once this many replicas
    # have it (Redis WAIT, up to redis_wait_ms), else 503 and the sender retries; 0: off.
    redis_wait_replicas: int = 1
    redis_wait_ms: int = 1000
    namespace: str = "wa"  # every Redis key and RQ queue name starts with it
    prefix: str = "/wa"
    state_dir: str = ""  # embedded Redis data, demo database; empty: ~/.wa-addon
    host_url: str = ""
    host_key: str = ""
    hook_secret: str = ""
    admin_numbers: tuple[str, ...] = ()
    admin_token: str = ""
    default_language: str = "bn"
    country: str = "BD"  # region for local phone numbers
    timezone: str = "Asia/Dhaka"  # IANA zone of every time shown in a reply
    low_balance: int = 500  # taka: the admin's RS (no argument) lists resellers below it
    guide_timeout: int = 300  # seconds a guided command (FL alone, ...) waits for the next answer
    transports: tuple[str, ...] = ("cloud",)
    cloud_token: str = ""
    cloud_phone_number_id: str = ""
    cloud_app_secret: str = ""
    cloud_verify_token: str = ""
    cloud_graph_url: str = DEFAULT_GRAPH_URL
    cloud_api_version: str = DEFAULT_GRAPH_API_VERSION  # doctor warns near its retirement
    cloud_timeout: float = 30.0  # read timeout of a send (connecting: 3 s); a later answer is a duplicate
    cloud_mps: float = 80.0  # messages/s per phone number id, shared by every worker (Meta's tier)
    send_window: int = 0  # sends in flight per worker process; 0: from cloud_mps (see send_slots)
    work_window: int = 16  # chats and host events run at once per worker process
    cloud_waba_id: str = ""  # WhatsApp Business Account id: `wa-addon templates --submit` posts there
    outbox_partitions: int = 8
    batch_size: int = 100
    duplicate_window: int = 600  # seconds a same number+amount request is held
    pin_max_failures: int = 5
    pin_window: int = 900
    pin_lockout: int = 900
    hook_tolerance: int = 300
    extra: Mapping[str, str] = field(default_factory=dict)
    request_stuck_after: int = 900  # seconds in processing before the admin is told
    balance_request_expiry: int = 86400  # seconds a balance request waits for ACCEPT / DENY
    otp_ttl: int = 300  # seconds a one-time code is good for
    otp_window: int = 900  # rate-limit window for one-time codes, per phone
    otp_max_per_window: int = 3
    otp_max_tries: int = 5  # wrong codes before the code is burnt
    # Approved Cloud API templates for outside the 24-hour window, as
    # "message:template" items (message: a notification's template file name,
    # e.g. notify_balance_added, or its switch kind, e.g. balance_added).
    cloud_templates: tuple[str, ...] = ()
    # The device transport (Android phones), see docs/device-protocol.md.
    device_lease: int = 30  # seconds a phone has to send a leased message and ack it
    device_poll_max: int = 25  # cap on GET /device/outbox?wait=N (below gunicorn's 30 s timeout)
    device_online: int = 60  # a phone heard from this recently counts as online
    device_max_attempts: int = 5  # leases that expired (or were revoked) before a message is failed
    # "phone:number;number" items: messages to those numbers go only through that phone.
    device_pins: tuple[str, ...] = ()
    # "contact name=number" items: AutoResponder and notification senders are names.
    device_names: tuple[str, ...] = ()
    device_reply_wait: float = 8.0  # seconds an AutoResponder exchange waits for the reply
    device_dedupe_window: int = 60  # seconds a repeated AutoResponder sender+text is one message
    # Phones (device names) that may relay the admin's money and secret commands without
    # the admin PIN; WA_ADMIN_PIN=always asks the PIN on every transport (commands/admin_pin.py).
    device_admin_phones: tuple[str, ...] = ()
    admin_pin: str = ""
    # Seals passwords, PINs and codes kept in Redis (sealing.py); unset: derived from the hook secret and host key.
    secret_key: str = ""
    # Host names the demo's web chat answers besides this machine's loopback (webchat.LocalOnly).
    demo_chat_hosts: tuple[str, ...] = ()
    # The admin page (standalone: WA_ADMIN_TOKEN signs in; see wa_addon/admin/auth.py).
    admin_session_ttl: int = 12 * 3600  # seconds a signed-in admin page session lasts
    # Reverse proxies whose X-Forwarded-For is believed (the admin sign-in throttle's client address).
    trusted_proxies: tuple[str, ...] = ()
    metrics_token: str = ""  # Bearer token for GET {prefix}/metrics (the admin token works too)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, config_file: str | None = None) -> Settings:
        """Settings from a TOML file (optional) overlaid by the environment."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        path = config_file or env.get("WA_CONFIG")
        if path:
            with open(path, "rb") as fh:
                values.update({k.upper(): v for k, v in tomllib.load(fh).items()})
        values.update({k: v for k, v in env.items() if k.startswith("WA_")})
        return cls._from_values(values)

    @classmethod
    def _from_values(cls, values: Mapping[str, Any]) -> Settings:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            key = "WA_" + f.name.upper()
            if f.name == "extra" or key not in values:
                continue
            kwargs[f.name] = _coerce(f.type, values[key])
        known = {"WA_" + f.name.upper() for f in fields(cls)} | {"WA_CONFIG"}
        kwargs["extra"] = {k: str(v) for k, v in values.items() if k not in known}
        return cls(**kwargs)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, demo)."""
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The ``WA_*`` variables that rebuild these settings in a child process (workers)."""
        env: dict[str, str] = dict(self.extra)
        for f in fields(self):
            if f.name != "extra":
                value = getattr(self, f.name)
                env["WA_" + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return env

    @property
    def replicas_to_wait(self) -> int:
        """Replicas an intake waits for: only where a failover may promote one (Sentinel)."""
        return max(0, self.redis_wait_replicas) if self.redis_sentinels else 0

    @property
    def send_slots(self) -> int:
        """Sends in flight per worker process: enough for the rate at ~0.5 s a send."""
        if self.send_window > 0:
            return self.send_window
        return max(16, min(256, int(self.cloud_mps / 2)))

    @property
    def graph_base(self) -> str:
        return f"{self.cloud_graph_url.rstrip('/')}/{self.cloud_api_version}"


def state_dir_of(settings: Settings) -> Path:
    """The folder for the embedded Redis and the demo database."""
    return Path(settings.state_dir or Path.home() / ".wa-addon")


def _coerce(kind: Any, value: Any) -> Any:
    kind = str(kind)
    if kind.startswith("tuple"):
        return tuple(value) if isinstance(value, list | tuple) else _csv(str(value))
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return _bool(value)
    return str(value)


TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off", ""})


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in TRUE | FALSE:
        raise ValueError(f"expected yes or no (1/0, true/false, on/off), got {value!r}")
    return word in TRUE

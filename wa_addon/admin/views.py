"""What the admin page shows and changes, without HTTP: plain functions of the runtime.

The HTML page and its JSON twin both read :func:`status` and write through
:func:`apply`, so they can never disagree.  Nothing here returns a secret:
Cloud API credentials are reported as set or not set, phone tokens only at
creation, and journal entries come already masked.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from wa_addon import journal
from wa_addon.messages import Outbound
from wa_addon.phones import parse_phone
from wa_addon.queue import dead
from wa_addon.queue.outbox import out_lane
from wa_addon.render import LANGUAGES
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings
from wa_addon.store import text
from wa_addon.switches import NOTIFICATION_KINDS
from wa_addon.transports.device import DeviceTransport

# The Cloud API settings the page checks; the secret ones are only "set" or "not set".
CLOUD_SETTINGS = (
    ("WA_CLOUD_TOKEN", "cloud_token", True),
    ("WA_CLOUD_PHONE_NUMBER_ID", "cloud_phone_number_id", False),
    ("WA_CLOUD_APP_SECRET", "cloud_app_secret", True),
    ("WA_CLOUD_VERIFY_TOKEN", "cloud_verify_token", True),
    ("WA_CLOUD_GRAPH_URL", "cloud_graph_url", False),
)
CLOUD_REQUIRED = ("cloud_token", "cloud_phone_number_id", "cloud_app_secret", "cloud_verify_token")
IN_FIELDS = ("at", "from", "text", "via")
OUT_FIELDS = ("at", "to", "kind", "text", "via", "status")
AUDIT_FIELDS = ("at", "who", "role", "command", "outcome")
SWITCH_KEYS = frozenset({"enabled", "notifications", "admin_numbers", "default_language"})


class Invalid(ValueError):
    """A change the admin asked for is malformed (answer 400 / show the message)."""


# --- reading ------------------------------------------------------------------


def status(rt: Runtime) -> dict[str, Any]:
    """The switches and the state of delivery: what the page and ``GET /admin/settings`` show."""
    return {
        "switches": rt.switches.as_dict(),
        "waiting": waiting(rt),
        "transports": {"cloud": cloud_check(rt), "device": device_status(rt)},
        "failed": {name: int(rt.conn.llen(rt.keys.failed(name))) for name in rt.transports},
        "dead_letters": dead.counts(rt),
    }


def waiting(rt: Runtime) -> dict[str, int]:
    """Messages kept for sending, per outbox (lane depth), and those handed to the phones."""
    counts = {name: rt.lanes[out_lane(name)].depth() for name in rt.transports}
    device = device_transport(rt)
    if device is not None:
        counts["phones"] = device.queue.counts()["queued"]
    counts["total"] = sum(counts.values())
    return counts


def cloud_check(rt: Runtime) -> dict[str, Any]:
    """Which ``WA_CLOUD_*`` settings are set (never their secret values)."""
    settings = rt.settings
    items = []
    for env, attr, secret in CLOUD_SETTINGS:
        value = str(getattr(settings, attr) or "")
        items.append({"name": env, "set": bool(value), "value": None if secret else value or None})
    missing = cloud_missing(settings)
    return {"active": "cloud" in rt.transports, "ready": not missing, "missing": missing, "settings": items}


def cloud_missing(settings: Settings) -> list[str]:
    """The ``WA_CLOUD_*`` settings the Cloud API transport needs that are not set (``wa-addon doctor`` too)."""
    return [env for env, attr, _ in CLOUD_SETTINGS if attr in CLOUD_REQUIRED and not getattr(settings, attr)]


def device_status(rt: Runtime) -> dict[str, Any]:
    """The phones (online or not, last contact) and their queue; ``active`` False without the transport."""
    device = device_transport(rt)
    if device is None:
        return {"active": False, "phones": [], "queue": {"queued": 0, "leased": 0}}
    phones = [
        {"name": p.name, "online": p.online, "last_contact": p.last_contact, "created": p.created}
        for p in device.tokens.phones()
    ]
    return {"active": True, "phones": phones, "queue": device.queue.counts()}


def messages(rt: Runtime, direction: str, count: int = 30) -> list[dict[str, Any]]:
    """The newest messages in or out; outbound ones with their current delivery status."""
    fields = OUT_FIELDS if direction == "out" else IN_FIELDS
    entries = _filled(journal.recent(rt.conn, rt.keys.log(direction), count), fields)
    if direction != "out" or not entries:
        return entries
    pipe = rt.conn.pipeline(transaction=False)
    for entry in entries:
        pipe.hget(rt.keys.msg(str(entry.get("id", ""))), "status")
    for entry, live in zip(entries, pipe.execute(), strict=True):
        if live is not None:  # the journal has the status at send time; the hash has the latest
            entry["status"] = text(live)
    return entries


def failed(rt: Runtime, count: int = 50) -> list[dict[str, Any]]:
    """Failed deliveries, per transport, oldest first; secret texts hidden."""
    out = []
    for name in rt.transports:
        for raw in rt.conn.lrange(rt.keys.failed(name), 0, count - 1):
            msg = Outbound.from_json(raw)
            error = text(rt.conn.hget(rt.keys.msg(msg.id), "error") or b"")
            out.append(
                {
                    "transport": name,
                    "id": msg.id,
                    "to": msg.to,
                    "kind": msg.kind,
                    "attempts": msg.attempts,
                    "text": "(hidden)" if msg.secret else msg.text,
                    "error": error,
                }
            )
    return out


def audit(rt: Runtime, count: int = 50) -> list[dict[str, Any]]:
    """The newest commands run (PINs already masked)."""
    return _filled(journal.recent(rt.conn, rt.keys.audit, count), AUDIT_FIELDS)


def _filled(entries: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    # Journals are written by several layers: an entry may lack a field the page shows.
    return [{**dict.fromkeys(fields, ""), **entry} for entry in entries]


def device_transport(rt: Runtime) -> DeviceTransport | None:
    """The device transport, if this deployment has one."""
    device = rt.transports.get("device")
    return device if isinstance(device, DeviceTransport) else None


# --- changing -----------------------------------------------------------------


def apply(rt: Runtime, changes: Mapping[str, Any], who: str = "admin page") -> list[str]:
    """Validate and set switches; returns what changed, as short lines (also audited).

    Args:
        rt: the runtime.
        changes: any of ``enabled`` (bool), ``notifications`` ({kind: bool}),
            ``admin_numbers`` (list or comma-separated), ``default_language``.
        who: who made the change, for the audit trail.

    Raises:
        Invalid: an unknown key, a wrong type, a bad number or language.
    """
    values = _changed(rt, parse_changes(changes, rt.settings.country))
    if not values:
        return []
    rt.switches.set(**values)
    lines = [_describe(k, v) for k, v in values.items()]
    note(rt, who, "; ".join(lines))
    if values.get("enabled") is True:  # back on: restart the held outboxes now, not at the worker's next tick
        for name in rt.transports:
            rt.lanes[out_lane(name)].kick()
    return lines


def _changed(rt: Runtime, values: dict[str, Any]) -> dict[str, Any]:
    # Only what differs: the audit and the page's message then say what really changed.
    now = rt.switches.as_dict()
    flat: dict[str, Any] = {f"notify__{k}": v for k, v in now["notifications"].items()}  # type: ignore[attr-defined]
    flat.update(
        enabled=now["enabled"],
        admin_numbers=",".join(now["admin_numbers"]),  # type: ignore[arg-type]
        default_language=now["default_language"],
    )
    return {k: v for k, v in values.items() if flat.get(k) != v}


def note(rt: Runtime, who: str, what: str) -> None:
    """Put an admin-page action on the audit trail, beside the chat commands."""
    pipe = rt.conn.pipeline()
    journal.audit(pipe, rt.keys, {"who": who, "role": "admin", "command": what, "outcome": "ok"})
    pipe.execute()


def parse_changes(changes: Mapping[str, Any], country: str = "BD") -> dict[str, Any]:
    """Checked switch values, keyed as :meth:`Switches.set` takes them.

    Raises:
        Invalid: see :func:`apply`.
    """
    if not isinstance(changes, Mapping):
        raise Invalid("expected a JSON object")
    unknown = set(changes) - SWITCH_KEYS
    if unknown:
        raise Invalid(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    if "enabled" in changes:
        values["enabled"] = _bool("enabled", changes["enabled"])
    for kind, on in _notifications(changes.get("notifications", {})).items():
        values[f"notify__{kind}"] = on
    if "admin_numbers" in changes:
        values["admin_numbers"] = ",".join(_numbers(changes["admin_numbers"], country))
    if "default_language" in changes:
        values["default_language"] = _language(changes["default_language"])
    return values


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false")
    return value


def _notifications(value: Any) -> dict[str, bool]:
    if not isinstance(value, Mapping):
        raise Invalid("notifications must be an object of kind: true|false")
    unknown = set(value) - set(NOTIFICATION_KINDS)
    if unknown:
        raise Invalid(f"unknown notification kind(s): {', '.join(sorted(unknown))}")
    return {kind: _bool(f"notifications.{kind}", on) for kind, on in value.items()}


def _numbers(value: Any, country: str) -> list[str]:
    items = value.replace("\n", ",").split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise Invalid("admin_numbers must be a list of phone numbers or one comma-separated string")
    numbers = []
    for raw in (i.strip() for i in items):
        number = parse_phone(raw, country) if raw else None
        if raw and number is None:
            raise Invalid(f"not a phone number: {raw}")
        if number and number not in numbers:
            numbers.append(number)
    return numbers


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        raise Invalid(f"default_language must be one of {', '.join(LANGUAGES)}")
    return str(value)


def _describe(key: str, value: Any) -> str:
    shown = ("on" if value else "off") if isinstance(value, bool) else value or "(none)"
    return f"{key.replace('notify__', 'notify ')} = {shown}"


def ago(at: float | None, now: float | None = None) -> str:
    """``at`` as "5 s ago", "3 min ago", ... or "never"."""
    if not at:
        return "never"
    seconds = max(0, int((time.time() if now is None else now) - float(at)))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"

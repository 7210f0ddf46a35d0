"""Message rendering: one Jinja environment, one template file per message.

Plain text (``autoescape`` off: WhatsApp is not HTML).  User input only ever
enters as context values, never as template source.
"""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from babel import Locale
from babel.numbers import NumberPattern

LANGUAGES = ("bn", "en")
BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
# Babel locales whose number patterns group in lakhs and crores (1,00,000).
NUMBER_LOCALES = {"bn": "bn_BD", "en": "en_IN"}
PAISA = Decimal("0.01")


def money(value: Any, lang: str = "en") -> str:
    """Taka as Bangladesh writes them: ``100000`` -> ``৳1,00,000``, ``1250.5`` -> ``৳1,250.50``.

    Lakh / crore grouping comes from Babel's ``bn_BD`` / ``en_IN`` patterns;
    whole taka drop ``.00`` (``৳50`` reads better on a phone); Bengali
    readers get Bengali digits.
    """
    return _money(str(value), lang)


@functools.lru_cache(maxsize=4096)
def _money(value: str, lang: str) -> str:
    """:func:`money`, remembered: Babel's pattern took ~3% of a worker's CPU at load."""
    try:
        amount = Decimal(value).quantize(PAISA)
    except (InvalidOperation, ValueError):
        return digits(value, lang)
    locale, whole, paisa = _number_format(lang)
    pattern = whole if amount == amount.to_integral_value() else paisa
    return digits("৳" + pattern.apply(amount, locale), lang)


@functools.cache
def _number_format(lang: str) -> tuple[Locale, NumberPattern, NumberPattern]:
    """The language's Babel locale and its decimal pattern with 0 and with 2 decimals (parsed once)."""
    locale = Locale.parse(NUMBER_LOCALES.get(lang, NUMBER_LOCALES["en"]))
    whole, paisa = copy.copy(locale.decimal_formats[None]), copy.copy(locale.decimal_formats[None])
    whole.frac_prec, paisa.frac_prec = (0, 0), (2, 2)
    return locale, whole, paisa


def digits(value: Any, lang: str = "en") -> str:
    """A number in the language's digits."""
    text = str(value)
    return text.translate(BN_DIGITS) if lang == "bn" else text


def local_time(when: float | str | None, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the shop reads it, in ``zone`` (``WA_TIMEZONE``) whatever the server's clock zone.

    Args:
        when: unix seconds, or an ISO 8601 time from the host (one without an
            offset is UTC, as the host contract's times are).
        zone: an IANA zone name such as ``Asia/Dhaka``.
        fmt: the ``strftime`` format.
    """
    if when in (None, ""):
        return ""
    try:
        moment = _moment(when)
    except (ValueError, TypeError, OverflowError):
        return str(when)  # not a time we can read: shown as the host gave it
    return moment.astimezone(_zone(zone)).strftime(fmt)


def _moment(when: float | str) -> datetime:
    if isinstance(when, int | float):
        return datetime.fromtimestamp(when, UTC)
    moment = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    # A mistyped WA_TIMEZONE must not cost the shop its reply: UTC, and `wa-addon doctor` says why.
    return ZoneInfo(name) if known_zone(name) else ZoneInfo("UTC")


def known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this machine (or the tzdata package) knows."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def minutes_since(when: float | str | None, now: float) -> int:
    """Whole minutes from ``when`` (unix seconds or ISO 8601, UTC without an offset) to ``now``; 0 if unreadable."""
    if when is None or when == "":
        return 0
    try:
        return max(0, int(now - _moment(when).timestamp()) // 60)
    except (ValueError, TypeError, OverflowError):
        return 0


# Labels of buttons and list menus (short: Meta cuts button titles at 20 characters).
LABELS: dict[str, dict[str, str]] = {
    "accept": {"en": "Accept", "bn": "মঞ্জুর"},
    "deny": {"en": "Deny", "bn": "নামঞ্জুর"},
    "complete": {"en": "Complete", "bn": "সম্পন্ন"},
    "cancel": {"en": "Cancel", "bn": "বাতিল"},
    "commands": {"en": "Commands", "bn": "কমান্ড"},
    "packages": {"en": "Packages", "bn": "প্যাকেজ"},
}


def label(key: str, lang: str) -> str:
    """A button or menu label in ``lang`` (the key itself if it has none)."""
    return LABELS.get(key, {}).get(lang if lang in LANGUAGES else "bn", key)


def choice(command: str, title: str, description: str = "") -> dict[str, str]:
    """One tap: ``command`` is what it sends back (a button's id), ``title`` what it shows."""
    item = {"id": command, "title": title}
    return {**item, "description": description} if description else item


def mask(number: Any) -> str:
    """A phone number with its middle hidden: ``01712***678``."""
    text = str(number)
    if len(text) < 8:
        return text
    return text[:-6] + "***" + text[-3:]


def environment(folder: str, *, html: bool) -> jinja2.Environment:
    """Jinja for the package's ``folder``: strict about missing values; ``html`` escapes (pages),
    plain text does not (messages)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("wa_addon", folder),
        undefined=jinja2.StrictUndefined,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # package files do not change under a running process (a stat per render: 0.9 %)
    )


class Renderer:
    """Renders ``templates/<lang>/<name>.txt``."""

    def __init__(self) -> None:
        self.env = environment("templates", html=False)
        self.env.filters.update(money=money, digits=digits, mask=mask)

    def render(self, lang: str, message: str, /, **context: Any) -> str:
        """The text of ``message`` in ``lang`` (falls back to bn)."""
        lang = lang if lang in LANGUAGES else "bn"
        template = self.env.get_template(f"{lang}/{message}.txt")
        return template.render(lang=lang, **context).strip()

    def names(self, lang: str = "en") -> list[str]:
        """Every message name that has a template in ``lang``."""
        prefix = f"{lang}/"
        return sorted(n[len(prefix) : -4] for n in self.env.list_templates() if n.startswith(prefix))

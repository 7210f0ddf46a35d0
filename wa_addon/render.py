"""Message rendering: one Jinja environment, one template file per message.

Plain text (``autoescape`` off: WhatsApp is not HTML).  User input only ever
enters as context values, never as template source.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import jinja2

LANGUAGES = ("bn", "en")
BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


def money(value: Any, lang: str = "en") -> str:
    """``1250.5`` -> ``৳1,250.50`` (Bengali digits in bn)."""
    try:
        text = f"৳{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        text = str(value)
    return text.translate(BN_DIGITS) if lang == "bn" else text


def digits(value: Any, lang: str = "en") -> str:
    """A number in the language's digits."""
    text = str(value)
    return text.translate(BN_DIGITS) if lang == "bn" else text


def mask(number: Any) -> str:
    """A phone number with its middle hidden: ``01712***678``."""
    text = str(number)
    if len(text) < 8:
        return text
    return text[:-6] + "***" + text[-3:]


class Renderer:
    """Renders ``templates/<lang>/<name>.txt``."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("wa_addon", "templates"),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
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

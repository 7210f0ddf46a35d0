"""What a notification is and who receives it; hooks/ and commands/ build them.

:class:`Notes` collects the notifications one cause makes: one switch per
kind, ids derived from what caused the notification (so a re-run never sends
twice), and the approved Cloud API template to fall back on outside the
24-hour window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wa_addon.messages import Outbound, short_hash
from wa_addon.render import LANGUAGES, choice, label, money

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

# Body parameters of each message's approved Cloud API template, in order.
PARAMS: dict[str, tuple[str, ...]] = {
    "notify_request_created": ("id", "service", "number", "amount", "name"),
    "notify_request_success": ("id", "number", "amount", "trx_id", "balance"),
    "notify_request_failed": ("id", "number", "amount", "reason", "balance"),
    "notify_request_cancelled": ("id", "number", "amount", "balance"),
    "notify_request_resent": ("id", "number", "amount", "balance"),
    "notify_request_stuck": ("id", "minutes", "number", "amount"),
    "notify_balance_added": ("amount", "balance", "by"),
    "notify_balance_request": ("id", "name", "amount"),
    "notify_balance_request_denied": ("id", "amount"),
    "notify_balance_request_expired": ("id", "amount"),
    "notify_reseller_created": ("name", "username"),
    "notify_reseller_updated": ("summary",),
    "notify_reseller_reset": ("password", "pin"),
    "otp": ("code",),
    "message": ("text",),
}
MONEY = frozenset({"amount", "balance"})


@dataclass(frozen=True)
class Recipient:
    """Who gets a notification: a phone (E.164 digits) and a language."""

    phone: str
    language: str = "bn"


class Notes:
    """The notifications one cause makes (an event, a lifecycle transition).

    Args:
        rt: the runtime (switches, renderer, settings).
        cause: names what caused them; each id is derived from it, the
            recipient and the message, so building them twice yields the
            same ids and the outbox sends them once.
    """

    def __init__(self, rt: Runtime, cause: str):
        self.rt, self.cause = rt, cause
        self.out: list[Outbound] = []

    def send(
        self, to: Recipient, kind: str, message: str, *, secret: bool = False, text: str | None = None, **context: Any
    ) -> None:
        """Add ``message`` (a template name) for ``to``, unless ``kind`` is switched off.

        Args:
            to: the recipient.
            kind: the notification kind (a switch, see ``switches.NOTIFICATION_KINDS``).
            message: the template name (and the key of its Cloud API template).
            secret: the text holds a password, PIN or code: never journaled.
            text: a ready text (``message.send``): sent as is, never rendered.
            context: the template's values.
        """
        if to.phone and self.rt.switches.notify(kind):
            self._add(to, kind, message, secret=secret, text=text, **context)

    def admins(self, kind: str, message: str, *, buttons: tuple[tuple[str, str], ...] = (), **context: Any) -> None:
        """Add ``message`` for every admin number, in the default language, unless ``kind`` is switched off.

        ``buttons``: (command, label key) pairs offered as reply buttons where the transport has them.
        """
        if not self.rt.switches.notify(kind):
            return
        lang = self.rt.switches.default_language()
        for phone in self.rt.switches.admin_numbers():
            self._add(Recipient(phone, lang), kind, message, buttons=buttons, **context)

    def _add(
        self,
        to: Recipient,
        kind: str,
        message: str,
        *,
        secret: bool = False,
        text: str | None = None,
        buttons: tuple[tuple[str, str], ...] = (),
        **context: Any,
    ) -> None:
        lang = to.language if to.language in LANGUAGES else self.rt.switches.default_language()
        body = text if text is not None else self.rt.renderer.render(lang, message, **context)
        self.out.append(
            Outbound(
                id=short_hash(f"{self.cause}:{to.phone}:{message}"),
                to=to.phone,
                text=body,
                kind=f"notify.{kind}",
                template=template_name(self.rt.settings.cloud_templates, message, kind),
                params=params(message, {"text": body, **context}, lang),
                language=lang,
                secret=secret,
                choices=[choice(command, label(key, lang)) for command, key in buttons],
            )
        )


def template_name(configured: tuple[str, ...], message: str, kind: str) -> str | None:
    """The approved template for ``message`` (or for its ``kind``) from ``message:template`` items."""
    names = dict(item.split(":", 1) for item in configured if ":" in item)
    return names.get(message) or names.get(kind)


def params(message: str, context: dict[str, Any], lang: str) -> list[str]:
    """The template's body parameters: money formatted, never empty, on one line."""
    out = []
    for key in PARAMS.get(message, ()):
        value = context.get(key)
        text = money(value, lang) if key in MONEY and value not in (None, "") else str(value or "-")
        out.append(" ".join(text.split()))  # Meta refuses newlines and runs of spaces in parameters
    return out

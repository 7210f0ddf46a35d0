"""Secrets sealed before they reach Redis: passwords, PINs and one-time codes.

A reset's password and PIN travel through Redis (the event lane, the outbox,
the phones' queue, the failed list) and so into its AOF on disk.  Each of them
is sealed there with Fernet (``cryptography``: AES-128-CBC + HMAC-SHA256),
and opened only by a transport about to send it (or by the worker that reads
an event).  The key comes from the settings: ``WA_SECRET_KEY``, or, when it is
unset, one derived from ``WA_HOOK_SECRET`` and ``WA_HOST_KEY`` (every process
of a deployment has those); set ``WA_SECRET_KEY`` to keep it apart.

A sealed text starts with :data:`PREFIX`; anything else opens as itself, so
messages queued before an upgrade still go.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wa_addon.messages import Outbound
from wa_addon.settings import Settings

PREFIX = "wa-sealed:"
EVENT_SECRETS = ("password", "pin", "code")  # host-event fields that are secrets


class Sealer:
    """Seals and opens texts with one Fernet key."""

    def __init__(self, material: str):
        kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"wa-addon sealing v1")
        self._fernet = Fernet(base64.urlsafe_b64encode(kdf.derive(material.encode())))

    def seal(self, text: str) -> str:
        """``text`` sealed (already sealed text is left as it is)."""
        if text.startswith(PREFIX):
            return text
        return PREFIX + self._fernet.encrypt(text.encode()).decode()

    def open(self, text: str) -> str:
        """The plain text of a sealed text; a plain text as itself.

        Raises:
            ValueError: sealed with another key (WA_SECRET_KEY changed).
        """
        if not text.startswith(PREFIX):
            return text
        try:
            return self._fernet.decrypt(text[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError("a sealed secret does not open with this key (was WA_SECRET_KEY changed?)") from None

    def seal_messages(self, msgs: Iterable[Outbound]) -> list[Outbound]:
        """Each secret message with its text and template parameters sealed."""
        return [self._each(m, self.seal) if m.secret else m for m in msgs]

    def open_message(self, msg: Outbound) -> Outbound:
        """A message as it is to be sent: text and parameters opened."""
        return self._each(msg, self.open) if msg.secret else msg

    def seal_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        """Host-event data with its secret fields sealed."""
        return {k: self.seal(v) if k in EVENT_SECRETS and isinstance(v, str) else v for k, v in data.items()}

    def open_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        """Host-event data with its secret fields opened."""
        return {k: self.open(v) if k in EVENT_SECRETS and isinstance(v, str) else v for k, v in data.items()}

    @staticmethod
    def _each(msg: Outbound, step: Any) -> Outbound:
        fields = json.loads(msg.to_json())
        fields.update(text=step(msg.text), params=[step(str(p)) for p in msg.params])
        return Outbound(**fields)


def sealer(settings: Settings) -> Sealer:
    """The deployment's sealer (one per key material, built once per process)."""
    material = settings.secret_key or f"derived:{settings.hook_secret}:{settings.host_key}"
    return _sealer(material)


@functools.lru_cache(maxsize=4)
def _sealer(material: str) -> Sealer:
    return Sealer(material)

"""WhatsApp transports: the :class:`Transport` port and its adapters."""

from wa_addon.transports.base import SendResult, Transport

__all__ = ["SendResult", "Transport"]

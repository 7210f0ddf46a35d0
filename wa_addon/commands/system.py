"""What WhatsApp itself says about a user (system messages): told to the host, answered to nobody."""

from __future__ import annotations

import logging

from wa_addon.host import Host, HostError
from wa_addon.messages import Inbound, Outbound, short_hash
from wa_addon.switches import Switches

log = logging.getLogger(__name__)


def number_changed(switches: Switches, host: Host, msg: Inbound) -> list[Outbound]:
    """``user_changed_number``: the reseller on the old number moves to the new one on the host.

    Host outages propagate (the message is tried again); a refusal (the new
    number taken by another reseller) is logged for the admin to sort out.
    """
    if msg.sender in switches.admin_numbers():
        log.warning("an admin number changed (hash %s): update WA_ADMIN_NUMBERS", short_hash(msg.sender, 8))
        return []
    try:
        moved = host.change_number(old_phone=msg.sender, new_phone=msg.text)
    except HostError as err:
        log.warning("number change refused by the host: %s", err.code)
        return []
    log.info("number change: %s", f"reseller {moved.id} moved" if moved else "no reseller on the old number")
    return []

"""What the commands are handed: the ports and the small stores, built once where the runtime is wired.

A handler reaches Redis only through a store of its own (each module states
its keys and TTLs beside it): :class:`~wa_addon.commands.hold.Holds`,
:class:`~wa_addon.commands.marks.Marks`, :class:`~wa_addon.commands.guide.Guides`,
:class:`~wa_addon.commands.pin.PinGuard`, :class:`~wa_addon.commands.admin_pin.AdminPin`,
:class:`~wa_addon.otp.Codes`.  What belongs to other rooms comes in as a callable
bound by the wiring (``runtime.command_kit``): the audit journal, a notification
batch, the balance-approval lifecycle.  No module of this package imports the runtime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from wa_addon.commands.admin_pin import AdminPin
from wa_addon.commands.guide import Guides
from wa_addon.commands.hold import Holds
from wa_addon.commands.marks import Marks
from wa_addon.commands.pin import PinGuard
from wa_addon.host import Host
from wa_addon.notifications import Notes
from wa_addon.otp import Codes
from wa_addon.render import Renderer
from wa_addon.settings import Settings
from wa_addon.switches import Switches
from wa_addon.workflows import Outcome


@dataclass(frozen=True)
class Decisions:
    """An admin's ACCEPT / DENY against the balance-approval lifecycle (``workflows.balance_approval``).

    ``claim(id)``: pending -> deciding (off the expiry timer); ``release(id)``: back to pending.
    """

    claim: Callable[[object], Outcome]
    release: Callable[[object], Outcome]


@dataclass(frozen=True)
class Kit:
    """Everything a handler may use besides its message: one per process, shared by every message."""

    settings: Settings
    host: Host
    switches: Switches
    renderer: Renderer
    holds: Holds  # the duplicate guard's marks and held repeats
    marks: Marks  # seen-marks: a message's first run of a step, once-an-hour answers
    guides: Guides  # a guided command's answers so far
    pins: PinGuard  # wrong PINs and lockouts (resellers' and the admin's)
    admin_pin: AdminPin  # the admin PIN's hash
    codes: Codes  # one-time codes
    audit: Callable[[dict[str, Any]], None]  # one audit entry (journal.audit on the runtime's Redis)
    notes: Callable[[str], Notes]  # the notifications one cause makes (notifications.Notes)
    decisions: Decisions


class Wired(Protocol):
    """What the dispatcher is handed (the runtime, or anything else that built a kit)."""

    @property
    def command_kit(self) -> Kit: ...

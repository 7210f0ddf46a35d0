"""The runtime: one object wiring settings, Redis, lanes, host and transports.

The web app and the worker each build one; RQ jobs look up their process's
runtime with :func:`current` (jobs take only ids and primitives).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial

import redis
from rq import Queue

from wa_addon import journal, redis_conn, tally
from wa_addon.commands.admin_pin import AdminPin
from wa_addon.commands.guide import Guides
from wa_addon.commands.hold import Holds
from wa_addon.commands.kit import Decisions, Kit
from wa_addon.commands.marks import Marks
from wa_addon.commands.pin import PinGuard
from wa_addon.host import Host
from wa_addon.host.http import HttpHost
from wa_addon.notifications import Notes
from wa_addon.otp import Codes
from wa_addon.queue.lanes import Lane
from wa_addon.queue.lanes import Scripts as LaneScripts
from wa_addon.queue.outbox import out_lane
from wa_addon.render import Renderer
from wa_addon.settings import Settings
from wa_addon.store import Keys, Scripts
from wa_addon.switches import Switches
from wa_addon.transports.base import Transport
from wa_addon.transports.cloud import CloudTransport
from wa_addon.transports.device import DeviceTransport
from wa_addon.workflows import balance_approval

log = logging.getLogger(__name__)

IN_LANE = "in"  # chats received, to run as commands
EVENT_LANE = "ev"  # host events (hooks), to turn into notifications
WORK_LANES = (IN_LANE, EVENT_LANE)


class Runtime:
    """Everything a request handler or a job needs, built once per process.

    Args:
        settings: the deployment settings (``redis_url`` or ``redis_sentinels`` must be set).
        host: the Host adapter.
        transports: name -> Transport; built from settings when omitted.
        conn: a Redis connection; built from the settings (:func:`redis_conn.connect`) when omitted.
        cached_switches: keep a copy of the admin's switches, refreshed by the
            worker's session before each turn's work (the web process reads
            them on every use).
    """

    def __init__(
        self,
        settings: Settings,
        host: Host,
        transports: Mapping[str, Transport] | None = None,
        conn: redis.Redis | None = None,
        cached_switches: bool = False,
    ):
        self.settings = settings
        self.host = host
        self.conn = conn or redis_conn.connect(settings, socket_timeout=5, health_check_interval=30)
        self.keys = Keys(settings.namespace)
        if getattr(host, "observe", False) is None:  # an HttpHost not yet timed: its calls go to /metrics
            host.observe = tally.HostLatency(self.conn, self.keys).record  # type: ignore[attr-defined]
        self.scripts = Scripts(self.conn)
        self.lane_scripts = LaneScripts(self.conn)
        self.switches = Switches(self.conn, self.keys, settings, cached=cached_switches)
        self.renderer = Renderer()
        self.transports = dict(transports) if transports is not None else build_transports(settings)
        self.lanes = {name: self._lane(name) for name in WORK_LANES}
        outboxes = [out_lane(t, system) for t in self.transports for system in (False, True)]
        self.lanes.update({name: self._lane(name) for name in outboxes})
        self.queue = Queue(self.keys.queue("engine"), connection=self.conn)
        self.command_kit = command_kit(self)

    @property
    def default_transport(self) -> str:
        return next(iter(self.transports), "cloud")

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()

    def _lane(self, name: str) -> Lane:
        return Lane(self.conn, self.keys, self.lane_scripts, name, self.settings.outbox_partitions)


def command_kit(rt: Runtime) -> Kit:
    """What the chat commands are handed (``commands.kit``): ``rt``'s ports, and each store on its Redis.

    Built once per runtime, from the settings it has then (a runtime's settings do not change).
    """
    conn, keys, s = rt.conn, rt.keys, rt.settings
    return Kit(
        settings=s,
        host=rt.host,
        switches=rt.switches,
        renderer=rt.renderer,
        holds=Holds(conn, keys, s.duplicate_window),
        marks=Marks(conn, keys),
        guides=Guides(conn, keys, s.guide_timeout),
        pins=PinGuard(conn, keys, s),
        admin_pin=AdminPin(conn, keys),
        codes=Codes(conn, keys, s),
        audit=partial(journal.audit, conn, keys),
        notes=partial(Notes, rt),
        decisions=Decisions(claim=partial(balance_approval.claim, rt), release=partial(balance_approval.release, rt)),
    )


TransportFactory = Callable[[Settings], Transport]


TRANSPORT_FACTORIES: dict[str, TransportFactory] = {"cloud": CloudTransport, "device": DeviceTransport}


def build_transports(settings: Settings) -> dict[str, Transport]:
    """The transports named in ``settings.transports``."""
    unknown = [t for t in settings.transports if t not in TRANSPORT_FACTORIES]
    if unknown:
        raise ValueError(f"unknown transport(s): {', '.join(unknown)}")
    return {name: TRANSPORT_FACTORIES[name](settings) for name in settings.transports}


_current: Runtime | None = None


def current() -> Runtime:
    """This process's runtime, for RQ's side only (jobs and the worker): built from the environment on first use.

    Everything else is handed its runtime (or the store it needs) by whoever built it.
    """
    global _current
    if _current is None:
        settings = Settings.from_env()
        host = HttpHost(settings.host_url, settings.host_key, connections=settings.work_window)
        _current = Runtime(settings, host, cached_switches=True)
    return _current

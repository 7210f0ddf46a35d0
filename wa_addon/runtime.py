"""The runtime: one object wiring settings, Redis, lanes, host and transports.

The web app and the worker each build one; RQ jobs look up their process's
runtime with :func:`current` (jobs take only ids and primitives).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial

import redis
from rq import Queue

from wa_addon.host import Host
from wa_addon.lanes import Lane
from wa_addon.render import Renderer
from wa_addon.settings import Settings
from wa_addon.store import DOWN, Keys, Scripts, StoreUnavailable
from wa_addon.switches import Switches
from wa_addon.transports.base import Transport

log = logging.getLogger(__name__)

IN_LANE = "in"  # chats received, to run as commands
EVENT_LANE = "ev"  # host events (hooks), to turn into notifications
WORK_LANES = (IN_LANE, EVENT_LANE)
DRAIN_BUDGET = 60.0  # seconds one drain job works before handing its partition to a fresh job
DRAIN_TIMEOUT = 600  # seconds: RQ's limit for one drain job, far above the budget


def out_lane(transport: str, system: bool = False) -> str:
    """A transport's outbox lane; the system lane is sent even while the add-on is off."""
    return f"{'sys' if system else 'out'}:{transport}"


def held_when_off(lane: str) -> bool:
    """Whether the admin's off switch holds this lane (every outbox but the system lanes)."""
    return lane.startswith("out:")


class Runtime:
    """Everything a request handler or a job needs, built once per process.

    Args:
        settings: the deployment settings (``redis_url`` must be set).
        host: the Host adapter.
        transports: name -> Transport; built from settings when omitted.
        conn: a Redis connection; built from ``settings.redis_url`` when omitted.
    """

    def __init__(
        self,
        settings: Settings,
        host: Host,
        transports: Mapping[str, Transport] | None = None,
        conn: redis.Redis | None = None,
    ):
        self.settings = settings
        self.host = host
        self.conn = conn or redis.Redis.from_url(settings.redis_url, socket_timeout=5, health_check_interval=30)
        self.keys = Keys(settings.namespace)
        self.scripts = Scripts(self.conn)
        self.switches = Switches(self.conn, self.keys, settings)
        self.renderer = Renderer()
        self.transports = dict(transports) if transports is not None else build_transports(settings)
        self.lanes = {name: self._lane(name) for name in WORK_LANES}
        outboxes = [out_lane(t, system) for t in self.transports for system in (False, True)]
        self.lanes.update({name: self._lane(name) for name in outboxes})
        self.queues = {n: Queue(self.keys.queue(n), connection=self.conn) for n in ("in", "out")}

    @property
    def default_transport(self) -> str:
        return next(iter(self.transports), "cloud")

    def start_drain(self, lane: str, part: int, token: str) -> None:
        """Enqueue the RQ job that drains one lane partition."""
        from wa_addon import jobs  # jobs imports the layers that import us

        queue = self.queues["in" if lane in WORK_LANES else "out"]
        # A drain hands over to a fresh job after its time budget (consume.BUDGET),
        # so RQ's timeout only ever stops a job that is truly stuck.
        queue.enqueue(jobs.drain, lane, part, token, result_ttl=60, failure_ttl=7 * 24 * 3600,
                      job_timeout=DRAIN_TIMEOUT)

    def housekeep(self, now: float | None = None) -> int:
        """Restart due and orphaned partitions, expire phone leases, run the lifecycle timers.

        Each step runs on its own: one failing (Redis away for a moment) does
        not skip the others, and the caller's loop goes on.

        Returns:
            How many drain jobs were started.
        """
        from wa_addon import jobs  # jobs imports the layers that import us

        now = time.time() if now is None else now
        steps: list[Callable[[], object]] = [lambda: self._restart(now)]
        steps += [partial(tidy, now) for t in self.transports.values() if (tidy := getattr(t, "housekeep", None))]
        steps += [partial(timer, self, now) for timer in jobs.TIMERS]  # stuck requests, expiring balance requests
        results = [self._step(step) for step in steps]
        return results[0] if isinstance(results[0], int) else 0

    def _restart(self, now: float) -> int:
        started = 0
        enabled = self.switches.enabled()
        for lane in self.lanes.values():
            for part, token in lane.due(now):
                self.start_drain(lane.name, part, token)
                started += 1
            if enabled or not held_when_off(lane.name):
                started += lane.kick(self.start_drain)
        return started

    @staticmethod
    def _step(step: Callable[[], object]) -> object:
        try:
            return step()
        except (StoreUnavailable, *DOWN):
            log.warning("housekeeping: Redis unavailable, will try again")
        except Exception:  # a bug in one step must not stop the others, nor the next tick
            log.exception("housekeeping step failed")
        return None

    def close(self) -> None:
        for transport in self.transports.values():
            transport.close()

    def _lane(self, name: str) -> Lane:
        return Lane(self.conn, self.keys, self.scripts, name, self.settings.outbox_partitions)


TransportFactory = Callable[[Settings], Transport]


def _cloud(settings: Settings) -> Transport:
    from wa_addon.transports.cloud import CloudTransport

    return CloudTransport(settings)


def _device(settings: Settings) -> Transport:
    from wa_addon.transports.device import DeviceTransport

    return DeviceTransport(settings)


TRANSPORT_FACTORIES: dict[str, TransportFactory] = {"cloud": _cloud, "device": _device}


def build_transports(settings: Settings) -> dict[str, Transport]:
    """The transports named in ``settings.transports``."""
    unknown = [t for t in settings.transports if t not in TRANSPORT_FACTORIES]
    if unknown:
        raise ValueError(f"unknown transport(s): {', '.join(unknown)}")
    return {name: TRANSPORT_FACTORIES[name](settings) for name in settings.transports}


_current: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    """Make ``runtime`` the one this process's jobs use."""
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    """This process's runtime; built from the environment on first use."""
    global _current
    if _current is None:
        from wa_addon.host.http import HttpHost

        settings = Settings.from_env()
        _current = Runtime(settings, HttpHost(settings.host_url, settings.host_key))
    return _current

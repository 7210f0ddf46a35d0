"""The one place a Redis connection is made from the settings.

With ``WA_REDIS_SENTINELS`` set, connections go through redis-py's
:class:`~redis.sentinel.Sentinel`: the sentinels say where the master of
``WA_REDIS_SENTINEL_MASTER`` is now, so after a failover the next command (or
its retry) reaches the new master; ``WA_REDIS_URL``, if set too, gives only
the password (and user, database).  Otherwise ``WA_REDIS_URL`` is used as is.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis
from redis.connection import parse_url
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool, SentinelManagedConnection

from wa_addon.settings import Settings

RECHECK = 0.5  # seconds between two questions to the sentinels, per connection pool


class MasterConnection(SentinelManagedConnection):
    """A connection to the master that reads ``NOREPLICAS`` as Redis being unavailable.

    With ``min-replicas-to-write`` (docs/deploy.md) a master refuses writes while
    no replica follows it: during a failover, on both sides of it.  Callers retry
    a ``ConnectionError`` (the web answers 503, sessions try again next turn).
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except redis.exceptions.ResponseError as exc:
            if "NOREPLICAS" not in str(exc):
                raise
            self.disconnect()  # a pipeline's other replies are still unread
            raise redis.exceptions.ConnectionError(f"the master has no replica to write to: {exc}") from exc


class FollowingPool(SentinelConnectionPool):
    """A Sentinel pool that also drops connections to a master the sentinels no longer name.

    redis-py asks the sentinels only when it opens a connection, and a demoted
    master still takes writes until Sentinel turns it into a replica (~10 s
    after the promotion), writes its new master then discards: connections
    opened before a failover would keep writing there.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any):
        super().__init__(service_name, sentinel_manager, connection_class=MasterConnection, **kwargs)
        self._asked, self._master = 0.0, None

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        conn = super().get_connection(*args, **kwargs)
        if time.monotonic() - self._asked >= RECHECK:
            self._asked = time.monotonic()
            with contextlib.suppress(MasterNotFoundError):  # the command fails or not on its own
                self._master = self.get_master_address()
        if self._master is not None and (conn.host, conn.port) != tuple(self._master):
            conn.disconnect()  # its next command connects to the master of now
        return conn


def sentinel_addresses(settings: Settings) -> list[tuple[str, int]]:
    """The ``(host, port)`` of each sentinel in ``WA_REDIS_SENTINELS``."""
    pairs = [item.rsplit(":", 1) for item in settings.redis_sentinels]
    return [(host, int(port)) for host, port in pairs]


def sentinel(settings: Settings) -> Sentinel:
    """A client of the sentinels (a sentinel that does not answer in 3 s is skipped)."""
    return Sentinel(sentinel_addresses(settings), sentinel_kwargs={"socket_timeout": 3, "socket_connect_timeout": 3})


def connect(settings: Settings, **opts: Any) -> redis.Redis:
    """A connection to the master: through the sentinels when set, else ``WA_REDIS_URL``.

    Args:
        settings: uses ``redis_sentinels``, ``redis_sentinel_master`` and ``redis_url``.
        opts: connection options (``socket_timeout``, ``health_check_interval``, ...).
    """
    if settings.redis_sentinels:
        name = settings.redis_sentinel_master
        opts = {**_credentials(settings.redis_url), **opts}
        return sentinel(settings).master_for(name, connection_pool_class=FollowingPool, **opts)
    return redis.Redis.from_url(settings.redis_url, **opts)


def _credentials(url: str) -> dict[str, Any]:
    """User, password and database of ``WA_REDIS_URL``: beside sentinels, its host and port are unused."""
    if not url:
        return {}
    parsed = parse_url(url)
    return {k: parsed[k] for k in ("username", "password", "db") if parsed.get(k) is not None}


def master_address(settings: Settings) -> tuple[str, int]:
    """Where the sentinels say the master is now (raises ``MasterNotFoundError``)."""
    host, port = sentinel(settings).discover_master(settings.redis_sentinel_master)
    return str(host), int(port)

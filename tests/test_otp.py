"""One-time codes: single use, tries, rate limit, hashed at rest, and the HTTP door."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from conftest import ADMIN, open_chat
from falcon import testing
from helpers import queued

from wa_addon import otp
from wa_addon.app import create_app
from wa_addon.host.http import HttpHost
from wa_addon.messages import Outbound
from wa_addon.runtime import Runtime
from wa_addon.sealing import sealer
from wa_addon.settings import Settings

PHONE = "8801822222222"
HOST_KEY = "login-page-key"
UNUSED_HOST = HttpHost("http://127.0.0.1:9", "unused")  # codes never ask the host


@pytest.fixture
def rt(redis_url, namespace):
    settings = Settings(redis_url=redis_url, namespace=namespace, host_key=HOST_KEY, hook_secret="hs")
    runtime = Runtime(settings, UNUSED_HOST)
    yield runtime
    runtime.close()


@pytest.fixture
def bare(redis_url, namespace):
    """A deployment with no secret configured at all."""
    runtime = Runtime(Settings(redis_url=redis_url, namespace=namespace), UNUSED_HOST)
    yield runtime
    runtime.close()


@pytest.fixture
def client(rt):
    return testing.TestClient(create_app(rt.settings, UNUSED_HOST, runtime=rt))


def outbox(rt) -> list[Outbound]:
    return [sealer(rt.settings).open_message(m) for m in queued(rt, "out:cloud")]


def test_a_code_verifies_once(rt):
    code = otp.issue(rt, PHONE)
    assert len(code) == 6 and code.isdigit()
    assert otp.verify(rt, PHONE, code)
    assert not otp.verify(rt, PHONE, code)


def test_bengali_digits_are_accepted(rt):
    code = otp.issue(rt, PHONE)
    assert otp.verify(rt, PHONE, code.translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")))


def test_five_wrong_tries_burn_the_code(rt):
    code = otp.issue(rt, PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert not otp.verify(rt, PHONE, wrong)
    assert not otp.verify(rt, PHONE, code)


def test_a_new_code_replaces_the_old_one(rt):
    first = otp.issue(rt, PHONE)
    second = otp.issue(rt, PHONE)
    if first != second:  # one chance in a million that they match
        assert not otp.verify(rt, PHONE, first)
    assert otp.verify(rt, PHONE, second)


def test_a_code_expires(rt):
    code = otp.issue(rt, PHONE)
    assert 0 < rt.conn.ttl(rt.keys.otp(PHONE)) <= 300
    rt.conn.delete(rt.keys.otp(PHONE))  # what Redis does after otp_ttl
    assert not otp.verify(rt, PHONE, code)


def test_three_codes_per_window_then_rate_limited(rt):
    for _ in range(3):
        otp.issue(rt, PHONE)
    with pytest.raises(otp.RateLimited) as err:
        otp.issue(rt, PHONE)
    assert 0 < err.value.retry_after <= 900
    otp.issue(rt, "8801933333333")  # another phone is not affected


@pytest.mark.parametrize("runtime", ["rt", "bare"])
def test_the_same_cause_gives_the_same_code_and_counts_once(request, runtime):
    rt = request.getfixturevalue(runtime)
    codes = {otp.issue(rt, PHONE, cause="evt_1") for _ in range(5)}
    assert len(codes) == 1
    otp.issue(rt, PHONE, cause="evt_2")
    otp.issue(rt, PHONE, cause="evt_3")  # three counted: evt_1 once
    with pytest.raises(otp.RateLimited):
        otp.issue(rt, PHONE, cause="evt_4")


@pytest.mark.parametrize("runtime", ["rt", "bare"])
def test_a_rerun_keeps_the_code_that_was_sent(request, runtime):
    # The re-run's message has the first one's id, so the outbox drops it: the phone has only
    # the first code, which must stay the live one (without a secret, too).
    rt = request.getfixturevalue(runtime)
    sent = otp.issue(rt, PHONE, cause="evt_1")
    assert otp.issue(rt, PHONE, cause="evt_1") == sent
    assert otp.verify(rt, PHONE, sent)


@pytest.mark.parametrize("runtime", ["rt", "bare"])
def test_a_used_code_is_not_armed_again_by_a_rerun(request, runtime):
    rt = request.getfixturevalue(runtime)
    code = otp.issue(rt, PHONE, cause="evt_1")
    assert otp.verify(rt, PHONE, code)
    assert otp.issue(rt, PHONE, cause="evt_1") == code  # the worker re-runs the event
    assert not otp.verify(rt, PHONE, code)
    assert not rt.conn.exists(rt.keys.otp(PHONE))


def test_a_used_code_is_not_armed_again_by_a_rerun_of_the_admins_message(redis_url, namespace, sandbox):
    for chat in open_chat(redis_url, namespace, sandbox):
        first = [
            sealer(chat.rt.settings).open_message(m) for m in chat.send(ADMIN, "OTP 01822222222", msg_id="wamid.otp1")
        ]
        code = re.search(r"\d{6}", first[1].text).group(0)
        assert otp.verify(chat.rt, PHONE, code)
        again = chat.send(ADMIN, "OTP 01822222222", msg_id="wamid.otp1")  # redelivered by Meta, run again
        assert again[1].id == first[1].id  # the same message: the outbox sends it once
        assert not otp.verify(chat.rt, PHONE, code)


def test_without_a_secret_codes_are_keyed_by_a_random_key_not_the_namespace(bare):
    code = otp.issue(bare, PHONE)
    stored = bare.conn.hget(bare.keys.otp(PHONE), "h").decode()
    guessable = hmac.new(bare.settings.namespace.encode(), f"{PHONE}:{code}".encode(), hashlib.sha256).hexdigest()
    assert stored != guessable  # the namespace is no secret: from it, 10**6 guesses find the code
    assert otp.verify(bare, PHONE, code)


def test_redis_holds_no_code_in_clear(rt):
    code = otp.issue(rt, PHONE)
    stored = rt.conn.hgetall(rt.keys.otp(PHONE))
    assert code.encode() not in b"".join(k + v for k, v in stored.items())


def test_codes_never_reach_the_logs(rt, caplog):
    caplog.set_level("DEBUG")
    code = otp.issue(rt, PHONE)
    otp.verify(rt, PHONE, code)
    assert code not in caplog.text and PHONE not in caplog.text


def test_the_message_is_a_secret(rt):
    (msg,) = otp.message(rt, PHONE, "123456", "en")
    assert msg.secret and msg.kind == "notify.otp" and msg.to == PHONE and "123456" in msg.text
    assert "5 minutes" in msg.text
    (hosts,) = otp.message(rt, PHONE, "4711", "en", minutes=0)  # a host's code of unknown lifetime
    assert "expires" not in hosts.text


# -- HTTP -------------------------------------------------------------------------


def auth(key=HOST_KEY):
    return {"Authorization": f"Bearer {key}"}


def test_the_login_page_gets_a_code_sent_and_verifies_it(client, rt):
    resp = client.simulate_post("/otp", json={"phone": "01822222222", "language": "en"}, headers=auth())
    assert resp.status_code == 200 and resp.json == {"sent": True, "expires_in": 300}
    (msg,) = outbox(rt)
    assert msg.to == PHONE and msg.secret and msg.language == "en"
    code = msg.text.split()[0]
    ok = client.simulate_post("/otp/verify", json={"phone": "+8801822222222", "code": code}, headers=auth())
    again = client.simulate_post("/otp/verify", json={"phone": PHONE, "code": code}, headers=auth())
    assert (ok.json, again.json) == ({"valid": True}, {"valid": False})


@pytest.mark.parametrize("path", ["/otp", "/otp/verify"])
def test_without_the_host_key_nothing_happens(client, rt, path):
    for headers in ({}, auth("wrong"), {"Authorization": HOST_KEY}):
        resp = client.simulate_post(path, json={"phone": PHONE, "code": "1"}, headers=headers)
        assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"
    assert outbox(rt) == []


def test_too_many_codes_answer_429(client):
    for _ in range(3):
        assert client.simulate_post("/otp", json={"phone": PHONE}, headers=auth()).status_code == 200
    resp = client.simulate_post("/otp", json={"phone": PHONE}, headers=auth())
    assert resp.status_code == 429 and resp.json["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0


@pytest.mark.parametrize(("body", "code"), [({"phone": "12"}, "bad_phone"), ([1], "bad_json")])
def test_bad_requests_answer_400(client, body, code):
    resp = client.simulate_post("/otp", json=body, headers=auth())
    assert resp.status_code == 400 and resp.json["error"]["code"] == code


def test_switched_off_codes_answer_503(client, rt):
    rt.switches.set(notify__otp=False)
    resp = client.simulate_post("/otp", json={"phone": PHONE}, headers=auth())
    assert resp.status_code == 503 and resp.json["error"]["code"] == "disabled"

"""HttpHost against the sandbox host served over real loopback HTTP, and the OpenAPI contract file."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import yaml

from wa_addon.host import Host, HostError, HostUnavailable, NewReseller, Reseller
from wa_addon.host.http import HttpHost
from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
from wa_addon.testing.wsgi_server import WSGIServerThread, serve_in_thread

KEY = "test-host-key-0123456789"
OPENAPI = Path(__file__).resolve().parents[1] / "wa_addon" / "host" / "openapi.yaml"


@pytest.fixture
def served(tmp_path):
    events: list = []
    db = SandboxDB(str(tmp_path / "host.sqlite3"), on_event=lambda t, d: events.append((t, d)), kdf_cost=4)
    seed(db)
    url, stop = serve_in_thread(create_sandbox_app(db, KEY))
    yield SimpleNamespace(url=url, db=db, events=events, host=HttpHost(url, KEY, timeout=10))
    stop()
    db.close()


def code_of(call) -> tuple[str, int]:
    with pytest.raises(HostError) as info:
        call()
    return info.value.code, info.value.status


def test_is_a_host(served):
    assert isinstance(served.host, Host)


# --- resellers -------------------------------------------------------------------


def test_find_reseller(served):
    host = served.host
    found = host.find_reseller(phone="8801711111111")
    assert isinstance(found, Reseller) and found.username == "dealer1" and found.balance == "10000.00"
    assert host.find_reseller(phone="8801999999999") is None
    host.update_reseller(3, {"wa_user_id": "BD.42"})
    assert host.find_reseller(wa_user_id="BD.42").id == 3
    assert host.find_reseller(phone="8801999999999", wa_user_id="BD.42").id == 3


def test_get_reseller_by_id_username_phone(served):
    host = served.host
    assert {host.get_reseller(ref).id for ref in ("3", "retail1", "8801822222222", "01822222222")} == {3}
    assert host.get_reseller("retail1", actor=2).parent_id == 2
    assert code_of(lambda: host.get_reseller("retail3", actor=2)) == ("forbidden", 403)
    assert code_of(lambda: host.get_reseller("dealer1", actor=3)) == ("forbidden", 403)
    assert code_of(lambda: host.get_reseller("nobody")) == ("not_found", 404)


def test_list_children(served):
    assert [r.username for r in served.host.list_children(2)] == ["retail1", "retail2"]
    assert [r.username for r in served.host.list_children(5, actor=5)] == ["retail3"]
    assert code_of(lambda: served.host.list_children(5, actor=2))[0] == "forbidden"


def test_create_reseller_and_replay(served):
    host = served.host
    made = host.create_reseller(phone="8801799999999", name="New Shop", level=None, actor=2, idem_key="c1")
    assert isinstance(made, NewReseller) and made.reseller.parent_id == 2 and not made.replayed
    assert host.verify_pin(made.reseller.id, made.pin)
    again = host.create_reseller(phone="8801799999999", name="New Shop", level=None, actor=2, idem_key="c1")
    assert again.replayed and again.reseller.id == made.reseller.id and again.pin == ""
    code = code_of(lambda: host.create_reseller(phone="8801799999999", name="X", level=None, actor=None, idem_key="c2"))
    assert code == ("already_exists", 409)
    assert (
        code_of(lambda: host.create_reseller(phone="8801700000000", name="X", level=None, actor=6, idem_key="c3"))[0]
        == "suspended"
    )


def test_update_and_reset(served):
    host = served.host
    assert host.update_reseller(4, {"status": "suspended"}, actor=2).status == "suspended"
    reset = host.reset_reseller(4, actor=2, idem_key="r1")
    assert host.verify_pin(4, reset.pin) and reset.password
    assert [t for t, _ in served.events] == ["reseller.updated", "reseller.reset"]
    assert code_of(lambda: host.update_reseller(4, {"balance": "1"}))[0] == "invalid"


def test_pins(served):
    host = served.host
    assert host.verify_pin(3, "4321") and not host.verify_pin(3, "0000")
    host.change_pin(3, "4321", "8642")
    assert host.verify_pin(3, "8642")
    assert code_of(lambda: host.change_pin(3, "4321", "1111")) == ("bad_pin", 403)
    assert code_of(lambda: host.change_pin(3, "8642", "12"))[0] == "invalid"


# --- money -----------------------------------------------------------------------


def test_add_balance(served):
    host = served.host
    paid = host.add_balance(to="retail1", amount="250.50", actor=2, idem_key="p1")
    assert (paid.from_id, paid.to_id, paid.amount, paid.balance_after) == (2, 3, "250.50", "2750.50")
    assert paid.from_balance_after == "9749.50"
    minted = host.add_balance(to="8801544444444", amount="1000", actor=None, idem_key="p2")
    assert minted.from_id is None and minted.balance_after == "4000.00"


def test_add_balance_refusals(served):
    host = served.host
    assert code_of(lambda: host.add_balance(to="retail2", amount="600", actor=4, idem_key="x")) == ("invalid", 400)
    assert code_of(lambda: host.add_balance(to="dealer1", amount="1", actor=3, idem_key="x")) == ("forbidden", 403)
    assert code_of(lambda: host.add_balance(to="retail3", amount="1", actor=2, idem_key="x"))[0] == "forbidden"
    assert code_of(lambda: host.add_balance(to="retail1", amount="99999", actor=2, idem_key="x")) == (
        "insufficient_balance",
        422,
    )
    assert code_of(lambda: host.add_balance(to="retail1", amount="1.001", actor=2, idem_key="x"))[0] == "invalid"


def test_idempotent_payment_over_http(served):
    host = served.host
    first = host.add_balance(to="retail1", amount="10", actor=2, idem_key="same")
    assert host.add_balance(to="retail1", amount="10", actor=2, idem_key="same") == first
    assert host.get_reseller("retail1").balance == "2510.00"
    assert code_of(lambda: host.add_balance(to="retail1", amount="20", actor=2, idem_key="same")) == (
        "idempotency_conflict",
        409,
    )


def test_concurrent_payments_never_overdraw(served):
    host = served.host

    def pay(i):
        try:
            return host.add_balance(to="retail3", amount="200", actor=5, idem_key=f"c{i}").id
        except HostError as exc:
            return exc.code

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(pay, range(24)))
    assert sum(isinstance(r, int) for r in results) == 15
    assert results.count("insufficient_balance") == 9
    assert host.get_reseller("dealer2").balance == "0.00"
    assert host.get_reseller("retail3").balance == "3800.00"


def test_concurrent_same_key_is_one_payment(served):
    host = served.host
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: host.add_balance(to="retail1", amount="5", actor=2, idem_key="k").id, range(16)))
    assert len(ids) == 1 and host.get_reseller("retail1").balance == "2505.00"


def test_balance_requests(served):
    host = served.host
    br = host.create_balance_request(amount="300", actor=4, idem_key="b1")
    assert (br.status, br.amount, br.reseller_id) == ("pending", "300.00", 4)
    assert host.get_balance_request(br.id).status == "pending"
    done = host.decide_balance_request(br.id, approve=True, idem_key="d1")
    assert done.status == "approved" and done.payment_id
    assert host.decide_balance_request(br.id, approve=True, idem_key="d1") == done
    assert code_of(lambda: host.decide_balance_request(br.id, approve=False, idem_key="d2")) == ("invalid_state", 409)
    assert host.get_reseller("retail2").balance == "800.00"
    assert code_of(lambda: host.get_balance_request(br.id, actor=5))[0] == "forbidden"


# --- catalogue and requests ------------------------------------------------------------


def test_catalogue(served):
    host = served.host
    assert [s.code for s in host.list_services(reseller_id=4)] == ["FL", "BK"]
    fl = host.list_services()[0]
    assert (fl.kind, fl.min_amount, fl.max_amount, fl.types) == (
        "recharge",
        "10.00",
        "5000.00",
        ["prepaid", "postpaid", "skitto"],
    )
    ops = {o.code: o for o in host.list_operators(service="FL")}
    assert set(ops) == {"GP", "BL", "TT", "AT", "RB"} and ops["RB"].prefixes == ["018"]
    assert [p.code for p in host.list_packages(operator="RB")] == ["RB1", "RB2", "RB3"]


def test_create_and_act_on_requests(served):
    host = served.host
    req = host.create_request(actor=3, service="FL", number="01712345678", amount="100", idem_key="q1")
    assert (req.status, req.operator, req.number, req.balance_after) == ("pending", "GP", "8801712345678", "2400.00")
    assert host.create_request(actor=3, service="FL", number="01712345678", amount="100", idem_key="q1") == req
    pkg = host.create_request(actor=3, service="", number="01712345678", amount=None, package="GP1", idem_key="q2")
    assert (pkg.amount, pkg.package, pkg.service) == ("98.00", "GP1", "FL")
    done = host.act_on_request(req.id, "complete", trx_id="TX9", idem_key="a1")
    assert (done.status, done.trx_id) == ("success", "TX9")
    assert code_of(lambda: host.act_on_request(req.id, "cancel", idem_key="a2")) == ("invalid_state", 409)
    assert host.act_on_request(pkg.id, "cancel", idem_key="a3", note="operator down").note == "operator down"
    assert host.get_reseller("retail1").balance == "2400.00"
    assert host.get_request(req.id, actor=2).status == "success"
    assert code_of(lambda: host.get_request(req.id, actor=4))[0] == "forbidden"
    assert [r.id for r in host.list_requests(actor=3, limit=1)] == [pkg.id]


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        ({"actor": 4, "service": "NG", "amount": "100"}, ("service_not_permitted", 403)),
        ({"actor": 6, "service": "FL", "amount": "100"}, ("suspended", 403)),
        ({"actor": 3, "service": "FL", "amount": "1001"}, ("amount_out_of_range", 422)),
        ({"actor": 4, "service": "BK", "amount": "600"}, ("insufficient_balance", 422)),
        ({"actor": 3, "service": "FL", "amount": "50", "type": "skitto", "operator": "BL"}, ("invalid", 400)),
    ],
)
def test_request_refusals(served, kw, want):
    assert code_of(lambda: served.host.create_request(number="01712345678", idem_key="z", **kw)) == want


def test_actions_need_the_admin(served):
    req = served.host.create_request(actor=3, service="FL", number="01712345678", amount="100", idem_key="q")
    resp = requests.post(
        f"{served.url}/api/v1/requests/{req.id}/cancel",
        json={},
        timeout=5,
        headers={"Authorization": f"Bearer {KEY}", "X-Acting-Reseller": "2", "Idempotency-Key": "x"},
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"


# --- raw HTTP behaviour ----------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": KEY}])
def test_unauthorized(served, headers):
    resp = requests.get(f"{served.url}/api/v1/services", headers=headers, timeout=5)
    assert resp.status_code == 401 and resp.json() == {
        "error": {"code": "unauthorized", "message": "missing or wrong bearer key"}
    }


def test_money_calls_need_an_idempotency_key(served):
    resp = requests.post(
        f"{served.url}/api/v1/payments",
        json={"to": "3", "amount": "1"},
        timeout=5,
        headers={"Authorization": f"Bearer {KEY}", "X-Acting-Reseller": "2"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/nothing", None, 404, "not_found"),
        ("DELETE", "/services", None, 405, "method_not_allowed"),
        ("POST", "/payments", "not json", 400, "invalid"),
        ("POST", "/payments", [1, 2], 400, "invalid"),
        ("GET", "/requests?limit=1000", None, 400, "invalid"),
        ("GET", "/resellers", None, 400, "invalid"),
    ],
)
def test_error_shape(served, method, path, body, status, code):
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "e", "Content-Type": "application/json"}
    data = body if isinstance(body, str) else None
    resp = requests.request(
        method, f"{served.url}/api/v1{path}", headers=headers, data=data, json=None if data else body, timeout=5
    )
    assert resp.status_code == status and resp.json()["error"]["code"] == code


# --- unavailability ------------------------------------------------------------------


def _answering(status: int, body: bytes = b"oops", content_type: str = "text/plain"):
    def app(environ, start_response):
        start_response(f"{status} X", [("Content-Type", content_type)])
        return [body]

    return app


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_5xx_and_throttling_are_unavailable(status):
    with WSGIServerThread(_answering(status)) as url, pytest.raises(HostUnavailable) as info:
        HttpHost(url, KEY).get_reseller("1")
    assert KEY not in str(info.value) and str(status) in str(info.value)


def test_non_json_4xx_is_a_host_error():
    with WSGIServerThread(_answering(404)) as url:
        code = code_of(lambda: HttpHost(url, KEY).get_reseller("1"))
    assert code == ("http_404", 404)


def test_unreachable_host_is_unavailable():
    url, stop = serve_in_thread(_answering(200))
    stop()  # the port is now closed
    with pytest.raises(HostUnavailable) as info:
        HttpHost(url, KEY, timeout=2).verify_pin(1, "0000")
    assert KEY not in str(info.value) and "0000" not in str(info.value)
    assert KEY not in repr(HttpHost(url, KEY))


def test_timeout_is_unavailable():
    release = threading.Event()

    def slow(environ, start_response):
        release.wait(5)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    with WSGIServerThread(slow) as url:
        try:
            with pytest.raises(HostUnavailable, match="Timeout"):
                HttpHost(url, KEY, timeout=0.2).list_services()
        finally:
            release.set()


# --- the contract file ---------------------------------------------------------------


def test_openapi_covers_the_sandbox_routes_and_refs_resolve(served):
    spec = yaml.safe_load(OPENAPI.read_text())
    assert spec["openapi"].startswith("3.1")
    app = create_sandbox_app(served.db, KEY)
    routes = {re.sub(r"\{(\w+)(:int)?\}", r"{\1}", r) for r in _routes(app)}
    assert routes == {"/api/v1" + p for p in spec["paths"]}
    text = OPENAPI.read_text()
    for ref in set(re.findall(r'\$ref: "#/([^"]+)"', text)):
        node = spec
        for part in ref.split("/"):
            node = node[part]
    hook_types = set(spec["components"]["schemas"]["HookEnvelope"]["properties"]["type"]["enum"])
    assert hook_types == set(spec["webhooks"]) == set(spec["x-hooks"]["events"])
    codes = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert {"insufficient_balance", "idempotency_conflict", "invalid_state", "bad_pin"} <= codes


def test_the_sandbox_answers_http_errors_only_with_the_contracts_codes():
    from wa_addon.sandbox.api import _HTTP_CODES

    spec = yaml.safe_load(OPENAPI.read_text())
    codes = set(spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])
    assert set(_HTTP_CODES.values()) <= codes


def _routes(app):
    from falcon import inspect

    return [route.path for route in inspect.inspect_routes(app)]

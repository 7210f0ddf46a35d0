"""The checks of the conformance suite (run by :mod:`wa_addon.host.conformance`).

Each check is a function of the shared :class:`Suite`, registered in order
with :func:`check`; it raises :class:`CheckFailed` with what it saw, or
returns a short note.  ``provision`` makes the resellers the later checks use.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from wa_addon.host.conformance_kit import DENIED, CheckFailed, Suite, check, has_fields, is_money, money, same

RESELLER = {
    "id": int,
    "username": str,
    "name": str,
    "phone": str,
    "level": int,
    "balance": str,
    "status": str,
    "language": str,
    "services": list,
}
REQUEST = {"id": int, "reseller_id": int, "service": str, "number": str, "amount": str, "type": str, "status": str}
PAYMENT = {"id": int, "to_id": int, "amount": str, "balance_after": str}


# -- without provisioning ----------------------------------------------------


@check("auth: the given key is accepted", needs_setup=False)
def auth_ok(s: Suite) -> None:
    s.call("GET", "/services").expect(200)


@check("auth: no key is refused with 401 unauthorized", needs_setup=False)
def auth_missing(s: Suite) -> None:
    s.call("GET", "/services", bearer="").expect(401, code="unauthorized")


@check("auth: a wrong key is refused with 401 unauthorized", needs_setup=False)
def auth_wrong(s: Suite) -> None:
    s.call("GET", "/services", bearer=f"wrong-{s.run_id}").expect(401, code="unauthorized")


@check("errors: an unknown request is 404 not_found with a message", needs_setup=False)
def errors_shape(s: Suite) -> None:
    reply = s.call("GET", "/requests/987654321")
    reply.expect(404, code="not_found")
    if not isinstance(reply.body["error"].get("message"), str):
        raise CheckFailed("error.message must be a string")


@check("summary (optional): 404, or the admin's totals with the contract's shape", needs_setup=False)
def summary(s: Suite) -> str:
    reply = s.call("GET", "/summary", params={"low_below": "500"})
    body = reply.expect(200, 404)
    if reply.status == 404:
        return "not offered: the admin's BAL and RS say so"
    has_fields("summary", body, {"resellers": int, "balance": str, "requests": dict, "attention": list})
    is_money("summary.balance", body["balance"])
    for person in body["attention"]:
        has_fields("summary.attention[]", person, RESELLER)
    return f"{body['resellers']} resellers, {len(body['attention'])} low or suspended"


@check("catalogue: services, operators and packages have the contract's shape", needs_setup=False)
def catalogue(s: Suite) -> str:
    services = s.call("GET", "/services").expect(200)["items"]
    for service in services:
        has_fields("service", service, {"code": str, "name": str, "kind": str, "types": list})
        is_money("service.min_amount", service.get("min_amount"))
        is_money("service.max_amount", service.get("max_amount"))
        if service["kind"] not in ("recharge", "mobile_banking", "custom", "country"):
            raise CheckFailed(f"service {service['code']}: unknown kind {service['kind']!r}")
    for service in [x for x in services if x["kind"] == "recharge"]:
        if _pick_operator(s, service):
            break
    if not s.operator:
        raise CheckFailed("no recharge service with an operator that has prefixes and limits")
    for package in s.call("GET", "/packages", params={"operator": s.operator}).expect(200)["items"]:
        has_fields("package", package, {"code": str, "operator": str, "name": str, "validity": str})
        is_money("package.price", package.get("price"))
    return f"testing with {s.service}/{s.operator} {s.type} {s.low}-{s.high}"


def _pick_operator(s: Suite, service: dict[str, Any]) -> bool:
    operators = s.call("GET", "/operators", params={"service": service["code"]}).expect(200)["items"]
    for op in operators:
        has_fields("operator", op, {"code": str, "name": str, "service": str, "prefixes": list, "limits": dict})
        for kind, (low, high) in op["limits"].items():
            is_money(f"operator {op['code']} limit", low)
            if op["prefixes"] and money(high) > money(low) and (not service["types"] or kind in service["types"]):
                s.service, s.operator, s.type, s.prefix = service["code"], op["code"], kind, op["prefixes"][0]
                s.low, s.high = money(low), money(high)
                return True
    return False


@check("provision: create a dealer, a retailer under it and an outsider", needs_setup=False)
def provision(s: Suite) -> str:
    if not s.operator:
        raise CheckFailed("nothing to test with (see the catalogue check)")
    for role, parent in (("dealer", None), ("retailer", "dealer"), ("outsider", None)):
        s.ids[role], s.pins[role] = _create(s, role, None if parent is None else s.ids[parent])
        s.call("PATCH", f"/resellers/{s.ids[role]}", body={"services": [s.service]}).expect(200)
    s.ready = True
    return ", ".join(f"{role} #{rid}" for role, rid in s.ids.items())


def _create(s: Suite, role: str, actor: int | None) -> tuple[int, str]:
    for _ in range(3):
        phone = "88010" + "".join(secrets.choice("0123456789") for _ in range(8))
        body = {"phone": phone, "name": f"Conformance {role} {s.run_id}"}
        reply = s.call("POST", "/resellers", actor=actor, key=s.key(), body=body)
        if reply.status != 409:
            break
    created = reply.expect(201)
    has_fields("created", created, {"reseller": dict, "password": str, "pin": str})
    has_fields("created.reseller", created["reseller"], RESELLER)
    if actor is not None:
        same(f"{role}.parent_id", created["reseller"].get("parent_id"), actor)
    return created["reseller"]["id"], created["pin"]


# -- on the provisioned resellers -----------------------------------------------


@check("resellers: shape, lookup by phone, username and children")
def resellers(s: Suite) -> None:
    retailer = s.call("GET", f"/resellers/{s.ids['retailer']}").expect(200)
    has_fields("reseller", retailer, RESELLER)
    is_money("reseller.balance", retailer["balance"])
    same("reseller.status", retailer["status"] in ("active", "suspended"), True)
    same("reseller.language", retailer["language"] in ("bn", "en"), True)
    found = s.call("GET", "/resellers", params={"phone": retailer["phone"]}).expect(200)
    same("lookup by phone", found["id"], retailer["id"])
    s.call("GET", "/resellers", params={"phone": "8801099999999" + "9"}).expect(404, code="not_found")
    same("by username", s.call("GET", f"/resellers/{retailer['username']}").expect(200)["id"], retailer["id"])
    kids = s.call("GET", f"/resellers/{s.ids['dealer']}/children").expect(200)["items"]
    same("dealer's children", [k["id"] for k in kids], [retailer["id"]])


@check("pin: verify accepts the PIN and refuses another")
def pin(s: Suite) -> None:
    path, right = f"/resellers/{s.ids['retailer']}/pin/verify", s.pins["retailer"]
    wrong = "".join(str((int(c) + 1) % 10) for c in right)
    same("right PIN", s.call("POST", path, body={"pin": right}).expect(200)["valid"], True)
    same("wrong PIN", s.call("POST", path, body={"pin": wrong}).expect(200)["valid"], False)


@check("payments: the admin mints, a dealer pays its retailer")
def payments(s: Suite) -> None:
    mint = s.low * 4 + 5
    paid = _pay(s, None, "dealer", mint)
    same("minted payment.from_id", paid.get("from_id"), None)
    same("dealer balance", s.balance("dealer"), money(paid["balance_after"]))
    before = s.balance("retailer")
    paid = _pay(s, "dealer", "retailer", s.low * 3)
    same("payment.from_id", paid.get("from_id"), s.ids["dealer"])
    same("retailer balance", s.balance("retailer"), before + s.low * 3)
    same("dealer balance", s.balance("dealer"), s.low + 5)


def _pay(s: Suite, payer: str | None, to: str, amount: Decimal, key: str | None = None) -> dict[str, Any]:
    actor = None if payer is None else s.ids[payer]
    body = {"to": str(s.ids[to]), "amount": f"{amount:.2f}"}
    paid = s.call("POST", "/payments", actor=actor, key=key or s.key(), body=body).expect(201)
    has_fields("payment", paid, PAYMENT)
    is_money("payment.amount", paid["amount"])
    same("payment.to_id", paid["to_id"], s.ids[to])
    return paid


@check("idempotency: the same key twice makes one payment")
def idempotent_payment(s: Suite) -> None:
    key, before = s.key(), s.balance("dealer")
    first, second = _pay(s, None, "dealer", Decimal(1), key), _pay(s, None, "dealer", Decimal(1), key)
    same("payment id on replay", second["id"], first["id"])
    same("dealer balance", s.balance("dealer"), before + 1)


@check("idempotency: the same key with another body is 409 idempotency_conflict")
def idempotency_conflict(s: Suite) -> None:
    key, before = s.key(), s.balance("dealer")
    _pay(s, None, "dealer", Decimal(1), key)
    body = {"to": str(s.ids["dealer"]), "amount": "2.00"}
    s.call("POST", "/payments", key=key, body=body).expect(409, code="idempotency_conflict")
    same("dealer balance", s.balance("dealer"), before + 1)


@check("subtree: a retailer cannot read outside its subtree")
def subtree_read(s: Suite) -> None:
    retailer, dealer, outsider = s.ids["retailer"], s.ids["dealer"], s.ids["outsider"]
    s.call("GET", f"/resellers/{retailer}", actor=retailer).expect(200)
    s.call("GET", f"/resellers/{retailer}", actor=dealer).expect(200)
    s.call("GET", f"/resellers/{dealer}", actor=retailer).expect(*DENIED)
    s.call("GET", f"/resellers/{outsider}", actor=retailer).expect(*DENIED)
    s.call("GET", f"/resellers/{outsider}/children", actor=retailer).expect(*DENIED)
    s.call("GET", f"/resellers/{retailer}", actor=outsider).expect(*DENIED)


@check("subtree: a retailer cannot pay its parent or an outsider")
def subtree_pay(s: Suite) -> None:
    before = {who: s.balance(who) for who in ("retailer", "dealer", "outsider")}
    for to in ("dealer", "outsider"):
        body = {"to": str(s.ids[to]), "amount": "1.00"}
        s.call("POST", "/payments", actor=s.ids["retailer"], key=s.key(), body=body).expect(*DENIED)
    same("balances", {who: s.balance(who) for who in before}, before)


@check("subtree: a retailer cannot read or act on its parent's request")
def subtree_requests(s: Suite) -> None:
    created = s.request("dealer", s.low).expect(201)
    path, retailer = f"/requests/{created['id']}", s.ids["retailer"]
    s.call("GET", path, actor=retailer).expect(*DENIED)
    s.call("POST", f"{path}/cancel", actor=retailer, key=s.key(), body={}).expect(*DENIED)
    same("request status", s.call("GET", path).expect(200)["status"], "pending")
    s.call("POST", f"{path}/cancel", key=s.key(), body={}).expect(200)


@check("requests: amounts outside [min, max] are 422 amount_out_of_range")
def out_of_range(s: Suite) -> None:
    before = s.balance("retailer")
    amounts = [s.high + 1] + ([s.low - Decimal("0.01")] if s.low > Decimal("0.01") else [])
    for amount in amounts:
        s.request("retailer", f"{amount:.2f}").expect(422, code="amount_out_of_range")
    s.request("retailer", "ten").expect(400, code="invalid")
    same("retailer balance", s.balance("retailer"), before)


@check("requests: lifecycle moves, refunds once, success and cancelled are final")
def lifecycle(s: Suite) -> None:
    start = s.balance("retailer")
    done = _new_request(s)
    _move(s, done, "process", "processing")
    _move(s, done, "complete", "success", trx_id=f"TRX{s.run_id}")
    for action in ("cancel", "fail", "resend", "process"):
        _move(s, done, action, None)
    cancelled = _new_request(s)
    _move(s, cancelled, "cancel", "cancelled")
    _move(s, cancelled, "cancel", None)
    _move(s, cancelled, "resend", None)
    same("balance after one refund", s.balance("retailer"), start - s.low)
    failed = _new_request(s)
    _move(s, failed, "fail", "failed")
    same("balance after refund of the failed", s.balance("retailer"), start - s.low)
    _move(s, failed, "complete", None)
    _move(s, failed, "resend", "pending")
    _move(s, failed, "process", "processing")
    _move(s, failed, "complete", "success")
    same("balance at the end", s.balance("retailer"), start - 2 * s.low)


def _new_request(s: Suite) -> int:
    created = s.request("retailer", s.low).expect(201)
    has_fields("request", created, REQUEST)
    is_money("request.amount", created["amount"])
    same("request.status", created["status"], "pending")
    same("request.amount", money(created["amount"]), s.low)
    return created["id"]


def _move(s: Suite, request_id: int, action: str, status: str | None, **body: Any) -> None:
    reply = s.call("POST", f"/requests/{request_id}/{action}", key=s.key(), body=body)
    if status is None:
        reply.expect(409, code="invalid_state")
        return
    moved = reply.expect(200)
    same(f"status after {action}", moved.get("status"), status)
    if "trx_id" in body:
        same("trx_id", moved.get("trx_id"), body["trx_id"])


@check("requests: a request over the balance is 422 insufficient_balance")
def insufficient(s: Suite) -> str:
    balance = s.balance("retailer")
    amount = max(balance + Decimal("0.01"), s.low)
    if amount > s.high:
        raise CheckFailed(f"cannot test: balance {balance} is not below the max {s.high}")
    s.request("retailer", f"{amount:.2f}").expect(422, code="insufficient_balance")
    same("retailer balance", s.balance("retailer"), balance)
    return f"{amount:.2f} over {balance}"


@check("requests: a service not permitted is 403 service_not_permitted")
def not_permitted(s: Suite) -> None:
    path = f"/resellers/{s.ids['retailer']}"
    s.call("PATCH", path, body={"services": []}).expect(200)
    try:
        s.request("retailer", s.low).expect(403, code="service_not_permitted")
    finally:
        s.call("PATCH", path, body={"services": [s.service]}).expect(200)


@check("balance requests: approved once; the same key replays the same answer")
def balance_request(s: Suite) -> None:
    asked = s.call("POST", "/balance-requests", actor=s.ids["retailer"], key=s.key(), body={"amount": "1.00"})
    created = asked.expect(201)
    has_fields("balance request", created, {"id": int, "reseller_id": int, "amount": str, "status": str})
    same("balance request status", created["status"], "pending")
    path, key, before = f"/balance-requests/{created['id']}", s.key(), s.balance("retailer")
    first = s.call("POST", f"{path}/approve", key=key, body={}).expect(200)
    again = s.call("POST", f"{path}/approve", key=key, body={}).expect(200)
    same("status", first.get("status"), "approved")
    same("replayed answer", (again["id"], again["status"]), (first["id"], first["status"]))
    same("retailer balance", s.balance("retailer"), before + 1)
    s.call("POST", f"{path}/approve", key=s.key(), body={}).expect(409, code="invalid_state")
    s.call("POST", f"{path}/deny", key=s.key(), body={}).expect(409, code="invalid_state")
    same("status read back", s.call("GET", path).expect(200)["status"], "approved")


@check("number change: a reseller follows its user to a new WhatsApp number, and a repeat is safe")
def number_change(s: Suite) -> None:
    path, outsider = "/resellers/number-change", s.call("GET", f"/resellers/{s.ids['outsider']}").expect(200)
    new = "88010" + "".join(secrets.choice("0123456789") for _ in range(8))
    body = {"old_phone": outsider["phone"], "new_phone": new}
    same("moved", s.call("POST", path, body=body).expect(200)["id"], outsider["id"])
    same(
        "lookup by the new phone", s.call("GET", "/resellers", params={"phone": new}).expect(200)["id"], outsider["id"]
    )
    same("told again", s.call("POST", path, body=body).expect(200)["id"], outsider["id"])
    s.call("POST", path, actor=s.ids["dealer"], body=body).expect(403, 404)
    gone = {"old_phone": "8801099999999", "new_phone": "8801099999998"}
    s.call("POST", path, body=gone).expect(404, code="not_found")


@check("suspended: the suite's resellers are suspended; they cannot place requests")
def suspend(s: Suite) -> None:
    for role in ("retailer", "dealer", "outsider"):
        patched = s.call("PATCH", f"/resellers/{s.ids[role]}", body={"status": "suspended"}).expect(200)
        same(f"{role} status", patched.get("status"), "suspended")
    s.request("retailer", s.low).expect(403, code="suspended")


@check("suspended: a suspended dealer can neither edit nor reset its retailer")
def suspended_dealer(s: Suite) -> None:
    path, dealer = f"/resellers/{s.ids['retailer']}", s.ids["dealer"]
    before = s.call("GET", path).expect(200)
    s.call("PATCH", path, actor=dealer, body={"name": f"Renamed {s.run_id}"}).expect(403, code="suspended")
    s.call("POST", f"{path}/reset", actor=dealer, key=s.key(), body={}).expect(403, code="suspended")
    same("retailer name", s.call("GET", path).expect(200)["name"], before["name"])
    kept = s.call("POST", f"{path}/pin/verify", body={"pin": s.pins["retailer"]}).expect(200)
    same("retailer PIN after the refused reset", kept["valid"], True)

"""The Cloud API message templates the add-on may send outside the 24-hour window.

Outside the customer-service window Meta delivers a business-initiated message
only as a template it approved.  These are the add-on's, in Bengali and
English, in the JSON of the Graph API's ``message_templates`` endpoint, so an
operator never types one by hand: ``wa-addon templates`` prints them and
``--submit`` posts them.  Each is named after its message (the template file
name) and takes that message's body parameters of
:data:`wa_addon.notifications.PARAMS`, in order; once approved, map them with
``WA_CLOUD_TEMPLATES=notify_balance_added:notify_balance_added,...``.

The one-time code is an AUTHENTICATION template: Meta writes its text itself
(in each language) and it carries a copy-code button, which a send must fill
with the code too (see :func:`wa_addon.transports.cloud.build_body`).
"""

from __future__ import annotations

import re
from typing import Any

import requests

from wa_addon.notifications import MONEY, PARAMS
from wa_addon.render import money
from wa_addon.settings import Settings
from wa_addon.transports.cloud import TEMPLATE_LANGUAGES

OTP = "otp"
ALREADY_EXISTS = 2388024  # Meta's error_subcode: this name and language are taken already

# Body texts: {{n}} is the message's n-th parameter of PARAMS.  Meta refuses a
# body that starts or ends with a parameter, or two parameters side by side.
BODIES: dict[str, dict[str, str]] = {
    "notify_request_created": {
        "en": "New request #{{1}}: {{2}} to {{3}}, amount {{4}}, from {{5}}. "
        "Reply COMPLETE or CANCEL with the request number.",
        "bn": "নতুন অনুরোধ #{{1}}: {{2}}, নম্বর {{3}}, পরিমাণ {{4}}, পাঠিয়েছেন {{5}}। "
        "অনুরোধ নম্বরসহ COMPLETE বা CANCEL লিখে উত্তর দিন।",
    },
    "notify_request_success": {
        "en": "Request #{{1}} successful: {{2}}, amount {{3}}, trx ID {{4}}. Balance: {{5}}.",
        "bn": "অনুরোধ #{{1}} সফল হয়েছে: {{2}}, পরিমাণ {{3}}, ট্রানজেকশন আইডি {{4}}। ব্যালেন্স: {{5}}।",
    },
    "notify_request_failed": {
        "en": "Request #{{1}} failed: {{2}}, amount {{3}}. Reason: {{4}}. Balance: {{5}}.",
        "bn": "অনুরোধ #{{1}} ব্যর্থ হয়েছে: {{2}}, পরিমাণ {{3}}। কারণ: {{4}}। ব্যালেন্স: {{5}}।",
    },
    "notify_request_cancelled": {
        "en": "Request #{{1}} was cancelled: {{2}}, amount {{3}}. Balance: {{4}}.",
        "bn": "অনুরোধ #{{1}} বাতিল হয়েছে: {{2}}, পরিমাণ {{3}}। ব্যালেন্স: {{4}}।",
    },
    "notify_request_resent": {
        "en": "Request #{{1}} was sent again: {{2}}, amount {{3}} held. Balance: {{4}}.",
        "bn": "অনুরোধ #{{1}} আবার পাঠানো হয়েছে: {{2}}, পরিমাণ {{3}} রাখা হয়েছে। ব্যালেন্স: {{4}}।",
    },
    "notify_request_stuck": {
        "en": "Request #{{1}} has been processing for {{2}} min: {{3}}, amount {{4}}. "
        "Check with the operator, then reply COMPLETE or CANCEL.",
        "bn": "অনুরোধ #{{1}} প্রসেসিং অবস্থায় আছে {{2}} মিনিট ধরে: নম্বর {{3}}, পরিমাণ {{4}}। "
        "অপারেটরের সাথে যাচাই করে COMPLETE বা CANCEL লিখুন।",
    },
    "notify_balance_added": {
        "en": "Balance added: {{1}}. New balance: {{2}}. Added by {{3}}.",
        "bn": "ব্যালেন্স যোগ হয়েছে: {{1}}। নতুন ব্যালেন্স: {{2}}। যোগ করেছেন {{3}}।",
    },
    "notify_balance_request": {
        "en": "Balance request #{{1}} from {{2}} for {{3}}. Reply ACCEPT or DENY with the request number.",
        "bn": "ব্যালেন্স অনুরোধ #{{1}}: {{2}} চেয়েছেন {{3}}। অনুরোধ নম্বরসহ ACCEPT বা DENY লিখে উত্তর দিন।",
    },
    "notify_balance_request_denied": {
        "en": "Your balance request #{{1}} for {{2}} was denied.",
        "bn": "আপনার ব্যালেন্স অনুরোধ #{{1}} ({{2}}) মঞ্জুর হয়নি।",
    },
    "notify_balance_request_expired": {
        "en": "Your balance request #{{1}} for {{2}} expired without a decision.",
        "bn": "আপনার ব্যালেন্স অনুরোধ #{{1}} ({{2}}) কোনো সিদ্ধান্ত ছাড়াই মেয়াদোত্তীর্ণ হয়েছে।",
    },
    "notify_reseller_created": {
        "en": "Welcome, {{1}}! Your account {{2}} is ready. Send HELP to see what you can do.",
        "bn": "স্বাগতম, {{1}}! আপনার অ্যাকাউন্ট {{2}} প্রস্তুত। কী করতে পারেন জানতে HELP লিখুন।",
    },
    "notify_reseller_updated": {
        "en": "Your account was updated: {{1}}.",
        "bn": "আপনার অ্যাকাউন্ট হালনাগাদ হয়েছে: {{1}}।",
    },
    "notify_reseller_reset": {
        "en": "Your account was reset. Password: {{1}} PIN: {{2}}. Keep them secret.",
        "bn": "আপনার অ্যাকাউন্ট রিসেট হয়েছে। পাসওয়ার্ড: {{1}} পিন: {{2}}। গোপন রাখুন।",
    },
    "message": {
        "en": "Message from your recharge panel: {{1}}.",
        "bn": "আপনার রিচার্জ প্যানেল থেকে বার্তা: {{1}}।",
    },
}

# What Meta's reviewers see for each parameter.
EXAMPLES = {
    "id": "1024",
    "service": "FL",
    "number": "01712345678",
    "name": "Karim Store",
    "trx_id": "TX98231",
    "minutes": "20",
    "reason": "operator down",
    "by": "Admin",
    "username": "retail1",
    "summary": "Language: Bengali → English",
    "password": "Xy7pq2kd",
    "pin": "4321",
    "text": "The shop closes at 9 pm today",
    "amount": "50",
    "balance": "2450",
}


def definitions(lang: str) -> list[dict[str, Any]]:
    """Every template in ``lang`` (``bn`` or ``en``) as Meta's message_templates JSON."""
    code = TEMPLATE_LANGUAGES[lang]
    out = [_utility(name, code, texts[lang], lang) for name, texts in BODIES.items()]
    return [*out, _authentication(code)]


def _utility(name: str, code: str, body: str, lang: str) -> dict[str, Any]:
    example = [money(EXAMPLES[p], lang) if p in MONEY else EXAMPLES[p] for p in PARAMS[name]]
    return {
        "name": name,
        "language": code,
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": body, "example": {"body_text": [example]}}],
    }


def _authentication(code: str) -> dict[str, Any]:
    return {
        "name": OTP,
        "language": code,
        "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 5},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
        ],
    }


def placeholders(body: str) -> list[int]:
    """The parameter numbers of a body text, in order of appearance."""
    return [int(n) for n in re.findall(r"\{\{(\d+)\}\}", body)]


def submit(
    settings: Settings, templates: list[dict[str, Any]], session: requests.Session | None = None
) -> list[tuple[str, bool, str]]:
    """POST each template to ``{graph}/{version}/{waba_id}/message_templates``.

    Returns:
        Per template: "name language", whether Meta took it (or has it already), and what it said.
    """
    session = session or requests.Session()
    url = f"{settings.graph_base}/{settings.cloud_waba_id}/message_templates"
    headers = {"Authorization": f"Bearer {settings.cloud_token}"}
    return [_post(session, url, headers, t, settings.cloud_timeout) for t in templates]


def _post(
    session: requests.Session, url: str, headers: dict[str, str], template: dict[str, Any], timeout: float
) -> tuple[str, bool, str]:
    label = f"{template['name']} {template['language']}"
    try:
        resp = session.post(url, json=template, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return label, False, f"Graph API unreachable: {type(exc).__name__}"
    data = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
    if resp.ok:
        return label, True, f"{data.get('status', '?')} (id {data.get('id', '?')})"
    error = data.get("error") or {}
    if error.get("error_subcode") == ALREADY_EXISTS:
        return label, True, "exists already"
    return label, False, f"refused: HTTP {resp.status_code}, error.code {error.get('code')}: {error.get('message', '')}"

"""``{prefix}/admin``: the admin page (plain HTML forms, POST-redirect-GET) and its JSON twin.

Resources only translate HTTP: who may (:mod:`~wa_addon.admin.auth`), the
CSRF check, reading a form or JSON, rendering.  What is shown and changed is
in :mod:`~wa_addon.admin.views`.  Every form posts, then redirects back to the
page with a one-shot "flash" cookie saying what happened, so a reload never
repeats an action and the page works without JavaScript.  One exception:
adding a phone answers with the page itself (200, ``no-store``), its new
token in it, so the token never travels in a cookie.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import falcon

from wa_addon.admin import dead_letters, views
from wa_addon.admin.auth import (
    CSRF_FIELD,
    MIN_TOKEN_LENGTH,
    SESSION_COOKIE,
    THROTTLED,
    TOKEN,
    AdminAuth,
    AdminCheck,
    Throttled,
    clear_cookie,
    cross_site,
    csrf_ok,
    csrf_token,
    set_cookie,
)
from wa_addon.http_errors import ApiError, read_body
from wa_addon.queue import dead, outbox
from wa_addon.render import LANGUAGES, environment
from wa_addon.runtime import Runtime
from wa_addon.switches import NOTIFICATION_KINDS
from wa_addon.transports.device_tokens import DeviceError

FLASH_COOKIE = "wa_flash"
MAX_JSON = 64 * 1024
FORM = "application/x-www-form-urlencoded"
HEADERS = {
    "Cache-Control": "no-store",  # the page may show a phone's new token: never cache it
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
KIND_LABELS = {
    "request_created": "New request (to the admins)",
    "request_updated": "Request successful, failed or cancelled (to the reseller)",
    "request_stuck": "Request stuck in processing (to the admins)",
    "balance_added": "Balance added (to the reseller)",
    "balance_request": "New balance request, to ACCEPT or DENY (to the admins)",
    "balance_request_updated": "Balance request denied or expired (to the reseller)",
    "reseller_created": "Welcome to a new account (to the reseller)",
    "reseller_updated": "Account edited (to the reseller)",
    "reseller_reset": "Account reset: new password and PIN (to the reseller)",
    "otp": "One-time codes",
    "message": "Messages the host sends (message.send)",
}


class AdminSite:
    """What every admin resource shares: the runtime, the auth check, the page templates.

    Args:
        rt: the runtime.
        admin_auth: the host's check ``admin_auth(req) -> bool`` when mounted; None standalone.
    """

    def __init__(self, rt: Runtime, admin_auth: AdminCheck | None = None):
        self.rt = rt
        self.auth = AdminAuth(rt.settings, rt.conn, rt.keys, admin_auth)
        # HTML, so autoescape is on: not the messages' plain-text environment.
        self.env = environment("templates/admin", html=True)
        self.env.filters.update(ago=views.ago, clock=_clock)
        self.env.globals["min_token_length"] = MIN_TOKEN_LENGTH

    def html(
        self, req: falcon.Request, resp: falcon.Response, template: str, status: str = falcon.HTTP_200, **context: Any
    ) -> None:
        resp.status, resp.content_type = status, falcon.MEDIA_HTML
        resp.set_headers(HEADERS)
        base = req.root_path + "/admin"
        resp.text = self.env.get_template(template).render(
            base=base, csrf=csrf_token(req, resp), mode=self.auth.mode, short_token=self.auth.short_token, **context
        )

    def page(self, req: falcon.Request, resp: falcon.Response, flash: dict[str, Any] | None) -> None:
        """The admin page, with ``flash`` (what just happened) on top."""
        rt = self.rt
        self.html(
            req,
            resp,
            "page.html",
            flash=flash,
            s=views.status(rt),
            incoming=views.messages(rt, "in"),
            outgoing=views.messages(rt, "out"),
            failed=views.failed(rt),
            audit=views.audit(rt),
            dead_letters=dead_letters.rows(rt),
            kinds=NOTIFICATION_KINDS,
            labels=KIND_LABELS,
            languages=LANGUAGES,
            now=time.time(),
            signed_in=self.auth.mode == TOKEN,
        )


class _Resource:
    """An admin resource: :class:`~wa_addon.admin.auth.AdminGate` lets only a signed-in admin reach it."""

    signed_in_only = True
    answers_json = False  # the gate's refusals: pages (login form, 403 / 429 page), or our JSON error body

    def __init__(self, site: AdminSite):
        self.site, self.rt, self.auth = site, site.rt, site.auth

    def checked(self, req: falcon.Request, resp: falcon.Response) -> dict[str, Any] | None:
        """The posted form if its CSRF token is right; else answers 403 and returns None (sign-in: the gate's)."""
        data = req.get_media(default_when_empty={}) if (req.content_type or "").startswith(FORM) else {}
        if not csrf_ok(req, data.get(CSRF_FIELD)):
            self.site.html(req, resp, "denied.html", falcon.HTTP_403, csrf_failed=True)
            return None
        return data  # type: ignore[no-any-return]

    def back(self, req: falcon.Request, resp: falcon.Response, text: str, ok: bool = True) -> None:
        """Redirect to the page, which shows ``text`` once."""
        flash = json.dumps({"ok": ok, "text": text}).encode()
        # Unpadded: '=' would make the cookie a quoted string.
        set_cookie(req, resp, FLASH_COOKIE, base64.urlsafe_b64encode(flash).decode().rstrip("="), 60)
        _redirect(resp, req.root_path + "/admin")

    def audit(self, what: str) -> None:
        views.note(self.rt, "admin page", what)


class AdminPage(_Resource):
    """``GET /admin``: switches, delivery, phones, messages, failures, audit."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.site.page(req, resp, _take_flash(req, resp))


class Login(_Resource):
    """``GET /admin/login``: the token form; ``POST``: trade the token for a session cookie."""

    signed_in_only = False

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.auth.mode != TOKEN or self.auth.allowed(req):
            _redirect(resp, req.root_path + "/admin")  # nothing to sign in to here
            return
        self.site.html(req, resp, "login.html", error=None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = self.checked(req, resp)
        if data is None:
            return
        try:
            session = self.auth.sign_in(req, str(data.get("token", "")))
        except Throttled:
            self.site.html(req, resp, "login.html", falcon.HTTP_429, error=THROTTLED)
            return
        if session is None:
            self.site.html(req, resp, "login.html", falcon.HTTP_401, error="That is not the admin token.")
            return
        set_cookie(req, resp, SESSION_COOKIE, session, self.auth.ttl)
        _redirect(resp, req.root_path + "/admin")


class Logout(_Resource):
    """``POST /admin/logout``: drop the session cookie."""

    signed_in_only = False

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.checked(req, resp) is not None:
            clear_cookie(req, resp, SESSION_COOKIE)
            _redirect(resp, req.root_path + "/admin/login")


class SwitchesForm(_Resource):
    """``POST /admin/switches``: the on/off button, the notifications, admin numbers, language."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = self.checked(req, resp)
        if data is None:
            return
        try:
            lines = views.apply(self.rt, _form_changes(data))
        except views.Invalid as exc:
            self.back(req, resp, str(exc), ok=False)
            return
        text = "Saved: " + "; ".join(lines) if lines else "Nothing to change."
        if lines == ["enabled = off"]:
            waiting = views.waiting(self.rt)["total"]
            text = f"The add-on is off. Outgoing messages are kept, not lost ({waiting} waiting)."
        self.back(req, resp, text)


class PhonesForm(_Resource):
    """``POST /admin/phones``: add a phone; its token is shown once, in this answer (not a cookie, not cached)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = self.checked(req, resp)
        device = views.device_transport(self.rt)
        if data is None:
            return
        if device is None:
            self.back(req, resp, "The device transport is not configured (WA_TRANSPORTS).", ok=False)
            return
        name = str(data.get("name", "")).strip()
        try:
            token = device.add_phone(name)
        except DeviceError as exc:
            self.back(req, resp, str(exc), ok=False)
            return
        self.audit(f"phone {name} added")
        text = f"Phone {name} added. Put this token in the phone app now: it is shown only once."
        self.site.page(req, resp, {"ok": True, "text": text, "token": token})


class PhoneRevoke(_Resource):
    """``POST /admin/phones/{name}/revoke``: revoke a phone's token; its messages go to the others."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        device = views.device_transport(self.rt)
        if self.checked(req, resp) is None:
            return
        if device is None or not device.revoke_phone(name):
            self.back(req, resp, f"No phone named {name}.", ok=False)
            return
        self.audit(f"phone {name} revoked")
        self.back(req, resp, f"Phone {name} revoked; its token no longer works.")


class RetryForm(_Resource):
    """``POST /admin/failed/{transport}/retry``: one failed message (``msg_id``) or all back to the outbox."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, transport: str) -> None:
        data = self.checked(req, resp)
        if data is None:
            return
        if transport not in self.rt.transports:
            self.back(req, resp, f"No transport named {transport}.", ok=False)
            return
        msg_id = str(data.get("msg_id", "")) or None
        moved = outbox.retry_failed(self.rt, transport, msg_id)
        self.audit(f"retry {transport} {msg_id or 'all'}: {moved} back in the outbox")
        self.back(req, resp, f"{moved} message(s) back in the {transport} outbox.", ok=moved > 0)


class DeadLetterForm(_Resource):
    """``POST /admin/dead/retry``: a dead letter (``lane`` + ``id``, or a lane's all) back on its lane, once;
    ``POST /admin/dead/discard``: drop one (``lane`` + ``id``)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, action: str) -> None:
        data = self.checked(req, resp)
        if data is None:
            return
        lane, letter_id = str(data.get("lane", "")), str(data.get("id", "")) or None
        if action not in ("retry", "discard") or (action == "discard" and letter_id is None):
            self.back(req, resp, "Say which dead letter: retry (one or a lane's all) or discard (one).", ok=False)
            return
        try:
            if action == "retry":
                done = dead.retry(self.rt, lane, letter_id)
            else:
                done = dead.discard(self.rt, lane, str(letter_id))
        except KeyError:
            self.back(req, resp, f"No lane named {lane}.", ok=False)
            return
        self.audit(f"dead letters {action} {lane} {letter_id or 'all'}: {done}")
        verb = "back on the lane" if action == "retry" else "discarded"
        why = "" if done else " (already retried or discarded?)"
        self.back(req, resp, f"{done} dead letter(s) of {lane} {verb}{why}.", ok=done > 0)


class SettingsJSON(_Resource):
    """``GET /admin/settings``: switches and status as JSON; ``PUT`` / ``PATCH``: change switches.

    Both methods take any subset of ``enabled``, ``notifications`` ({kind: bool}),
    ``admin_numbers`` and ``default_language``; a bad one is a 400 and nothing changes.
    """

    answers_json = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = views.status(self.rt)

    def on_patch(self, req: falcon.Request, resp: falcon.Response) -> None:
        if cross_site(req):  # a signed-in browser's cookie rides along: only our own pages may change things
            raise ApiError(falcon.HTTP_403, "forbidden", "cross-site request refused")
        try:
            lines = views.apply(self.rt, _json_body(req), who="admin API")
        except views.Invalid as exc:
            raise ApiError(falcon.HTTP_400, "invalid", str(exc)) from exc
        resp.media = {"changed": lines, **views.status(self.rt)}

    on_put = on_patch


def _form_changes(data: dict[str, Any]) -> dict[str, Any]:
    """A submitted form -> the switch changes :func:`views.apply` takes."""
    changes: dict[str, Any] = {}
    if "enabled" in data:
        changes["enabled"] = data["enabled"] == "1"
    if data.get("section") == "notifications":
        chosen = data.get("notify", [])
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        changes["notifications"] = {kind: kind in chosen for kind in [*NOTIFICATION_KINDS, *chosen]}
    for key in ("admin_numbers", "default_language"):
        if key in data:
            changes[key] = data[key]
    return changes


def _json_body(req: falcon.Request) -> Any:
    if not (req.content_type or "").startswith(falcon.MEDIA_JSON):
        raise views.Invalid("send the changes as application/json")
    raw = read_body(req, MAX_JSON, status=falcon.HTTP_400, code="invalid", message="the body is too large")
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise views.Invalid("the body is not JSON") from exc


def _take_flash(req: falcon.Request, resp: falcon.Response) -> dict[str, Any] | None:
    values = req.get_cookie_values(FLASH_COOKIE)
    if not values:
        return None
    raw = values[0]
    clear_cookie(req, resp, FLASH_COOKIE)
    try:
        flash = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        return None
    return flash if isinstance(flash, dict) and isinstance(flash.get("text"), str) else None


def _redirect(resp: falcon.Response, location: str) -> None:
    resp.status = falcon.HTTP_303  # after a POST the browser GETs the page: reloads repeat nothing
    resp.location = location


def _clock(at: float | str | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(float(at))) if at else ""

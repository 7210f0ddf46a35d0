"""Who may use the admin page, and the forms' CSRF check.

One of three modes, fixed when the app is built (:attr:`AdminAuth.mode`):

- ``hook``: a Python host passes ``admin_auth(req) -> bool``; the host's own
  login decides (its session cookie reaches us: the add-on is mounted in it).
- ``token``: standalone with ``WA_ADMIN_TOKEN``.  A login form trades the token
  for a signed session cookie (HttpOnly, SameSite=Strict, ``admin_session_ttl``);
  the JSON twin also takes ``Authorization: Bearer <token>``.  The session is
  signed with a key derived from the token, so changing the token signs
  everyone out.
- ``refused``: neither: the page is off.  It is never open by default.

CSRF: every form carries a double-submit token, a random value kept in a
SameSite=Strict cookie that must equal the form's hidden field.  Another site
can neither read the cookie nor make the browser send it along.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import falcon
import redis

from wa_addon.settings import Settings
from wa_addon.store import ADMIN_LOGIN_WINDOW, Keys

HOOK, TOKEN, REFUSED = "hook", "token", "refused"
SESSION_COOKIE = "wa_admin"
CSRF_COOKIE = "wa_csrf"
CSRF_FIELD = "csrf"
MAX_LOGIN_FAILURES = 10  # per client address per ADMIN_LOGIN_WINDOW: guessing stays hopeless

AdminCheck = Callable[[falcon.Request], bool]


class AdminAuth:
    """Decides whether a request may use the admin page.

    Args:
        settings: uses ``admin_token`` and ``admin_session_ttl``.
        conn: Redis, for the sign-in throttle.
        keys: the namespace's key builder.
        hook: the host's check, ``hook(req) -> bool``; wins over the token.
        clock: the time source.
    """

    def __init__(self, settings: Settings, conn: redis.Redis, keys: Keys, hook: AdminCheck | None = None,
                 clock: Callable[[], float] = time.time):
        self.hook, self.conn, self.keys, self.clock = hook, conn, keys, clock
        self.ttl = settings.admin_session_ttl
        self._token = settings.admin_token
        self.mode = HOOK if hook is not None else TOKEN if self._token else REFUSED
        self._key = hmac.new(self._token.encode(), b"wa-addon admin session v1", hashlib.sha256).digest()

    def allowed(self, req: falcon.Request) -> bool:
        """Whether ``req`` comes from a signed-in admin."""
        if self.mode == HOOK:
            return bool(self.hook(req))  # type: ignore[misc]
        if self.mode == TOKEN:
            return self._bearer_ok(req) or self._session_ok(req)
        return False

    def sign_in(self, req: falcon.Request, candidate: str) -> str | None:
        """A new session cookie value if ``candidate`` is the admin token, else None.

        Raises:
            Throttled: too many wrong tokens from this address lately.
        """
        key = self.keys.admin_login_failures(req.remote_addr or "-")
        if int(self.conn.get(key) or 0) >= MAX_LOGIN_FAILURES:
            raise Throttled()
        if self.mode != TOKEN or not _same(candidate, self._token):
            pipe = self.conn.pipeline()
            pipe.set(key, 0, nx=True, ex=ADMIN_LOGIN_WINDOW)  # the window starts at the first failure
            pipe.incr(key)
            pipe.execute()
            return None
        return self._session()

    def _session(self) -> str:
        payload = f"{int(self.clock() + self.ttl)}.{secrets.token_urlsafe(12)}"
        return f"{payload}.{self._sign(payload)}"

    def _session_ok(self, req: falcon.Request) -> bool:
        return any(self._valid(value) for value in req.get_cookie_values(SESSION_COOKIE) or [])

    def _valid(self, value: str) -> bool:
        payload, _, sig = value.rpartition(".")
        expiry = payload.partition(".")[0]
        if not expiry.isdigit() or not _same(sig, self._sign(payload)):
            return False
        return int(expiry) > self.clock()

    def _bearer_ok(self, req: falcon.Request) -> bool:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and _same(token.strip(), self._token)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


class Throttled(Exception):
    """Too many failed sign-ins from one address: answer 429."""


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def cookie_path(req: falcon.Request) -> str:
    """The admin page's path (prefix included): our cookies go nowhere else."""
    return req.root_path + "/admin"


def set_cookie(req: falcon.Request, resp: falcon.Response, name: str, value: str, max_age: int | None) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    resp.set_cookie(name, value, max_age=max_age, path=cookie_path(req), http_only=True, same_site="Strict",
                    secure=req.forwarded_scheme == "https")


def clear_cookie(req: falcon.Request, resp: falcon.Response, name: str) -> None:
    resp.unset_cookie(name, same_site="Strict", path=cookie_path(req))


def csrf_token(req: falcon.Request, resp: falcon.Response) -> str:
    """This browser's CSRF token, issued (as a cookie) on its first page."""
    for value in req.get_cookie_values(CSRF_COOKIE) or []:
        if len(value) >= 32:
            return value
    value = secrets.token_urlsafe(32)
    set_cookie(req, resp, CSRF_COOKIE, value, None)
    return value


def csrf_ok(req: falcon.Request, submitted: object) -> bool:
    """Whether the form's token matches this browser's CSRF cookie."""
    if not isinstance(submitted, str) or len(submitted) < 32:
        return False
    return any(_same(submitted, value) for value in req.get_cookie_values(CSRF_COOKIE) or [])

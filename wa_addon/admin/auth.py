"""Who may use the admin page, the gate that enforces it, and the forms' CSRF check.

One of three modes, fixed when the app is built (:attr:`AdminAuth.mode`):

- ``hook``: a Python host passes ``admin_auth(req) -> bool``; the host's own
  login decides (its session cookie reaches us: the add-on is mounted in it).
- ``token``: standalone with ``WA_ADMIN_TOKEN`` (at least
  :data:`MIN_TOKEN_LENGTH` characters).  A login form trades the token for a
  signed session cookie (HttpOnly, SameSite=Strict, ``admin_session_ttl``);
  the JSON twin also takes ``Authorization: Bearer <token>``.  The session is
  signed with a key derived from the token, so changing the token signs
  everyone out.
- ``refused``: neither, or a token too short to resist guessing: the page is
  off and says why.  It is never open by default.

Guessing: every wrong token, at the login form or as a Bearer token, counts
against the client's address *and the token's first characters*; past
:data:`MAX_LOGIN_FAILURES` in ``ADMIN_LOGIN_WINDOW`` such a pair waits (429),
and past :data:`MAX_ADDRESS_FAILURES` the whole address does.  So a guesser
behind the same proxy as the admin (one address for everyone) does not lock
the admin out unless it guesses the token's prefix, or guesses by the
hundred.  The client's address is the peer's, or, only when the peer is one
of ``WA_TRUSTED_PROXIES``, the last address ``X-Forwarded-For`` names that is
not a trusted proxy (anyone can write that header; only a proxy we trust may
be believed).  Counts are taken first (atomic INCRs) and compared after, so
parallel guesses cannot all slip in under the limit.  The throttle only slows
guessing down; a long random token is the real defence.

The gate: :class:`AdminGate`, one Falcon middleware, stands in front of every
admin resource; no responder checks for itself.  A resource is behind it
unless it says ``signed_in_only = False`` (the login form, sign-out).  A page
that turns someone away answers with the login form (token mode), a 403 page
saying why, or a 429 page; the JSON twin (``answers_json = True``) answers
401 / 403 / 429 with our error body instead.

CSRF: every form carries a double-submit token, a random value kept in a
SameSite=Strict cookie that must equal the form's hidden field; exactly one
such cookie must come along (a second one, planted by a sibling subdomain,
makes the form fail rather than match).  And a state-changing request is
refused outright when the browser says it comes from elsewhere: a
``Sec-Fetch-Site`` other than ``same-origin`` / ``none``, or an ``Origin``
that is not this host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import falcon
import redis

from wa_addon.http_errors import ApiError
from wa_addon.settings import Settings
from wa_addon.store import ADMIN_LOGIN_WINDOW, Keys

HOOK, TOKEN, REFUSED = "hook", "token", "refused"
SESSION_COOKIE = "wa_admin"
CSRF_COOKIE = "wa_csrf"
CSRF_FIELD = "csrf"
MAX_LOGIN_FAILURES = 10  # per client address and token prefix per ADMIN_LOGIN_WINDOW
MAX_ADDRESS_FAILURES = 200  # per client address, whatever the prefix: a ceiling on guessing at large
PREFIX_CHARS = 4  # the token characters a failure is counted under (hashed: never kept in a key)
MIN_TOKEN_LENGTH = 16  # a shorter WA_ADMIN_TOKEN keeps the page off
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})  # "none": the user typed or bookmarked it
THROTTLED = f"Too many wrong tokens from this address. Wait {ADMIN_LOGIN_WINDOW // 60} minutes."

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

    def __init__(
        self,
        settings: Settings,
        conn: redis.Redis,
        keys: Keys,
        hook: AdminCheck | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.hook, self.conn, self.keys, self.clock = hook, conn, keys, clock
        self.ttl = settings.admin_session_ttl
        self.trusted = frozenset(settings.trusted_proxies)
        self._token = settings.admin_token
        self.short_token = hook is None and 0 < len(self._token) < MIN_TOKEN_LENGTH
        usable = bool(self._token) and not self.short_token
        self.mode = HOOK if hook is not None else TOKEN if usable else REFUSED
        self._key = hmac.new(self._token.encode(), b"wa-addon admin session v1", hashlib.sha256).digest()

    def allowed(self, req: falcon.Request) -> bool:
        """Whether ``req`` comes from a signed-in admin.

        Raises:
            Throttled: a Bearer token from an address with too many wrong ones lately.
        """
        if self.mode == HOOK:
            return bool(self.hook(req))  # type: ignore[misc]
        if self.mode == TOKEN:
            return self._session_ok(req) or self._bearer_ok(req)
        return False

    def sign_in(self, req: falcon.Request, candidate: str) -> str | None:
        """A new session cookie value if ``candidate`` is the admin token, else None.

        Raises:
            Throttled: too many wrong tokens from this address lately.
        """
        return self._session() if self.mode == TOKEN and self._token_ok(req, candidate) else None

    def _token_ok(self, req: falcon.Request, candidate: str) -> bool:
        # Count first, compare after: each guess takes its place atomically, so N parallel
        # guesses see N different counts and no more than MAX_LOGIN_FAILURES get through.
        address = client_address(req, self.trusted)
        prefix = hashlib.sha256(candidate[:PREFIX_CHARS].encode()).hexdigest()[:12]
        keys = [self.keys.admin_login_failures(f"{address}|{prefix}"), self.keys.admin_login_failures(address)]
        pipe = self.conn.pipeline()
        for key in keys:
            pipe.set(key, 0, nx=True, ex=ADMIN_LOGIN_WINDOW)  # the window starts at the first attempt
            pipe.incr(key)
        got = pipe.execute()
        if got[1] > MAX_LOGIN_FAILURES or got[3] > MAX_ADDRESS_FAILURES:
            raise Throttled()  # even the right token waits: no guessing race
        if not _same(candidate, self._token):
            return False
        for key in keys:
            pipe.decr(key)  # the right token is no failure: give its places back
        pipe.execute()
        return True

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
        return scheme.lower() == "bearer" and self._token_ok(req, token.strip())

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


def client_address(req: falcon.Request, trusted: frozenset[str]) -> str:
    """The client's address: the peer's, or behind a trusted proxy the nearest untrusted ``X-Forwarded-For`` hop."""
    peer = req.remote_addr or "-"
    if peer not in trusted:
        return peer  # the header is anyone's to write: believed only from our own proxies
    hops = [hop.strip() for hop in (req.get_header("X-Forwarded-For") or "").split(",") if hop.strip()]
    return next((hop for hop in reversed(hops) if hop not in trusted), peer)


class Throttled(Exception):
    """Too many failed sign-ins from one address: answer 429."""


class AdminGate:
    """Falcon middleware: only a signed-in admin reaches an admin resource's responders.

    A resource is gated when its ``signed_in_only`` is true; it brings its
    :class:`AdminAuth` as ``auth`` and, for pages, the site that renders them
    as ``site`` (``site.html(req, resp, template, status, **context)``).
    """

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if not getattr(resource, "signed_in_only", False) or not hasattr(resource, f"on_{req.method.lower()}"):
            return  # not an admin resource, or a method it lacks: Falcon's 405, the same for anyone
        if getattr(resource, "answers_json", False):
            resp.set_header("Cache-Control", "no-store")
            _admit_api(resource.auth, req)
        elif not _admit_page(resource, req, resp):
            resp.complete = True  # answered: the responder does not run


def _admit_page(resource: Any, req: falcon.Request, resp: falcon.Response) -> bool:
    """True if signed in; else answers (to the login form, or a 403 / 429 page saying why)."""
    auth: AdminAuth = resource.auth
    site = resource.site
    try:
        if auth.allowed(req):
            return True
    except Throttled:
        site.html(req, resp, "login.html", falcon.HTTP_429, error=THROTTLED)
        return False
    if auth.mode == TOKEN:
        resp.status, resp.location = falcon.HTTP_303, req.root_path + "/admin/login"
    else:
        site.html(req, resp, "denied.html", falcon.HTTP_403)
    return False


def _admit_api(auth: AdminAuth, req: falcon.Request) -> None:
    """Pass, or raise the answer that says why not."""
    try:
        if auth.allowed(req):
            return
    except Throttled as exc:
        wait = "too many wrong tokens from this address; wait"
        raise ApiError(falcon.HTTP_429, "throttled", wait, {"Retry-After": str(ADMIN_LOGIN_WINDOW)}) from exc
    if auth.mode == TOKEN:
        raise ApiError(
            falcon.HTTP_401,
            "unauthorized",
            "send Authorization: Bearer <WA_ADMIN_TOKEN>",
            {"WWW-Authenticate": 'Bearer realm="wa-addon admin"'},
        )
    if auth.mode == HOOK:
        raise ApiError(falcon.HTTP_403, "forbidden", "the host's login refused this request")
    if auth.short_token:
        raise ApiError(
            falcon.HTTP_403,
            "admin_disabled",
            f"the admin page is off: WA_ADMIN_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters",
        )
    raise ApiError(
        falcon.HTTP_403,
        "admin_disabled",
        "the admin page is off: set WA_ADMIN_TOKEN, or mount the add-on with admin_auth",
    )


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def cookie_path(req: falcon.Request) -> str:
    """The admin page's path (prefix included): our cookies go nowhere else."""
    return req.root_path + "/admin"


def set_cookie(req: falcon.Request, resp: falcon.Response, name: str, value: str, max_age: int | None) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path=cookie_path(req),
        http_only=True,
        same_site="Strict",
        secure=req.forwarded_scheme == "https",
    )


def clear_cookie(req: falcon.Request, resp: falcon.Response, name: str) -> None:
    resp.unset_cookie(name, same_site="Strict", path=cookie_path(req))


def csrf_token(req: falcon.Request, resp: falcon.Response) -> str:
    """This browser's CSRF token, issued (as a cookie) on its first page."""
    value = _csrf_cookie(req)
    if value is not None:
        return value
    value = secrets.token_urlsafe(32)
    set_cookie(req, resp, CSRF_COOKIE, value, None)
    return value


def csrf_ok(req: falcon.Request, submitted: object) -> bool:
    """Whether the form comes from our own page: same site, and its token matches this browser's cookie."""
    expected = _csrf_cookie(req)
    if cross_site(req) or expected is None or not isinstance(submitted, str):
        return False
    return _same(submitted, expected)


def cross_site(req: falcon.Request) -> bool:
    """Whether the browser says this request was sent from another site's page."""
    site = req.get_header("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in SAFE_FETCH_SITES:
        return True
    origin = req.get_header("Origin")
    return origin is not None and urlsplit(origin.strip()).netloc.lower() != req.netloc.lower()


def _csrf_cookie(req: falcon.Request) -> str | None:
    # Exactly one: with two, one was planted (a sibling subdomain can set cookies for us).
    values = req.get_cookie_values(CSRF_COOKIE) or []
    return values[0] if len(values) == 1 and len(values[0]) >= 32 else None

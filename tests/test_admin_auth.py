"""Who may use the admin page: the host's hook, the admin token, or no one; and the forms' CSRF check."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import falcon.testing
import pytest

from wa_addon.admin.auth import MAX_ADDRESS_FAILURES, MAX_LOGIN_FAILURES, AdminAuth, Throttled, client_address
from wa_addon.admin.resources import AdminSite, _Resource
from wa_addon.app import create_app, mount, not_found
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings
from wa_addon.store import Keys

TOKEN = "admin-token-for-tests-0123456789"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(redis_url, namespace):
    return Settings(redis_url=redis_url, namespace=namespace, transports=("device",), admin_token=TOKEN)


def client(settings, **kwargs) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(settings, None, **kwargs))


def csrf_of(c, path="/admin/login") -> str:
    return c.simulate_get(path).cookies["wa_csrf"].value


def sign_in(c, token=TOKEN):
    csrf = csrf_of(c)
    return c.simulate_post(
        "/admin/login", body=f"csrf={csrf}&token={token}", headers=FORM, cookies={"wa_csrf": csrf}
    ), csrf


# --- no hook, no token: refused ------------------------------------------------


def test_without_token_or_hook_the_page_is_refused_with_a_clear_message(settings):
    c = client(settings.with_(admin_token=""))
    page = c.simulate_get("/admin")
    assert page.status_code == 403
    assert "WA_ADMIN_TOKEN" in page.text and "admin_auth" in page.text
    api = c.simulate_get("/admin/settings", headers={"Authorization": "Bearer "})
    assert api.status_code == 403 and api.json["error"]["code"] == "admin_disabled"
    assert c.simulate_get("/admin/login").status_code == 303  # nothing to sign in to: back to the refusal


# --- standalone: the admin token ---------------------------------------------------


def test_signed_out_page_goes_to_the_login_form(settings):
    c = client(settings)
    resp = c.simulate_get("/admin")
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/login"
    assert 'name="token"' in c.simulate_get("/admin/login").text


def test_the_right_token_gives_a_strict_httponly_session_cookie(settings):
    c = client(settings)
    resp, csrf = sign_in(c)
    assert resp.status_code == 303 and resp.headers["location"] == "/admin"
    cookie = resp.cookies["wa_admin"]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/admin"
    assert TOKEN not in cookie.value  # signed session, not the token itself
    page = c.simulate_get("/admin", cookies={"wa_admin": cookie.value, "wa_csrf": csrf})
    assert page.status_code == 200 and "Notifications" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_wrong_token_is_refused(settings):
    c = client(settings)
    resp, _ = sign_in(c, "not-the-token")
    assert resp.status_code == 401 and "wa_admin" not in resp.cookies
    assert "not the admin token" in resp.text


def test_a_forged_or_expired_session_is_not_accepted(settings, conn):
    c = client(settings)
    value = sign_in(c)[0].cookies["wa_admin"].value
    expiry, nonce, sig = value.split(".")
    forged = f"{int(expiry) + 999999}.{nonce}.{sig}"
    assert c.simulate_get("/admin", cookies={"wa_admin": forged}).status_code == 303
    from wa_addon.store import Keys

    later = AdminAuth(settings, conn, Keys(settings.namespace), clock=lambda: int(expiry) + 1)
    assert not later._valid(value)
    assert AdminAuth(settings, conn, Keys(settings.namespace))._valid(value)


def test_changing_the_token_signs_everyone_out(settings):
    value = sign_in(client(settings))[0].cookies["wa_admin"].value
    other = client(settings.with_(admin_token="a-new-token-0123456789"))
    assert other.simulate_get("/admin", cookies={"wa_admin": value}).status_code == 303


def test_the_json_twin_takes_the_bearer_token(settings):
    c = client(settings)
    assert c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    bad = c.simulate_get("/admin/settings", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Bearer")
    assert c.simulate_get("/admin/settings").status_code == 401


NEAR = TOKEN[:4] + "-wrong"  # a guess sharing the token's first characters: counted where the token is


def test_sign_in_is_throttled_after_repeated_wrong_tokens(settings):
    c = client(settings)
    for _ in range(MAX_LOGIN_FAILURES):
        assert sign_in(c, NEAR)[0].status_code == 401
    assert sign_in(c)[0].status_code == 429  # even the right token waits: no guessing race


def test_parallel_guesses_cannot_all_slip_under_the_limit(settings, conn):
    guesses = MAX_LOGIN_FAILURES + 10
    everyone_read = threading.Barrier(guesses, timeout=5)

    class ReadsFirst:
        """Redis, but every guess reads the failure count before any guess writes it."""

        def __getattr__(self, name):
            return getattr(conn, name)

        def get(self, key):
            value = conn.get(key)
            with contextlib.suppress(threading.BrokenBarrierError):
                everyone_read.wait()
            return value

    auth = AdminAuth(settings, ReadsFirst(), Keys(settings.namespace))  # type: ignore[arg-type]

    def guess(i):
        try:
            return auth.sign_in(falcon.testing.create_req(remote_addr="10.0.0.7"), f"guess-{i}")
        except Throttled:
            return "throttled"

    with ThreadPoolExecutor(guesses) as pool:
        outcomes = list(pool.map(guess, range(guesses)))
    assert outcomes.count(None) == MAX_LOGIN_FAILURES and outcomes.count("throttled") == 10


def test_wrong_bearer_tokens_count_as_failures_too(settings):
    c = client(settings)
    for _ in range(MAX_LOGIN_FAILURES):
        assert c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {NEAR}"}).status_code == 401
    right = c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 429 and right.json["error"]["code"] == "throttled" and right.headers["retry-after"]
    assert sign_in(c)[0].status_code == 429  # one count per address, whichever door


def test_a_guesser_behind_the_admins_proxy_does_not_lock_the_admin_out(settings):
    c = client(settings)  # every request comes from the same address, as behind a reverse proxy
    for i in range(MAX_LOGIN_FAILURES * 3):
        assert sign_in(c, f"guess-{i}")[0].status_code in (401, 429)  # before: the admin waited 15 minutes
    assert sign_in(c)[0].status_code == 303


def test_guessing_at_large_meets_a_ceiling_per_address(settings, conn):
    auth = AdminAuth(settings, conn, Keys(settings.namespace))
    req = falcon.testing.create_req(remote_addr="10.0.0.7")
    for i in range(MAX_ADDRESS_FAILURES):
        assert auth.sign_in(req, f"{i:04d}-guess") is None  # each under another prefix
    with pytest.raises(Throttled):
        auth.sign_in(req, "zzzz-guess")


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(settings, conn):
    def address(peer, xff, trusted=()):
        req = falcon.testing.create_req(remote_addr=peer, headers={"X-Forwarded-For": xff})
        return client_address(req, frozenset(trusted))

    assert address("203.0.113.9", "10.1.1.1") == "203.0.113.9"  # anyone can write the header
    assert address("10.0.0.2", "198.51.100.7, 10.0.0.3", ("10.0.0.2", "10.0.0.3")) == "198.51.100.7"
    assert address("10.0.0.2", "6.6.6.6, 198.51.100.7", ("10.0.0.2",)) == "198.51.100.7"  # the forged hop is left
    behind = settings.with_(trusted_proxies=("127.0.0.1",))
    c = client(behind)
    for _ in range(MAX_LOGIN_FAILURES):
        sign_in_from(c, NEAR, "198.51.100.7")
    assert sign_in_from(c, TOKEN, "198.51.100.8").status_code == 303  # another client behind the proxy
    assert sign_in_from(c, TOKEN, "198.51.100.7").status_code == 429


def sign_in_from(c, token, client_ip):
    csrf = csrf_of(c)
    return c.simulate_post(
        "/admin/login",
        body=f"csrf={csrf}&token={token}",
        cookies={"wa_csrf": csrf},
        headers={**FORM, "X-Forwarded-For": client_ip},
    )


def test_the_right_token_does_not_use_up_the_allowance(settings):
    c = client(settings)
    for _ in range(MAX_LOGIN_FAILURES + 5):
        assert c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert sign_in(c)[0].status_code == 303


def test_a_short_token_keeps_the_page_off_and_says_why(settings):
    short = "only-15-chars.."
    c = client(settings.with_(admin_token=short))
    page = c.simulate_get("/admin")
    assert page.status_code == 403 and "shorter than 16 characters" in page.text
    api = c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {short}"})
    assert api.status_code == 403 and api.json["error"]["code"] == "admin_disabled"
    assert "shorter than 16" in api.json["error"]["message"]
    assert c.simulate_get("/admin/login").headers["location"] == "/admin"


def test_sign_out_drops_the_session(settings):
    c = client(settings)
    resp, csrf = sign_in(c)
    cookies = {"wa_admin": resp.cookies["wa_admin"].value, "wa_csrf": csrf}
    out = c.simulate_post("/admin/logout", body=f"csrf={csrf}", headers=FORM, cookies=cookies)
    assert out.status_code == 303 and out.cookies["wa_admin"].value == ""


# --- the gate: one middleware in front of every admin resource --------------------


class _Probe(_Resource):
    """A resource that checks nothing itself: whatever stops a stranger is the gate."""

    def on_get(self, req, resp):
        resp.media = {"reached": True}

    on_post = on_get


@pytest.mark.parametrize("answers_json", [False, True])
def test_every_admin_resource_is_behind_the_gate_unless_it_says_otherwise(settings, answers_json):
    rt = Runtime(settings, None)
    app = create_app(settings, None, runtime=rt)
    probe = _Probe(AdminSite(rt))
    probe.answers_json = answers_json
    app.add_route("/admin/probe", probe)
    c = falcon.testing.TestClient(app)
    refused = c.simulate_get("/admin/probe")
    assert refused.status_code == (401 if answers_json else 303) and "reached" not in refused.text
    assert c.simulate_post("/admin/probe").status_code == (401 if answers_json else 303)
    resp, _ = sign_in(c)
    assert c.simulate_get("/admin/probe", cookies={"wa_admin": resp.cookies["wa_admin"].value}).json == {
        "reached": True
    }
    rt.close()


def test_a_method_the_resource_lacks_is_405_for_anyone(settings):
    c = client(settings)
    assert c.simulate_get("/admin/switches").status_code == 405  # POST only: no sign-in asked for


# --- mounted in a Python host: the host's hook -----------------------------------


def test_a_host_hook_decides_and_sees_the_hosts_own_cookie(settings):
    seen = []

    def host_admin(req) -> bool:
        seen.append(req.cookies.get("host_session"))
        return req.cookies.get("host_session") == "admin-ok"

    c = client(settings.with_(admin_token=""), admin_auth=host_admin)
    assert c.simulate_get("/admin", cookies={"host_session": "admin-ok"}).status_code == 200
    refused = c.simulate_get("/admin", cookies={"host_session": "reseller"})
    assert refused.status_code == 403 and "Sign in" in refused.text
    assert c.simulate_get("/admin/settings", cookies={"host_session": "x"}).json["error"]["code"] == "forbidden"
    assert seen == ["admin-ok", "reseller", "x"]


def test_the_hook_wins_over_the_token(settings):
    c = client(settings, admin_auth=lambda req: False)
    assert c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403


def test_mounted_under_the_prefix_cookies_and_links_carry_it(settings):
    from wa_addon.app import Addon

    addon = Addon(settings, None, admin_auth=lambda req: True)
    c = falcon.testing.TestClient(mount(not_found, addon.app, "/wa"))
    page = c.simulate_get("/wa/admin")
    assert page.status_code == 200
    assert page.cookies["wa_csrf"].path == "/wa/admin"
    assert 'action="/wa/admin/switches"' in page.text


# --- CSRF -----------------------------------------------------------------------


@pytest.fixture
def admin(settings):
    c = client(settings)
    resp, csrf = sign_in(c)
    return c, {"wa_admin": resp.cookies["wa_admin"].value, "wa_csrf": csrf}, csrf


def _enabled(c) -> bool:
    return c.simulate_get("/admin/settings", headers={"Authorization": f"Bearer {TOKEN}"}).json["switches"]["enabled"]


def test_a_form_without_the_csrf_token_changes_nothing(admin):
    c, cookies, _ = admin
    resp = c.simulate_post("/admin/switches", body="enabled=0", headers=FORM, cookies=cookies)
    assert resp.status_code == 403 and "expired" in resp.text
    assert _enabled(c)


def test_a_form_with_another_browsers_csrf_token_changes_nothing(admin):
    c, cookies, _ = admin
    other = "x" * 43
    resp = c.simulate_post("/admin/switches", body=f"csrf={other}&enabled=0", headers=FORM, cookies=cookies)
    assert resp.status_code == 403 and _enabled(c)


def test_a_form_with_the_csrf_token_works(admin):
    c, cookies, csrf = admin
    resp = c.simulate_post("/admin/switches", body=f"csrf={csrf}&enabled=0", headers=FORM, cookies=cookies)
    assert resp.status_code == 303 and not _enabled(c)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_form_sent_from_another_site_changes_nothing_even_with_the_token(admin, headers):
    c, cookies, csrf = admin
    resp = c.simulate_post(
        "/admin/switches", body=f"csrf={csrf}&enabled=0", headers={**FORM, **headers}, cookies=cookies
    )
    assert resp.status_code == 403 and _enabled(c)


def test_a_form_from_our_own_page_passes_the_origin_checks(admin):
    c, cookies, csrf = admin
    own = {"Sec-Fetch-Site": "same-origin", "Origin": "http://falconframework.org"}  # the test client's Host
    resp = c.simulate_post("/admin/switches", body=f"csrf={csrf}&enabled=0", headers={**FORM, **own}, cookies=cookies)
    assert resp.status_code == 303 and not _enabled(c)


def test_a_planted_second_csrf_cookie_makes_the_form_fail(admin):
    c, cookies, csrf = admin
    planted = "p" * 43
    header = f"wa_admin={cookies['wa_admin']}; wa_csrf={planted}; wa_csrf={csrf}"
    for submitted in (planted, csrf):
        resp = c.simulate_post(
            "/admin/switches", body=f"csrf={submitted}&enabled=0", headers={**FORM, "Cookie": header}
        )
        assert resp.status_code == 403 and _enabled(c)


def test_the_json_twin_refuses_a_cross_site_change(admin):
    c, cookies, _ = admin
    resp = c.simulate_patch(
        "/admin/settings", json={"enabled": False}, cookies=cookies, headers={"Origin": "https://evil.example"}
    )
    assert resp.status_code == 403 and _enabled(c)
    ok = c.simulate_patch("/admin/settings", json={"enabled": False}, cookies=cookies)
    assert ok.status_code == 200 and not _enabled(c)

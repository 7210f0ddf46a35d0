"""A signed-in admin for tests of the admin page (falcon's test client; cookies and CSRF kept by hand)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import falcon.testing

from wa_addon.app import Addon
from wa_addon.settings import Settings

TOKEN = "admin-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Admin:
    """A signed-in browser on the admin page (cookies kept by hand)."""

    def __init__(self, settings: Settings):
        self.addon = Addon(settings, None)
        self.rt = self.addon.runtime
        self.c = falcon.testing.TestClient(self.addon.app)
        self.csrf = self.c.simulate_get("/admin/login").cookies["wa_csrf"].value
        self.cookies = {"wa_csrf": self.csrf}
        signed = self.post("/admin/login", token=TOKEN)
        self.cookies["wa_admin"] = signed.cookies["wa_admin"].value

    def page(self) -> str:
        resp = self.c.simulate_get("/admin", cookies=self.cookies)
        assert resp.status_code == 200
        self.cookies.pop("wa_flash", None)  # shown once
        return resp.text

    def post(self, path: str, **fields: str | list[str]):
        body = [("csrf", self.csrf)] + [
            (k, v) for k, vs in fields.items() for v in ([vs] if isinstance(vs, str) else vs)
        ]
        resp = self.c.simulate_post(path, body=urlencode(body), headers=FORM, cookies=self.cookies)
        if "wa_flash" in resp.cookies:
            self.cookies["wa_flash"] = resp.cookies["wa_flash"].value
        return resp

    def api(self, method: str = "GET", body=None, **kwargs):
        headers = {**BEARER, "Content-Type": "application/json"}
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        return self.c.simulate_request(method, "/admin/settings", body=data, headers=headers, **kwargs)

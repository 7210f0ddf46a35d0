"""The WSGI side: ``create_app`` wires every route; ``mount`` serves it under a prefix.

Routes are relative to the prefix (``/webhooks/cloud`` is served at
``{prefix}/webhooks/cloud``): :func:`mount` moves the prefix from ``PATH_INFO``
to ``SCRIPT_NAME`` and hands over, so the add-on fits inside any WSGI host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import falcon

from wa_addon import admin, http_errors
from wa_addon.hooks.intake import EventIntake
from wa_addon.hooks.resource import HookResource
from wa_addon.host import Host
from wa_addon.http_errors import ApiError
from wa_addon.inbound import Intake
from wa_addon.metrics import Metrics
from wa_addon.otp_resource import OtpIssue, OtpVerify
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings
from wa_addon.store import DOWN
from wa_addon.transports.cloud_resource import CloudWebhook
from wa_addon.transports.device import DeviceTransport
from wa_addon.transports.device_resource import Phones
from wa_addon.transports.window import ServiceWindow

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Health:
    """``GET /health``: Redis reachable and the add-on's switch."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.rt.conn.ping()
            resp.media = {"ok": True, "enabled": self.rt.switches.enabled()}
        except DOWN as exc:
            raise ApiError(falcon.HTTP_503, "redis_unavailable", "Redis is down") from exc


def create_app(
    settings: Settings, host: Host, *, runtime: Runtime | None = None, admin_auth: admin.AdminCheck | None = None
) -> falcon.App:
    """The add-on's Falcon WSGI app (routes relative to ``settings.prefix``).

    Args:
        settings: the deployment settings.
        host: the Host adapter.
        runtime: a runtime to share (built from ``settings`` when omitted).
        admin_auth: the host's own admin check, ``admin_auth(req) -> bool``, for
            ``/admin``; without it the admin page asks for ``WA_ADMIN_TOKEN``
            (and is off when no token is set).
    """
    rt = runtime or Runtime(settings, host)
    # The intake records the senders' 24-hour windows in the script that queues their messages.
    intake = Intake(rt, ServiceWindow(rt.conn, rt.keys, settings.cloud_phone_number_id))
    app = http_errors.install(falcon.App())  # our error body; StoreUnavailable: 503, in one place
    app.add_route("/health", Health(rt))
    app.add_route("/webhooks/cloud", CloudWebhook(settings, intake))
    app.add_route("/hooks", HookResource(EventIntake(rt)))
    app.add_route("/otp", OtpIssue(rt))
    app.add_route("/otp/verify", OtpVerify(rt))
    device = rt.transports.get("device")
    if isinstance(device, DeviceTransport):  # the phones' endpoints exist only where phones are configured
        phones = Phones(device, settings, intake)
        for endpoint in ("inbound", "outbox", "ack", "autoresponder"):  # on_post_inbound, on_get_outbox, ...
            app.add_route(f"/device/{endpoint}", phones, suffix=endpoint)
    site = admin.AdminSite(rt, admin_auth)
    app.add_middleware(admin.AdminGate())  # only a signed-in admin reaches an admin resource
    app.add_route("/admin", admin.AdminPage(site))
    app.add_route("/admin/settings", admin.SettingsJSON(site))
    app.add_route("/admin/login", admin.Login(site))
    app.add_route("/admin/logout", admin.Logout(site))
    app.add_route("/admin/switches", admin.SwitchesForm(site))
    app.add_route("/admin/phones", admin.PhonesForm(site))
    app.add_route("/admin/phones/{name}/revoke", admin.PhoneRevoke(site))
    app.add_route("/admin/failed/{transport}/retry", admin.RetryForm(site))
    app.add_route("/admin/dead/{action}", admin.DeadLetterForm(site))
    app.add_route("/metrics", Metrics(rt, site.auth, settings.metrics_token))
    return app


class Addon:
    """The add-on as a Python host embeds it: its app and its runtime."""

    def __init__(
        self,
        settings: Settings,
        host: Host,
        *,
        runtime: Runtime | None = None,
        admin_auth: admin.AdminCheck | None = None,
    ):
        self.settings = settings
        self.runtime = runtime or Runtime(settings, host)
        self.app = create_app(settings, host, runtime=self.runtime, admin_auth=admin_auth)

    def emit(self, type: str, data: dict[str, Any]) -> None:
        """Hand the add-on a host event in-process (same checks and queue as ``POST {prefix}/hooks``).

        Fits as a Python host's event sink: ``SandboxDB(path, on_event=addon.emit)``.

        Raises:
            wa_addon.hooks.events.EventError: unknown type or bad data.
            wa_addon.store.StoreUnavailable: Redis is down; try again.
        """
        EventIntake(self.runtime).emit(type, data)

    def mount(self, host_app: WSGIApp) -> WSGIApp:
        """``host_app`` with the add-on served under ``settings.prefix``."""
        return mount(host_app, self.app, self.settings.prefix)


def mount(host_app: WSGIApp, addon_app: WSGIApp, prefix: str = "/wa") -> WSGIApp:
    """Serve ``addon_app`` under ``prefix`` inside ``host_app`` (werkzeug-dispatcher style)."""
    prefix = "/" + prefix.strip("/")

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path != prefix and not path.startswith(prefix + "/"):
            return host_app(environ, start_response)
        environ = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + prefix}
        environ["PATH_INFO"] = path[len(prefix) :] or "/"
        return addon_app(environ, start_response)

    return dispatch


def not_found(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI app behind a standalone add-on: everything outside the prefix is 404."""
    body = b'{"error": {"code": "not_found", "message": "Not found"}}'
    start_response("404 Not Found", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

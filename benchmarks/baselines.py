"""The designs a panel owner would write instead, measured beside ours in the same run.

1. ``inrequest_app``: a plain Falcon app that, inside the webhook request,
   checks the signature, dedupes the message id (one SET NX), asks the host
   for the sender, renders the reply and posts it to the Graph API, then
   answers 200.  Served by gunicorn sync workers like ours.
2. ``perjob_app`` + ``reply_job``: the same intake, but one RQ job per
   message (``Queue.enqueue``), run by RQ SimpleWorkers.

Both use the same keep-alive HTTP sessions, the same host client and the
same reply template as the add-on, so only the design differs.  Apps are
built from ``WA_*`` settings (gunicorn ``benchmarks.baselines:inrequest_app()``).
"""

from __future__ import annotations

from typing import Any

import falcon
import redis
from rq import Queue

from wa_addon.host.http import HttpHost
from wa_addon.httpclient import keepalive_session
from wa_addon.messages import Inbound, Outbound
from wa_addon.render import Renderer
from wa_addon.settings import Settings
from wa_addon.transports.cloud import build_body
from wa_addon.transports.cloud_webhook import SIGNATURE_HEADER, parse_webhook, verify_signature

_state: dict[str, Any] = {}


def _parts() -> dict[str, Any]:
    """Settings, Redis, host, Graph session and renderer, built once per process."""
    if not _state:
        s = Settings.from_env()
        _state.update(
            settings=s,
            conn=redis.Redis.from_url(s.redis_url),
            host=HttpHost(s.host_url, s.host_key),
            graph=keepalive_session(),
            renderer=Renderer(),
            url=f"{s.graph_base}/{s.cloud_phone_number_id}/messages",
            headers={"Authorization": f"Bearer {s.cloud_token}"},
        )
    return _state


def _read(req: falcon.Request) -> list[Inbound]:
    raw = req.bounded_stream.read()
    if not verify_signature(_parts()["settings"].cloud_app_secret, raw, req.get_header(SIGNATURE_HEADER)):
        raise falcon.HTTPUnauthorized()
    return parse_webhook(raw)[0]


def answer(msg: Inbound) -> None:
    """Ask the host, render, send: the whole work of one BAL, in the caller's thread."""
    p = _parts()
    if not p["conn"].set(f"baseline:seen:{msg.msg_id}", 1, nx=True, ex=86400):
        return
    reseller = p["host"].find_reseller(phone=msg.sender)
    if reseller is None:
        return
    lang = reseller.language or "bn"
    text = p["renderer"].render(lang, "balance", name=reseller.name, balance=reseller.balance)
    body = build_body(Outbound(id=msg.reply_id, to=msg.sender, text=text))
    p["graph"].post(p["url"], json=body, headers=p["headers"], timeout=30)


class _InRequest:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        for msg in _read(req):
            answer(msg)
        resp.media = {"ok": True}


class _PerJob:
    def __init__(self) -> None:
        self.queue = Queue("baseline-perjob", connection=_parts()["conn"])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        for msg in _read(req):
            self.queue.enqueue(reply_job, msg.msg_id, msg.sender, result_ttl=60)
        resp.media = {"ok": True}


def reply_job(msg_id: str, sender: str) -> None:
    """One RQ job per message: the baseline's worker side."""
    answer(Inbound("cloud", msg_id, sender, "BAL"))


def inrequest_app() -> falcon.App:
    app = falcon.App()
    app.add_route(_parts()["settings"].prefix + "/webhooks/cloud", _InRequest())
    return app


def perjob_app() -> falcon.App:
    app = falcon.App()
    app.add_route(_parts()["settings"].prefix + "/webhooks/cloud", _PerJob())
    return app

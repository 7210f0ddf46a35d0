"""Serving the add-on with gunicorn (sync workers: the stable p99 measured here)."""

from __future__ import annotations

from typing import Any

from wa_addon.app import Addon, not_found
from wa_addon.host.http import HttpHost
from wa_addon.settings import Settings

try:
    from gunicorn.app.base import BaseApplication
except ImportError as exc:  # an extra: a host that mounts the add-on serves it with its own server
    raise ImportError("wa-addon serve needs gunicorn: pip install 'wa_addon[serve]'") from exc


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, load_app: Any, options: dict[str, Any]):
        self._load_app, self._options = load_app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._load_app()  # in each worker, after the fork: its own Redis sockets


def standalone_app(settings: Settings) -> Any:
    """The add-on under its prefix, 404 elsewhere, talking to the host over HTTP."""
    addon = Addon(settings, HttpHost(settings.host_url, settings.host_key))
    return addon.mount(not_found)


def gunicorn_options(settings: Settings, bind: str, workers: int, threads: int) -> dict[str, Any]:
    """Sync workers (the stable p99 measured here), unless phones long-poll.

    A phone's ``GET /device/outbox?wait=N`` holds its worker for up to N
    seconds; with sync workers two phones would leave no worker for webhooks.
    So with the device transport each worker gets ``threads`` threads.
    """
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "sync",
        "accesslog": None,
        "timeout": 30,
    }
    if "device" in settings.transports:
        options |= {"worker_class": "gthread", "threads": threads, "timeout": settings.device_poll_max + 30}
    return options


def serve_gunicorn(settings: Settings, bind: str, workers: int, threads: int = 16, load_app: Any = None) -> None:
    """Run gunicorn in the foreground."""
    options = gunicorn_options(settings, bind, workers, threads)
    _Gunicorn(load_app or (lambda: standalone_app(settings)), options).run()

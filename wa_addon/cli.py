"""``wa-addon``: the command-line program.

Every command reads the ``WA_*`` settings (and ``--config FILE``).  Without
``WA_REDIS_URL`` a private Redis is started under the state folder and stopped
on exit.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from wa_addon.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


def state_dir(settings: Settings) -> Path:
    """The folder for the embedded Redis and the demo database."""
    return Path(settings.state_dir or Path.home() / ".wa-addon")


def ensure_redis(settings: Settings) -> Settings:
    """Settings with a Redis URL: the given one, or a started embedded Redis."""
    if settings.redis_url:
        return settings
    from wa_addon.redis_server import EmbeddedRedis

    server = EmbeddedRedis(state_dir(settings) / "redis").start()
    click.echo(f"embedded Redis: {server.url} (data in {server.dir})", err=True)
    os.environ["WA_REDIS_URL"] = server.url  # so child processes (workers) share it
    return settings.with_(redis_url=server.url)


def build_runtime(settings: Settings):  # type: ignore[no-untyped-def]
    """A runtime talking to the host over HTTP, per the settings."""
    from wa_addon.host.http import HttpHost
    from wa_addon.runtime import Runtime

    return Runtime(settings, HttpHost(settings.host_url, settings.host_key))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="TOML file of WA_* settings.")
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO (never message texts, PINs or tokens).")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: bool) -> None:
    """wa-addon: WhatsApp for recharge and mobile-banking reseller servers.

    Host events become WhatsApp messages; WhatsApp chats from the admin and the
    resellers become operations on the host.  Start with `wa-addon demo`.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"settings": Settings.from_env(config_file=config)}


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="Address to listen on.")
@click.option("--workers", default=2, show_default=True, help="gunicorn sync worker processes.")
@click.pass_context
def serve(ctx: click.Context, bind: str, workers: int) -> None:
    """Serve the add-on's HTTP endpoints (webhooks, hooks, admin) under WA_PREFIX."""
    from wa_addon.serving import serve_gunicorn

    settings = ensure_redis(_settings(ctx))
    click.echo(f"serving {settings.prefix} on http://{bind}{settings.prefix}", err=True)
    serve_gunicorn(settings, bind, workers)


@main.command()
@click.option("--processes", default=1, show_default=True, help="Worker processes (each a SimpleWorker).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.pass_context
def worker(ctx: click.Context, processes: int, burst: bool) -> None:
    """Run the RQ worker(s) that execute commands and deliver messages."""
    from functools import partial

    from wa_addon import worker as worker_mod

    settings = ensure_redis(_settings(ctx))
    worker_mod.run_pool(partial(build_runtime, settings), processes, burst=burst)


@main.command("check-host")
@click.argument("url")
@click.option("--key", required=True, envvar="WA_HOST_KEY", help="The host's API key (admin).")
def check_host(url: str, key: str) -> None:
    """Run the host-contract conformance suite against URL; exit 1 on any failure."""
    from wa_addon.host.conformance import format_report, run_checks

    results = run_checks(url, key)
    click.echo(format_report(results))
    sys.exit(0 if all(r.ok for r in results) else 1)


@main.command()
@click.argument("to")
@click.argument("text")
@click.option("--transport", default=None, help="Transport to send on (default: the first configured).")
@click.pass_context
def send(ctx: click.Context, to: str, text: str, transport: str | None) -> None:
    """Queue TEXT to the phone number TO (a worker delivers it)."""
    from wa_addon import outbox
    from wa_addon.commands.grammar import parse_phone
    from wa_addon.messages import Outbound, short_hash

    settings = _settings(ctx)
    if not settings.redis_url:
        raise click.UsageError("set WA_REDIS_URL to the Redis the workers use")
    number = parse_phone(to, settings.country)
    if number is None:
        raise click.BadParameter(f"not a phone number: {to}", param_hint="TO")
    rt = build_runtime(settings)
    msg = Outbound(id=short_hash(f"cli:{number}:{text}:{os.urandom(8).hex()}"), to=number, text=text, kind="cli")
    outbox.push(rt, [msg], transport)
    click.echo(f"queued {msg.id} to {number}")


if __name__ == "__main__":  # pragma: no cover
    main()

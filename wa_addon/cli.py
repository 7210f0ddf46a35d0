"""``wa-addon``: the command-line program.

Every command reads the ``WA_*`` settings (and ``--config FILE``).  Without
``WA_REDIS_URL`` (or ``WA_REDIS_SENTINELS``) the embedded Redis of the state
folder is used: ``serve`` and ``worker`` start it detached and share it; a
one-off command that finds none running starts its own and stops it on exit.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import click
import redis

from wa_addon import demo as demo_mod
from wa_addon import doctor as doctor_mod
from wa_addon import redis_conn, redis_server
from wa_addon.admin.dead_letters import rows as dead_rows
from wa_addon.admin.views import ago
from wa_addon.admin.views import failed as failed_messages
from wa_addon.commands.admin_pin import AdminPin
from wa_addon.device_sim import DeviceSim, simulate
from wa_addon.doctor import not_ready
from wa_addon.host.conformance import format_report, run_checks
from wa_addon.host.http import HttpHost
from wa_addon.messages import Outbound, short_hash
from wa_addon.phones import parse_phone
from wa_addon.queue import dead as dead_letters
from wa_addon.queue import outbox
from wa_addon.queue import worker as worker_mod
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings, state_dir_of
from wa_addon.store import Keys
from wa_addon.transports import cloud_templates
from wa_addon.transports.device import DeviceTransport
from wa_addon.transports.device_tokens import DeviceError


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


def ensure_redis(settings: Settings, start: str = "shared") -> Settings:
    """Settings with a Redis (sentinels, the given URL, or the embedded Redis), checked to be Redis >= 6.2.

    Args:
        settings: the settings read.
        start: without ``WA_REDIS_URL`` or ``WA_REDIS_SENTINELS``: ``"shared"`` finds, or starts detached,
            the one every command of the state folder shares (serve, worker);
            ``"private"`` starts one that stops with this process (the demo);
            ``"oneshot"`` uses the shared one when it runs, else a private one,
            so a one-off command (device, send) leaves no server behind.
    """
    if not settings.redis_sentinels:
        settings = settings.with_(redis_url=settings.redis_url or _embedded(settings, start))
    _require_version(settings)
    return settings


def _embedded(settings: Settings, start: str) -> str:
    folder = state_dir_of(settings) / "redis"
    url, started = redis_server.running(folder), False
    try:
        if start == "private" or (start == "oneshot" and url is None):
            url, started = redis_server.EmbeddedRedis(folder).start().url, True
        elif url is None:
            url, started = redis_server.shared(folder)
    except RuntimeError as exc:  # no redis-server to start, or it would not start
        raise click.ClickException(str(exc)) from exc
    click.echo(f"embedded Redis: {url} ({'started' if started else 'running'}, data in {folder})", err=True)
    os.environ["WA_REDIS_URL"] = url  # so child processes (workers) share it
    return url


def _require_version(settings: Settings) -> None:
    """Refuse to start on a Redis older than the code needs (an unreachable one is left to the callers)."""
    try:
        redis_server.check_version(redis_conn.connect(settings, socket_timeout=3))
    except redis.exceptions.RedisError:
        return
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def build_runtime(settings: Settings) -> Runtime:
    """A runtime talking to the host over HTTP, per the settings."""
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
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"settings": Settings.from_env(config_file=config)}


@main.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="Address to listen on.")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes.")
@click.option(
    "--threads",
    default=16,
    show_default=True,
    help="Threads per worker when phones long-poll (device transport); else sync workers.",
)
@click.pass_context
def serve(ctx: click.Context, bind: str, workers: int, threads: int) -> None:
    """Serve the add-on's HTTP endpoints (webhooks, hooks, admin) under WA_PREFIX."""
    try:  # here, not at the top: serving imports gunicorn, the [serve] extra, and every other command runs without it
        from wa_addon.serving import serve_gunicorn
    except ImportError as exc:
        raise click.ClickException(str(exc)) from exc

    settings = ensure_redis(_settings(ctx))
    click.echo(f"serving {settings.prefix} on http://{bind}{settings.prefix}", err=True)
    serve_gunicorn(settings, bind, workers, threads)


@main.command()
@click.option("--processes", default=1, show_default=True, help="Worker processes (each a SimpleWorker).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.pass_context
def worker(ctx: click.Context, processes: int, burst: bool) -> None:
    """Run the RQ worker(s) that execute commands and deliver messages."""
    settings = ensure_redis(_settings(ctx))
    worker_mod.run_pool(settings, processes, burst=burst)


@main.command()
@click.option("--port", default=8000, show_default=True, help="Port of the demo's web server (127.0.0.1).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the demo's Redis data and host database (default: WA_STATE_DIR or ~/.wa-addon/demo).",
)
@click.option("--reset", is_flag=True, help="Start from the seeded state: forget the last run's host and Redis data.")
@click.pass_context
def demo(ctx: click.Context, port: int, state_dir: str | None, reset: bool) -> None:
    """Run everything on embedded defaults: Redis, the sandbox host with the add-on, a worker, a phone.

    Honours every WA_* setting.  Chats typed on stdin as FROM: TEXT go in through
    the simulated phone; its replies are printed.  The seeded accounts are fixed.
    """
    settings = _settings(ctx)
    folder = Path(state_dir) if state_dir else state_dir_of(settings) / "demo"
    settings = ensure_redis(settings.with_(state_dir=str(folder)), start="private")
    demo_mod.run(settings, port, folder, reset=reset)


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the settings, Redis, the host and each transport; exit 1 if any check fails."""
    checks = doctor_mod.run(_settings(ctx))
    click.echo(doctor_mod.format_report(checks))
    sys.exit(0 if all(c.ok for c in checks) else 1)


@main.command("check-host")
@click.argument("url")
@click.option("--key", required=True, envvar="WA_HOST_KEY", help="The host's API key (admin).")
def check_host(url: str, key: str) -> None:
    """Run the host-contract conformance suite against URL; exit 1 on any failure."""
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
    settings = _settings(ctx)
    number = parse_phone(to, settings.country)
    if number is None:
        raise click.BadParameter(f"not a phone number: {to}", param_hint="TO")
    settings = ensure_redis(settings, start="oneshot")
    name = transport or (settings.transports or ("cloud",))[0]
    problem = not_ready(settings, name)
    if problem:  # queued there, it would never leave nor show anywhere
        raise click.ClickException(f"not queued: {problem}")
    rt = build_runtime(settings)
    msg = Outbound(id=short_hash(f"cli:{number}:{text}:{os.urandom(8).hex()}"), to=number, text=text, kind="cli")
    outbox.push(rt, [msg], name)
    click.echo(f"queued {msg.id} to {number} on {name}")


@main.command("admin-pin")
@click.pass_context
def admin_pin(ctx: click.Context) -> None:
    """Set the admin PIN (asked twice, never echoed; stored hashed in Redis).

    Admin money and secret commands relayed by a phone not in
    WA_DEVICE_ADMIN_PHONES (or every one, with WA_ADMIN_PIN=always) end with it.
    """
    settings = ensure_redis(_settings(ctx))
    new = click.prompt("New admin PIN (4 to 8 digits)", hide_input=True, confirmation_prompt=True)
    try:
        AdminPin(redis_conn.connect(settings), Keys(settings.namespace)).set(new)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo("admin PIN set")


@main.group()
def device() -> None:
    """Manage the phones of the device transport (tokens, contact names)."""


def _device(ctx: click.Context) -> DeviceTransport:
    return DeviceTransport(ensure_redis(_settings(ctx.find_root()), start="oneshot"))


@device.command("add")
@click.argument("name")
@click.pass_context
def device_add(ctx: click.Context, name: str) -> None:
    """Register phone NAME and print its bearer token (shown only this once)."""
    try:
        click.echo(_device(ctx).add_phone(name))
    except DeviceError as exc:
        raise click.ClickException(str(exc)) from exc


@device.command("revoke")
@click.argument("name")
@click.pass_context
def device_revoke(ctx: click.Context, name: str) -> None:
    """Revoke phone NAME's token; its leased messages go to the other phones."""
    if not _device(ctx).revoke_phone(name):
        raise click.ClickException(f"no phone named {name!r}")
    click.echo(f"revoked {name}")


@device.command("list")
@click.pass_context
def device_list(ctx: click.Context) -> None:
    """The phones, whether each is online and when it was last heard from."""
    for line in _device(ctx).report():
        click.echo(line)


@device.command("map")
@click.argument("name")
@click.argument("phone")
@click.pass_context
def device_map(ctx: click.Context, name: str, phone: str) -> None:
    """Map a contact NAME (as the phones show it) to the number PHONE."""
    try:
        click.echo(f"{name} -> {_device(ctx).map_name(name, phone)}")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PHONE") from exc


@main.group()
def failed() -> None:
    """Messages no transport could deliver (permanent errors), as on the admin page."""


def _failed_runtime(ctx: click.Context) -> Runtime:
    return build_runtime(ensure_redis(_settings(ctx.find_root()), start="oneshot"))


@failed.command("list")
@click.option("--count", default=50, show_default=True, help="At most this many per transport and per lane.")
@click.pass_context
def failed_list(ctx: click.Context, count: int) -> None:
    """The failed messages, then the dead letters, oldest first (secret texts hidden)."""
    rt = _failed_runtime(ctx)
    rows = failed_messages(rt, count)
    for row in rows:
        click.echo(
            f"{row['transport']}  {row['id']}  to {row['to']}  {row['kind']}  "
            f"attempts {row['attempts']}  {row['error'] or '-'}  {row['text']!r}"
        )
    letters, now = dead_rows(rt, count), time.time()
    for d in letters:
        when = ago(d["at"], now) if d["at"] else "when unknown"
        click.echo(f"dead {d['lane']}  {d['id']}  {when}  {d['kind']}  {d['who'] or '-'}  {d['why']}  {d['text']!r}")
    click.echo(f"{len(rows)} failed, {len(letters)} dead letter(s)")


@failed.command("retry")
@click.argument("item_id", required=False)
@click.option("--transport", default=None, help="Only this transport's failed list (default: every one).")
@click.option("--dead", is_flag=True, help="Retry dead letters (every one, or ITEM_ID), not failed messages.")
@click.option("--lane", default=None, help="With --dead: only this lane's (in, ev, out:cloud, ...).")
@click.pass_context
def failed_retry(ctx: click.Context, item_id: str | None, transport: str | None, dead: bool, lane: str | None) -> None:
    """Put ITEM_ID (a failed message's or a dead letter's id), or every failed message, back in line.

    A failed message goes back to its outbox; a dead letter back on its lane,
    once however often it is retried.  A worker takes them from there.
    """
    rt = _failed_runtime(ctx)
    names = [transport] if transport else list(rt.transports)
    unknown = [name for name in names if name not in rt.transports]
    if unknown:
        raise click.BadParameter(f"not in WA_TRANSPORTS: {', '.join(unknown)}", param_hint="--transport")
    lanes = _lanes(rt, lane)
    moved = 0 if dead else sum(outbox.retry_failed(rt, name, item_id) for name in names)
    if moved:
        click.echo(f"{moved} message(s) back in the outbox")
        return
    if dead or item_id:  # an id that is no failed message may be a dead letter's
        moved = sum(dead_letters.retry(rt, name, item_id) for name in lanes)
        if moved or not item_id:
            click.echo(f"{moved} dead letter(s) back on their lane")
            return
    if item_id:
        raise click.ClickException(f"no failed message or dead letter {item_id} (retried already?)")
    click.echo("0 message(s) back in the outbox")


@failed.command("discard")
@click.argument("letter_id")
@click.option("--lane", default=None, help="Only look in this lane's dead letters.")
@click.pass_context
def failed_discard(ctx: click.Context, letter_id: str, lane: str | None) -> None:
    """Drop the dead letter LETTER_ID for good (see ``failed list``)."""
    rt = _failed_runtime(ctx)
    if not sum(dead_letters.discard(rt, name, letter_id) for name in _lanes(rt, lane)):
        raise click.ClickException(f"no dead letter {letter_id} (retried or discarded already?)")
    click.echo(f"dead letter {letter_id} discarded")


def _lanes(rt: Runtime, lane: str | None) -> list[str]:
    if lane is not None and lane not in rt.lanes:
        raise click.BadParameter(f"no lane {lane}; lanes: {', '.join(sorted(rt.lanes))}", param_hint="--lane")
    return [lane] if lane else sorted(rt.lanes)


@main.command()
@click.option("--lang", type=click.Choice(["bn", "en", "all"]), default="all", show_default=True)
@click.option("--submit", is_flag=True, help="Post them to the Graph API (needs WA_CLOUD_TOKEN, WA_CLOUD_WABA_ID).")
@click.pass_context
def templates(ctx: click.Context, lang: str, submit: bool) -> None:
    """The Cloud API templates for outside the 24-hour window, as Meta's message_templates JSON."""
    settings = _settings(ctx)
    found = [t for code in (("bn", "en") if lang == "all" else (lang,)) for t in cloud_templates.definitions(code)]
    if not submit:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    missing = [
        env
        for env, value in (("WA_CLOUD_TOKEN", settings.cloud_token), ("WA_CLOUD_WABA_ID", settings.cloud_waba_id))
        if not value
    ]
    if missing:
        raise click.UsageError(f"--submit needs {', '.join(missing)}")
    results = cloud_templates.submit(settings, found)
    for label, ok, said in results:
        click.echo(f"{'ok  ' if ok else 'FAIL'} {label}: {said}")
    names = sorted({t["name"] for t in found})
    click.echo("once approved: WA_CLOUD_TEMPLATES=" + ",".join(f"{n}:{n}" for n in names), err=True)
    sys.exit(0 if all(ok for _, ok, _ in results) else 1)


@main.command("device-sim")
@click.option("--url", required=True, help="The add-on's base URL, prefix included (http://host:8080/wa).")
@click.option("--token", required=True, envvar="WA_DEVICE_TOKEN", help="The phone's token (wa-addon device add).")
@click.option("--script", type=click.File("r", encoding="utf-8"), help="'FROM: text' lines to post first.")
@click.option("--record", type=click.Path(dir_okay=False), help="Append each sent message to this JSONL file.")
@click.option("--once", is_flag=True, help="Post the script, poll once, exit.")
@click.option("--wait", default=25.0, show_default=True, help="Long-poll seconds.")
def device_sim(url: str, token: str, script: TextIO | None, record: str | None, once: bool, wait: float) -> None:
    """Play a phone: poll, "send" (print/record), ack; post chats typed as 'FROM: text'."""
    phone = DeviceSim(url, token, record=record, echo=click.echo)
    simulate(phone, script=script, stdin=None if once else sys.stdin, once=once, wait=wait)


if __name__ == "__main__":  # pragma: no cover
    main()

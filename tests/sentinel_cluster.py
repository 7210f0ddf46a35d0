"""A Redis master, one replica and three sentinels on free loopback ports (imported, never collected).

Real ``redis-server`` processes, started by a test and stopped after it; the
master and the replica keep an append-only file, as docs/deploy.md asks.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from wa_addon.redis_server import find_binary, free_port

MASTER_NAME = "mymaster"


class SentinelCluster:
    """Master + replica + three sentinels under ``folder``; a context manager.

    ``min_replicas``: each server's ``min-replicas-to-write``, as docs/deploy.md advises.
    """

    def __init__(
        self,
        folder: Path,
        name: str = MASTER_NAME,
        min_replicas: int = 1,
        *,
        password: str = "",
        username: str = "",
        sentinel_password: str = "",
        tls: Certificates | None = None,
    ):
        self.dir, self.name, self.min_replicas = folder, name, min_replicas
        self.password, self.username, self.sentinel_password, self.tls = password, username, sentinel_password, tls
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sentinels(self) -> tuple[str, ...]:
        """The ``host:port`` items of ``WA_REDIS_SENTINELS``."""
        return tuple(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def __enter__(self) -> SentinelCluster:
        try:
            self._server(self.master_port)
            self._server(self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port))
            _until(lambda: self._client(self.replica_port).info("replication")["master_link_status"] == "up")
            for port in self.sentinel_ports:
                self._sentinel(port)
            _until(self._sentinels_ready)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def master_port_now(self, sentinel_port: int | None = None) -> int:
        """The master's port as one sentinel names it."""
        client = self._client(sentinel_port or self.sentinel_ports[0])
        return int(client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)[1])

    def failover(self, timeout: float = 30) -> int:
        """``SENTINEL FAILOVER``; waits until every sentinel names the new master and the old one
        follows it as a replica (until then the old master still takes writes, see docs/deploy.md)."""
        old = self.master_port_now()
        self._client(self.sentinel_ports[0]).execute_command("SENTINEL", "FAILOVER", self.name)
        _until(lambda: all(self.master_port_now(p) != old for p in self.sentinel_ports), timeout)
        new = self.master_port_now()
        _until(lambda: self._client(new).info("replication")["role"] == "master", timeout)
        _until(lambda: self._client(old).info("replication").get("master_port") == new, timeout)
        return new

    def _server(self, port: int, *extra: str) -> None:
        folder = self.dir / str(port)
        folder.mkdir(parents=True)
        argv = [
            find_binary(),
            *self._listen(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--logfile",
            str(folder / "redis.log"),
            "--min-replicas-to-write",
            str(self.min_replicas),
            "--min-replicas-max-lag",
            "10",
            *extra,
        ]
        if self.username:  # an ACL user, and the default user off: only that name signs in
            argv += [
                "--user",
                "default",
                "off",
                "--user",
                self.username,
                "on",
                f">{self.password}",
                "~*",
                "&*",
                "+@all",
                "--masteruser",
                self.username,
                "--masterauth",
                self.password,
            ]
        elif self.password:  # masterauth too: after a failover the old master follows the new one
            argv += ["--requirepass", self.password, "--masterauth", self.password]
        self._spawn(argv)
        _until(lambda: self._client(port).ping())

    def _sentinel(self, port: int) -> None:
        conf = self.dir / f"sentinel-{port}.conf"  # a sentinel rewrites its file: one each
        listen = self._listen(port)
        lines = [
            *(f"{k.removeprefix('--')} {v}" for k, v in zip(listen[::2], listen[1::2], strict=True)),
            "bind 127.0.0.1",
            f"dir {self.dir}",
            f"logfile {self.dir / f'sentinel-{port}.log'}",
            f"sentinel monitor {self.name} 127.0.0.1 {self.master_port} 2",
            f"sentinel down-after-milliseconds {self.name} 2000",
            f"sentinel failover-timeout {self.name} 10000",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {self.name} {self.password}")
        if self.username:
            lines.append(f"sentinel auth-user {self.name} {self.username}")
        if self.sentinel_password:  # its own, and the one it gives the other sentinels
            lines += [f"requirepass {self.sentinel_password}", f"sentinel sentinel-pass {self.sentinel_password}"]
        conf.write_text("\n".join(lines) + "\n")
        self._spawn([find_binary(), str(conf), "--sentinel"])

    def _listen(self, port: int) -> list[str]:
        """Plain ``--port``, or TLS only (the plain port closed) with replication over TLS too."""
        if self.tls is None:
            return ["--port", str(port)]
        return [
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(self.tls.cert),
            "--tls-key-file",
            str(self.tls.key),
            "--tls-ca-cert-file",
            str(self.tls.ca),
            "--tls-replication",
            "yes",
            "--tls-auth-clients",
            "no",
        ]

    def _sentinels_ready(self) -> bool:
        """Each sentinel knows the replica and the two other sentinels (failover needs both)."""
        for port in self.sentinel_ports:
            info = self._client(port).execute_command("SENTINEL", "MASTER", self.name)
            fields = dict(zip(info[::2], info[1::2], strict=True)) if isinstance(info, list) else info
            if int(fields[b"num-slaves"]) < 1 or int(fields[b"num-other-sentinels"]) < 2:
                return False
        return True

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _client(self, port: int) -> redis.Redis:
        password = self.sentinel_password if port in self.sentinel_ports else self.password
        tls = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        user = None if port in self.sentinel_ports else self.username or None
        return redis.Redis(
            port=port, socket_connect_timeout=0.5, socket_timeout=2, username=user, password=password or None, **tls
        )


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1, made with the ``openssl`` program."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def make(cls, folder: Path) -> Certificates:
        folder.mkdir(parents=True, exist_ok=True)
        run = functools.partial(subprocess.run, check=True, capture_output=True, cwd=folder)
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=wa-addon test CA",
            ]
        )
        run(
            [
                "openssl",
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "redis.key",
                "-out",
                "redis.csr",
                "-subj",
                "/CN=127.0.0.1",
            ]
        )
        (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                "redis.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "redis.crt",
                "-days",
                "2",
                "-extfile",
                "san.cnf",
            ]
        )
        return cls(folder / "ca.crt", folder / "redis.crt", folder / "redis.key")


def tls_problem(folder: Path) -> str | None:
    """Why a TLS cluster cannot run here (no openssl, a redis-server built without TLS), or None."""
    if shutil.which("openssl") is None:
        return "no openssl program to make certificates"
    certs = Certificates.make(folder)
    port = free_port()
    proc = subprocess.Popen(
        [
            find_binary(),
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(certs.cert),
            "--tls-key-file",
            str(certs.key),
            "--tls-ca-cert-file",
            str(certs.ca),
            "--save",
            "",
            "--tls-auth-clients",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(certs.ca), socket_connect_timeout=0.5)
        _until(lambda: proc.poll() is not None or client.ping(), timeout=10)
        return None if proc.poll() is None else f"{find_binary()} was built without TLS"
    finally:
        proc.terminate()
        proc.wait(10)


def _until(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Poll ``check`` (servers and sentinels publish no readiness event to await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"not ready within {timeout} s: {check}")


def retried(command, timeout: float = 10) -> bool:
    """Run ``command`` until Redis answers (the first one after a failover may meet the old master)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return bool(command())
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    return False

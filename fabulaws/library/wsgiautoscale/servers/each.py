"""One action on several servers at once (1.x's ``@parallel``), over host-key-verified connections.

Every server is tried; each one's outcome is reported as soon as it is known, and the failures are raised
together at the end, each with its host (and log file), so one unreachable server does not hide the rest.
With ``logs``, every server's remote output is streamed, as it arrives, into its own log file there; on a
terminal a live line per server shows what it is doing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from fabric import Config, Connection
from invoke import Context

from ....config.schema import RemoteTimeouts
from ....errors import DeployError
from ....remote.connect import connect
from ....remote.hostkeys import KnownHosts
from ....remote.streaming import StreamedConnection
from ....report import Reporter, open_log, reporter
from ..context import connections_for
from ..stack import Server

Action = Callable[[Connection, Server], str]


@dataclass(frozen=True)
class Connections:
    """How to reach an environment's servers: as whom (``-u`` or the local user), with which Fabric config (keys,
    ``-i``), and the project's command deadlines (``remote_timeouts``; None: the defaults)."""

    user: str
    config: Config
    timeouts: RemoteTimeouts | None = None

    def open(self, server: Server, known: KnownHosts | None = None) -> Connection:
        """A Connection to ``server`` with the project's known host keys, command deadlines and keepalive."""
        return connect(server.hostname or server.private_ip, self.user, config=self.config,
                       known=known or KnownHosts(), timeouts=self.timeouts)


def connections_of(c: Connections | Context) -> Connections:
    """``c`` itself, or what a fabfile task's Context says (fabfiles call ``on_each(c, ...)``)."""
    return c if isinstance(c, Connections) else connections_for(c)


def open_connection(c: Connections | Context, server: Server, known: KnownHosts | None = None) -> Connection:
    """A Connection to ``server`` as the operator (``-u``), with the project's known host keys, command deadlines
    and keepalive (``remote_timeouts``)."""
    return connections_of(c).open(server, known)


def label_of(server: Server) -> str:
    return f"[{server.hostname or server.private_ip}] ({server.role})"


def on_each(c: Connections | Context, servers: list[Server], action: Action, what: str, workers: int = 10,
            report: Reporter | None = None, logs: Path | None = None) -> list[str]:
    """Run ``action(connection, server)`` on every server in parallel; report and return each one's result line.

    + c: how to connect (a fabfile task may pass its Context)
    + report: where lines go (default: the process's reporter)
    + logs: a directory: each server's remote output streams into its own file there (mode 0600)

    Raises DeployError naming every server where it failed (and its log file).
    """
    if not servers:
        raise DeployError(f"{what}: no running servers found")
    out = report or reporter()
    connections = connections_of(c)
    known = KnownHosts()
    labels = {id(server): label_of(server) for server in servers}
    files: dict[int, tuple[Path, TextIO]] = {}
    if logs is not None:
        for server in servers:
            files[id(server)] = open_log(logs, what, server.hostname or server.private_ip or "server")
        out.info(f"{what} on {len(servers)} server(s); the output of each streams into its log:")
        for server in servers:
            out.info(f"  {labels[id(server)]} {files[id(server)][0]}")

    def run(server: Server, status: Callable[[str], None]) -> str:
        status("connecting")
        cxn: Connection = connections.open(server, known)
        if id(server) in files:
            log = files[id(server)][1]
            log.write(f"# {what} on {labels[id(server)]}, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
            cxn = StreamedConnection(cxn, log, status)
        try:
            return action(cxn, server)
        finally:
            cxn.close()

    reports, failures = [], []
    try:
        with out.status(list(labels.values())) as board, \
                ThreadPoolExecutor(max_workers=min(workers, len(servers))) as pool:
            def status_of(server: Server) -> Callable[[str], None]:
                return lambda line: board.update(labels[id(server)], line)

            futures = {pool.submit(run, server, status_of(server)): server for server in servers}
            for future in as_completed(futures):
                server = futures[future]
                label = labels[id(server)]
                where = f" (log: {files[id(server)][0]})" if id(server) in files else ""
                try:
                    line = f"{label} {future.result()}"
                except Exception as exc:  # noqa: BLE001 - reported with its server below
                    failure = f"{label} {type(exc).__name__}: {exc}{where}"
                    _log_end(files, server, f"FAILED: {type(exc).__name__}: {exc}")
                    board.update(label, "FAILED", final=True)
                    out.info(f"{label} {what} FAILED{where}")
                    failures.append(failure)
                    continue
                _log_end(files, server, f"done: {line}")
                board.update(label, "done", final=True)
                out.info(line)
                reports.append(line)
    finally:
        for _, handle in files.values():
            handle.close()
    if failures:
        raise DeployError(f"{what} failed on {len(failures)} of {len(servers)} servers:\n  " + "\n  ".join(failures))
    return reports


def _log_end(files: dict[int, tuple[Path, TextIO]], server: Server, line: str) -> None:
    if id(server) in files:
        files[id(server)][1].write(f"# {line}\n")

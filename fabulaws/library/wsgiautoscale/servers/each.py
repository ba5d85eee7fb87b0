"""One action on several servers at once (1.x's ``@parallel``), over host-key-verified connections.

Every server is tried; the failures are reported together at the end, each
with its host, so one unreachable server does not hide the state of the rest.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ....errors import DeployError
from ....remote.connect import connect
from ....remote.hostkeys import KnownHosts
from ..context import operator_name
from ..stack import Server

Action = Callable[[Any, Server], str]


def open_connection(c: Any, server: Server, known: KnownHosts | None = None) -> Any:
    """A Connection to ``server`` as the operator (``-u``), with the project's known host keys."""
    return connect(server.hostname or server.private_ip, operator_name(c), config=c.config, known=known or KnownHosts())


def on_each(c: Any, servers: list[Server], action: Action, what: str, workers: int = 10) -> list[str]:
    """Run ``action(connection, server)`` on every server in parallel; print and return each one's report.

    Raises DeployError naming every server where it failed.
    """
    if not servers:
        raise DeployError(f"{what}: no running servers found")
    known = KnownHosts()

    def run(server: Server) -> str:
        cxn = open_connection(c, server, known)
        try:
            return action(cxn, server)
        finally:
            cxn.close()

    reports, failures = [], []
    with ThreadPoolExecutor(max_workers=min(workers, len(servers))) as pool:
        futures = [(server, pool.submit(run, server)) for server in servers]
        for server, future in futures:
            label = f"[{server.hostname or server.private_ip}] ({server.role})"
            try:
                report = f"{label} {future.result()}"
            except Exception as exc:  # noqa: BLE001 - reported with its server below
                failures.append(f"{label} {type(exc).__name__}: {exc}")
                continue
            print(report, flush=True)
            reports.append(report)
    if failures:
        raise DeployError(f"{what} failed on {len(failures)} of {len(servers)} servers:\n  " + "\n  ".join(failures))
    return reports

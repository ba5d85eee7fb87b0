"""Remote output of tasks run on several servers: streamed as it arrives into one log file per server (0600), a
live line per server on a terminal, failures naming the server and its log.

Against a real sshd on 127.0.0.1 (Debian's openssh-server; skipped when it is not installed): no sandbox hosts.
"""

from __future__ import annotations

import os
import pty
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from fabric import Config
from fabulaws.errors import DeployError
from fabulaws.library.wsgiautoscale.servers.each import on_each
from fabulaws.library.wsgiautoscale.stack import Server
from fabulaws.report import Reporter
from invoke import Context

from conftest import wait_until

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not os.path.exists(SSHD) or os.geteuid() != 0, reason="needs sshd (openssh-server), as root")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """sshd on 127.0.0.1:<free port> letting root in with a key made here; yields (port, key file)."""
    directory = tmp_path_factory.mktemp("sshd")
    host_key, user_key = directory / "host_key", directory / "user_key"
    for key in (host_key, user_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
    port = free_port()
    config = directory / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"AuthorizedKeysFile {directory}/authorized_keys",
        f"PidFile {directory}/sshd.pid", "PermitRootLogin prohibit-password", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "LogLevel ERROR", "",
    ]))
    Path("/run/sshd").mkdir(exist_ok=True)  # its privilege separation directory
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, 10, "sshd listening")
    yield port, user_key
    process.terminate()
    process.wait(10)


@pytest.fixture
def c(sshd, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # .fabulaws/known_hosts and .fabulaws/logs go here
    return Context(Config(overrides={"connect_kwargs": {"key_filename": str(sshd[1]), "look_for_keys": False}}))


def servers(port: int, *roles: str) -> list[Server]:
    return [Server(f"i-{n}", role, f"127.0.0.1:{port}", "127.0.0.1", "", "", "", "zone-a") for n, role in enumerate(roles)]


def log_files(directory: Path) -> list[Path]:
    return sorted((directory / ".fabulaws" / "logs").glob("*.log"))


def test_output_streams_into_each_servers_log_as_it_arrives(c, sshd, tmp_path):
    """The first line is in the log while the command still runs (main showed nothing until every server was
    done, and kept no output at all)."""
    seen_early: list[bool] = []

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():
            for path in log_files(tmp_path):
                text = path.read_text()
                if "line one" in text:
                    seen_early.append("line two" not in text)
                    return
            time.sleep(0.05)

    def action(cxn, server):
        result = cxn.run("printf 'line %s\\n' one; sleep 1.5; printf 'line %s\\n' two; echo to stderr >&2", hide=True)
        return f"slow: {result.stdout.split()[-2]}"  # still captured for the caller

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    out = Reporter(out=(tmp_path / "out.txt").open("w"), live=False)
    try:
        reports = on_each(c, servers(sshd[0], "web", "worker"), action, "slow", report=out, logs=Path(".fabulaws/logs"))
    finally:
        stop.set()
        watcher.join()
    assert seen_early == [True], "the first line reached the log before the command ended"
    assert sorted(reports) == [f"[127.0.0.1:{sshd[0]}] (web) slow: line", f"[127.0.0.1:{sshd[0]}] (worker) slow: line"]
    logs = log_files(tmp_path)
    assert len(logs) == 2
    for path in logs:
        assert path.stat().st_mode & 0o777 == 0o600
        text = path.read_text()
        assert "$ printf 'line %s\\n' one; sleep 1.5" in text and "to stderr" in text and "[exit 0 after " in text
    printed = (tmp_path / "out.txt").read_text().splitlines()
    assert printed[0] == "slow on 2 server(s); the output of each streams into its log:"
    assert {line.split()[-1] for line in printed[1:3]} == {str(p.relative_to(tmp_path)) for p in logs}
    assert sorted(printed[3:]) == sorted(reports)  # one line per server, nothing else


def test_a_failure_names_the_server_and_its_log(c, sshd, tmp_path):
    def action(cxn, server):
        if server.role == "worker":
            cxn.run("echo 'ERROR: migration 0042 failed'; exit 3", hide=True)
        return "fine"

    out = Reporter(out=(tmp_path / "out.txt").open("w"), live=False)
    with pytest.raises(DeployError) as caught:
        on_each(c, servers(sshd[0], "web", "worker"), action, "migrate", report=out, logs=Path(".fabulaws/logs"))
    message = str(caught.value)
    worker_log = next(p for p in log_files(tmp_path) if "ERROR: migration 0042 failed" in p.read_text())
    assert message.startswith("migrate failed on 1 of 2 servers:")
    assert f"[127.0.0.1:{sshd[0]}] (worker) UnexpectedExit" in message
    assert message.rstrip().endswith(f"(log: {worker_log.relative_to(tmp_path)})")
    assert "[exit 3 after " in worker_log.read_text() and "# FAILED: UnexpectedExit" in worker_log.read_text()
    printed = (tmp_path / "out.txt").read_text()
    assert f"(worker) migrate FAILED (log: {worker_log.relative_to(tmp_path)})" in printed
    assert "(web) fine" in printed


def test_a_terminal_sees_each_servers_latest_line_while_it_runs(c, sshd, tmp_path):
    master, slave = pty.openpty()
    screen: list[bytes] = []
    reading = threading.Event()

    def read() -> None:
        while not reading.is_set():
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            screen.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    terminal = os.fdopen(slave, "w")
    out = Reporter(out=terminal, live=True)

    def action(cxn, server):
        cxn.run("echo Collecting django==5.1; sleep 1.5", hide=True)
        return "done"

    on_each(c, servers(sshd[0], "web"), action, "update_requirements", report=out, logs=Path(".fabulaws/logs"))
    time.sleep(0.2)
    reading.set()
    terminal.close()
    shown = b"".join(screen).decode(errors="replace")
    assert "Collecting django==5.1" in shown, shown  # the live line showed the server's latest output
    assert "\x1b[" in shown  # redrawn in place


def test_a_fabfile_hook_gets_the_connection_itself(c, sshd, tmp_path):
    """post_bootstrap is a fabfile task: invoke refuses anything but a Context as its first argument."""
    from fabric import task
    from fabulaws.remote.streaming import StreamedConnection, connection_of

    @task
    def post_bootstrap(cxn):
        return cxn.run("echo hook ran", hide=True).stdout.strip()

    def action(cxn, server):
        assert isinstance(cxn, StreamedConnection)
        return post_bootstrap(connection_of(cxn))

    out = Reporter(out=(tmp_path / "out.txt").open("w"), live=False)
    assert on_each(c, servers(sshd[0], "web"), action, "bootstrap", report=out, logs=Path(".fabulaws/logs")) == [
        f"[127.0.0.1:{sshd[0]}] (web) hook ran"]

"""Every remote command has a deadline and the SSH transport sends keepalives (issue 11, part 5): a hung command
or a vanished host fails in seconds with the host and the command named, instead of blocking forever.

Against a real OpenSSH server on 127.0.0.1 (no sandbox hosts needed)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
from fabulaws.remote.connect import RemoteTimeout, Timeouts, command_kind, connect
from fabulaws.remote.hostkeys import KnownHosts

from conftest import wait_until

SSHD = "/usr/sbin/sshd"


@pytest.fixture
def sshd(tmp_path):
    """An sshd for root on a free port of 127.0.0.1, logging at DEBUG3 to a file; yields (host, key file, log)."""
    if os.geteuid() != 0 or not os.path.exists(SSHD):
        pytest.skip("needs root and openssh-server (make installs it)")
    os.makedirs("/run/sshd", exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id_test")], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "id_test.pub").read_text())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host_key'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nStrictModes no\nPermitRootLogin yes\n"
        "PasswordAuthentication no\nUsePAM no\nLogLevel DEBUG3\n"
    )
    log = tmp_path / "sshd.log"
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp_path / "sshd_config")], stderr=log.open("w"))

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(listening, 30, "sshd listening")
    yield f"127.0.0.1:{port}", str(tmp_path / "id_test"), log, server
    server.terminate()
    server.wait(timeout=30)


def open_to(sshd, tmp_path, **timeouts):
    host, key, _, _ = sshd
    return connect(host, "root", key, known=KnownHosts(tmp_path / "known_hosts"), timeouts=Timeouts(**timeouts))


def test_a_hung_command_fails_naming_host_and_command(sshd, tmp_path):
    cxn = open_to(sshd, tmp_path, command=2)
    assert cxn.run("echo up", hide=True).stdout == "up\n"
    started = time.monotonic()
    with pytest.raises(RemoteTimeout) as caught:
        cxn.run("sleep 60", hide=True)
    assert time.monotonic() - started < 45  # not the 60 s of the command (generous: a busy machine)
    assert str(caught.value) == ("127.0.0.1: `sleep 60` did not finish within 2 s (remote_timeouts.command); "
                                 "the server stopped answering or the command hung")
    cxn.close()


def test_the_kind_of_command_picks_its_deadline(sshd, tmp_path):
    cxn = open_to(sshd, tmp_path, command=60, migrate=2)
    with pytest.raises(RemoteTimeout, match=r"within 2 s \(remote_timeouts.migrate\)"):
        cxn.run("sleep 60 # manage.py migrate --noinput", hide=True)
    cxn.close()


def test_a_vanished_host_fails_too(sshd, tmp_path):
    """The server stops answering mid-command (its sshd processes frozen, as a host that is gone)."""
    host, _, _, server = sshd
    cxn = open_to(sshd, tmp_path, command=3)
    cxn.run("true", hide=True)
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    frozen = [int(pid) for pid in children]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with pytest.raises(RemoteTimeout, match=r"`sleep 30` did not finish within 3 s"):
            cxn.run("sleep 30", hide=True)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    cxn.close()


def test_the_transport_sends_keepalives(sshd, tmp_path):
    _, _, log, _ = sshd
    cxn = open_to(sshd, tmp_path, keepalive=1)
    cxn.run("true", hide=True)
    wait_until(lambda: "keepalive@lag.net" in log.read_text(errors="replace"), 60, "a keepalive at the server")
    cxn.close()


def test_an_explicit_timeout_wins(sshd, tmp_path):
    cxn = open_to(sshd, tmp_path, command=1)
    assert cxn.run("sleep 2; echo slow", hide=True, timeout=30).stdout == "slow\n"
    cxn.close()


@pytest.mark.parametrize("command,kind", [
    ("sudo -n -H -u app bash -lc 'cd /srv/code && /srv/env/bin/python manage.py migrate --noinput'", "migrate"),
    ("sudo -n -H -u app bash -lc '/srv/env/bin/pip install -q --requirement /srv/code/requirements.txt'", "packages"),
    ("sudo -n bash -c 'env DEBIAN_FRONTEND=noninteractive apt-get -q -y install nginx'", "packages"),
    ("sudo -n bash -c 'npm install -g less'", "packages"),
    ("/usr/bin/python3 -m venv --clear /srv/env", "packages"),
    ("sudo -n -H -u app bash -lc 'python manage.py collectstatic --noinput'", "command"),
    ("supervisorctl restart all", "command"),
])
def test_command_kinds(command, kind):
    assert command_kind(command) == kind

"""Host keys from an instance's console: GetConsoleOutput returns base64 (AWS and boto3 leave it encoded)."""

from __future__ import annotations

import base64
import subprocess

from fabulaws.remote.hostkeys import KnownHosts, console_text, keys_from_console


def console(tmp_path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host")], check=True)
    public = (tmp_path / "host.pub").read_text().split()
    return ("Cloud-init v. 24.1 running 'modules:final'\n-----BEGIN SSH HOST KEY KEYS-----\n"
            f"{public[0]} {public[1]} root@ip-10-0-1-5\n-----END SSH HOST KEY KEYS-----\n")


def test_keys_are_read_from_base64_console_output(tmp_path):
    text = console(tmp_path)
    encoded = base64.b64encode(text.encode()).decode()
    assert console_text(encoded) == text
    assert console_text(text) == text, "plain text passes unchanged"
    assert keys_from_console(console_text(encoded)) == keys_from_console(text) != []


def test_recorded_keys_replace_a_reused_address(tmp_path):
    known = KnownHosts(tmp_path / "known_hosts")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert known.record_console("10.0.1.5", console(first)) == 1
    assert known.record_console("10.0.1.5", console(second)) == 1
    keys = known.load()["10.0.1.5"]
    assert keys["ssh-ed25519"].get_base64() == (second / "host.pub").read_text().split()[1]


def test_a_reader_never_sees_a_half_written_file(tmp_path):
    """Connections load the file without the writers' lock (paramiko reads it): every host recorded before a
    read must be in it, while other threads keep recording."""
    import threading

    import paramiko

    known = KnownHosts(tmp_path / "known_hosts")
    text = console(tmp_path)
    known.record_console("10.0.0.1", text)
    stop, missing = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            keys = paramiko.HostKeys()
            keys.load(str(known.path))
            if "10.0.0.1" not in keys:
                missing.append(len(keys))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for n in range(2, 120):
            known.record_console(f"10.0.{n // 250}.{n % 250}", text)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert missing == []

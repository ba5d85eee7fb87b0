"""Bytes through a remote command's stdin or stdout (a database dump), over a connection that already exists.

Fabric's ``run`` decodes output as text and keeps it all in memory; a dump is binary and may be large, so it
goes through a raw SSH channel in chunks instead. Every transfer has a deadline (``remote_timeouts.migrate``
unless given), and a channel that stays silent past it ends the transfer with a line naming host and command.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import DeployError
from .connect import RemoteTimeout
from .streaming import connection_of, readable

if TYPE_CHECKING:
    from fabric import Connection

CHUNK = 1 << 20
POLL = 5.0  # seconds a channel read waits before the deadline is looked at again
STDERR_KEPT = 4000  # characters of a command's error output kept for the message


class RemoteCommandFailed(DeployError):
    """A piped remote command exited with a status other than 0."""


class Piped:
    """One remote command on its own SSH channel: write its stdin, read its stdout, then ``finish``."""

    def __init__(self, cxn: Connection, command: str, deadline: float | None = None) -> None:
        real = connection_of(cxn)
        real.open()
        self.host = real.host
        self.command = command
        seconds = deadline if deadline is not None else getattr(getattr(real, "deadlines", None), "migrate", 7200)
        self.seconds = float(seconds)
        self.ends = time.monotonic() + self.seconds
        self.channel: Any = real.client.get_transport().open_session()
        self.channel.settimeout(POLL)
        self.channel.exec_command(command)
        self.errors = b""

    def _left(self) -> float:
        left = self.ends - time.monotonic()
        if left <= 0:
            self.channel.close()
            raise RemoteTimeout(f"{self.host}: `{readable(self.command)}` did not finish within {self.seconds:g} s "
                                "(remote_timeouts.migrate)")
        return left

    def _drain_errors(self) -> None:
        while self.channel.recv_stderr_ready():
            self.errors = (self.errors + self.channel.recv_stderr(CHUNK))[-STDERR_KEPT:]

    def chunks(self) -> Iterator[bytes]:
        """The command's stdout, chunk by chunk, until it closes it."""
        while True:
            self._left()
            try:
                data = self.channel.recv(CHUNK)
            except TimeoutError:
                self._drain_errors()
                continue
            self._drain_errors()
            if not data:
                return
            yield data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._left()
            try:
                sent = self.channel.send(view[:CHUNK])
            except TimeoutError:
                sent = 0
            if sent == 0 and self.channel.exit_status_ready():
                self._fail("stopped reading its input")
            view = view[sent:]
            self._drain_errors()
            while self.channel.recv_ready():  # a chatty command must not block on a full stdout window
                self.channel.recv(CHUNK)

    def finish(self) -> None:
        """Close stdin, wait for the exit status; RemoteCommandFailed (with its error output) unless 0."""
        self.channel.shutdown_write()
        while not self.channel.exit_status_ready():
            self._left()
            self._drain_errors()
            while self.channel.recv_ready():
                self.channel.recv(CHUNK)
            time.sleep(0.1)
        self._drain_errors()
        status = self.channel.recv_exit_status()
        self.channel.close()
        if status != 0:
            self._fail(f"exited with status {status}")

    def close(self) -> None:
        self.channel.close()

    def _fail(self, why: str) -> None:
        self.channel.close()
        detail = " ".join(self.errors.decode(errors="replace").split())[-600:]
        raise RemoteCommandFailed(f"{self.host}: `{readable(self.command)}` {why}" + (f": {detail}" if detail else ""))


def read_into(cxn: Connection, command: str, write: Callable[[bytes], object], deadline: float | None = None) -> int:
    """Run ``command`` and hand its stdout to ``write`` chunk by chunk; the number of bytes.

    RemoteCommandFailed if it exits with a status other than 0 (what was written is then incomplete).
    """
    piped = Piped(cxn, command, deadline)
    total = 0
    try:
        for data in piped.chunks():
            write(data)
            total += len(data)
        piped.finish()
    finally:
        piped.close()
    return total


def feed(cxn: Connection, command: str, chunks: Iterator[bytes] | Callable[[], Iterator[bytes]],
         deadline: float | None = None) -> int:
    """Run ``command`` with ``chunks`` as its stdin; the number of bytes. RemoteCommandFailed unless it exits 0."""
    piped = Piped(cxn, command, deadline)
    total = 0
    try:
        for data in chunks() if callable(chunks) else chunks:
            piped.write(data)
            total += len(data)
        piped.finish()
    finally:
        piped.close()
    return total

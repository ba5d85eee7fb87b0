"""Log receivers on a sandbox slot's network, for tests and the demo: what a syslog server or a GELF input (say
Graylog) would be, and a way for hosts to reach the sandbox's AWS endpoint (CloudWatch Logs).

Each listens on the services address 10.0.0.1 inside the slot's router namespace (``fabsbxN``: hosts reach it
through their gateway; needs root), on a port of its own, and serves from threads of the calling process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from .network import SERVICES_ADDRESS, in_namespace


def _bind(namespace: str | None, kind: int, address: str, port: int = 0) -> socket.socket:
    def make() -> socket.socket:
        sock = socket.socket(socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(16)
        return sock

    return in_namespace(namespace, make) if namespace else make()


class Receiver:
    """Collects what arrives over UDP (one message per datagram) and TCP (messages ended by ``delimiter``)."""

    def __init__(self, namespace: str | None, delimiter: bytes = b"\n", address: str = SERVICES_ADDRESS) -> None:
        self.delimiter = delimiter
        self.messages: list[tuple[str, bytes]] = []  # (protocol, message)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.tcp = _bind(namespace, socket.SOCK_STREAM, address)
        self.port = self.tcp.getsockname()[1]
        self.udp = _bind(namespace, socket.SOCK_DGRAM, address, self.port)  # the same number for both
        self.address = address
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def _keep(self, protocol: str, message: bytes) -> None:
        if message.strip(b"\0\r\n"):
            with self._lock:
                self.messages.append((protocol, message))

    def _serve_udp(self) -> None:
        while not self._closed.is_set():
            try:
                data, _ = self.udp.recvfrom(65535)
            except OSError:
                return
            self._keep("udp", data)

    def _serve_tcp(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(client,), daemon=True).start()

    def _read(self, client: socket.socket) -> None:
        buffer = b""
        with client:
            while not self._closed.is_set():
                try:
                    data = client.recv(65535)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                *complete, buffer = buffer.split(self.delimiter)
                for message in complete:
                    self._keep("tcp", message)

    def wait_for(self, predicate: Callable[[str, bytes], bool], deadline: float, poll: float = 0.5) -> tuple[str, bytes] | None:
        """The first message ``predicate(protocol, message)`` accepts, waiting up to ``deadline`` seconds."""
        end = time.monotonic() + deadline
        while True:
            with self._lock:
                found = next((m for m in self.messages if predicate(*m)), None)
            if found is not None or time.monotonic() >= end:
                return found
            time.sleep(poll)

    def close(self) -> None:
        self._closed.set()
        for sock in (self.tcp, self.udp):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class Forwarder:
    """A TCP port on the slot's network that leads to ``target`` (host, port) on the operator's machine: how hosts
    reach the sandbox's AWS endpoint, which listens on 127.0.0.1 only."""

    def __init__(self, namespace: str, target: tuple[str, int], address: str = SERVICES_ADDRESS) -> None:
        self.target = target
        self.listener = _bind(namespace, socket.SOCK_STREAM, address)
        self.port = self.listener.getsockname()[1]
        self.address = address
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)  # this thread: the operator's network
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65535):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

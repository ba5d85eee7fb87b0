"""A sandbox load balancer's haproxy, driven through its admin socket as the control loop drives it.

No root needed: haproxy listens on a loopback address and the "instance" is a local HTTP server.
"""

from __future__ import annotations

import http.server
import shutil
import threading
import time
import urllib.request

import pytest
from fabulaws.sandbox.health import CLASSIC, HealthCheck
from fabulaws.sandbox.hosts.proxies import Listener, Proxy, ProxySpec
from fabulaws.sandbox.timing import Timings

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed (make installs it)")

ADDRESS = "127.10.250.1"  # outside every sandbox slot's 127.10.N.0/24 in use by tests


class SlowWhenAsked(http.server.BaseHTTPRequestHandler):
    """Answers 200 at once, or after 3 s on /slow: a request still in flight when the server is deregistered."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(3)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        try:
            self.wfile.write(b"ok")
        except OSError:
            pass

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # haproxy closing its check connections


@pytest.fixture
def instance():
    server = QuietServer(("127.0.0.1", 0), SlowWhenAsked)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def proxy(tmp_path, instance):
    check = HealthCheck("HTTP", instance, "/", interval=5, timeout=5, healthy_threshold=2, unhealthy_threshold=2)
    spec = ProxySpec(CLASSIC, "test-lb", (Listener(18080, "HTTP"),), instance, "HTTP", check)
    proxy = Proxy(tmp_path / "lb", ADDRESS, spec, Timings(scale=20))
    proxy.start()
    yield proxy
    proxy.stop()


def tick_until_up(proxy, wanted, seconds=15.0):
    """What the control loop does each tick: apply the registrations, read haproxy's stats."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        proxy.sync(wanted)
        proxy.refresh_stats()
        if proxy.stats.get("i-1", {}).get("status", "").startswith("UP"):
            return True
        time.sleep(0.2)
    return False


def test_an_instance_deregistered_during_a_request_and_registered_again_comes_back(proxy, instance):
    # Seen in CI: add_to_elb re-registered a server the test had just deregistered while a request was in
    # flight through it; haproxy refused to delete it, refused to add it again, and it stayed OutOfService.
    wanted = {"i-1": ("127.0.0.1", instance)}
    time.sleep(0.3)  # haproxy's admin socket
    assert tick_until_up(proxy, wanted), proxy.stats
    answers = []
    slow = threading.Thread(target=lambda: answers.append(urllib.request.urlopen(f"http://{ADDRESS}:18080/slow", timeout=10).status))
    slow.start()
    time.sleep(0.5)
    proxy.sync({})  # deregistered while /slow is in flight
    assert tick_until_up(proxy, wanted), f"never UP again: {proxy.stats.get('i-1', {}).get('status')}"
    slow.join(10)
    assert answers == [200]  # the request in flight was not cut
    assert urllib.request.urlopen(f"http://{ADDRESS}:18080/", timeout=5).status == 200

"""One process: moto's HTTP server plus the control loops AWS runs, behind one lock.

Every API request and every control-loop tick hold the same lock, so a client
never sees a half-applied change. Requests are counted by service and action
(``/_sandbox/stats``) so benchmarks can report API calls.
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from werkzeug.serving import WSGIRequestHandler, make_server

from .health import Checker, HealthTracker
from .lifecycle import Lifecycle
from .refresh import RefreshController
from .scaling import GroupController
from .slots import SlotLock, claim
from .timing import Timings, now

log = logging.getLogger(__name__)
TICK = 0.05  # real seconds between control-loop passes


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def request_action(environ: dict, body: bytes) -> str:
    """``service:Action`` of an AWS request, from its signature scope and Action/X-Amz-Target."""
    service = "unknown"
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    params = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if body and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        params.update(urllib.parse.parse_qs(body.decode("utf-8", "replace")))
    action = params.get("Action", [environ.get("REQUEST_METHOD", "?") + " " + environ.get("PATH_INFO", "")])[0]
    return f"{service}:{action}"


REAL_HOST_GRACE = 30.0  # real seconds: the least health check grace period a group gets with real hosts


class Sandbox:
    """moto's server plus control loops; ``start()`` serves on (host, port) in background threads."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        timings: Timings | None = None,
        checker: Checker | None = None,
        hosts_dir: Path | None = None,
        slot: SlotLock | None = None,
    ) -> None:
        """``hosts_dir``: run every instance as a real host (needs root), with state under that directory.
        ``slot``: the slot this sandbox holds (its address ranges and names); claimed here if not given."""
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        from . import patches
        from .hosts.cleanup import dirty

        self.slot_lock = slot or claim(dirty)
        self.slot = self.slot_lock.slot
        self.timings = timings or Timings()
        self.lock = threading.RLock()
        self.requests: Counter[str] = Counter()
        self.lifecycle = Lifecycle(self.timings)
        self.hosts = None
        if hosts_dir is not None:
            from .hosts.manager import HostManager

            self.hosts = HostManager(self, hosts_dir, self.slot)
            checker = self.hosts.checker
        self.health = HealthTracker(self.timings, checker)
        # A real host needs real seconds to boot and start its site, whatever the time scale.
        self.groups = GroupController(self.timings, self.health, min_grace=REAL_HOST_GRACE if self.hosts else 0.0)
        self.refreshes = RefreshController(self.timings)
        self.loops = [self.lifecycle.tick, self.health.sync, self.groups.tick, self.refreshes.tick]
        self.errors: list[str] = []
        # throttle: share of API requests answered with a throttling error;
        # fail: {"ec2:CreateTags": n} answers the next n such requests with an error;
        # stall: the control loops skip their ticks for that many real seconds (a machine too busy to run them).
        self.faults: dict[str, Any] = {"throttle": 0.0, "fail": {}, "stall": 0.0}
        self._stalled_until = 0.0
        self.trace: TextIO | None = None  # a file that gets one line per API request (``serve --trace``)
        patches.apply(self)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.server = make_server(host, port, self.wsgi, threaded=True, request_handler=QuietHandler)
        self.host, self.port = str(self.server.server_address[0]), int(self.server.server_address[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- running ---------------------------------------------------------------------------
    def notify(self, event: str, *args: Any) -> None:
        """Tell the host manager (if hosts run) that something happened to an EC2 resource."""
        if self.hosts is not None:
            getattr(self.hosts, event)(*args)

    def start(self) -> None:
        if self.hosts is not None:
            self.hosts.start()
        for target in (self.server.serve_forever, self._run_loops):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.hosts is not None:
            self.hosts.shutdown()
        # NOTE: the slot stays held until the process exits: `sandbox down` removes its network first.

    def _run_loops(self) -> None:
        while not self._stop.wait(TICK):
            if now() >= self._stalled_until:
                self.tick()

    def tick(self) -> None:
        """One pass of every control loop; an error is logged and kept, never fatal."""
        with self.lock:
            moment = now()
            for loop in self.loops:
                try:
                    loop(moment)
                except Exception as exc:  # noqa: BLE001 - a bug in one loop must not stop the others
                    message = f"{getattr(loop, '__qualname__', loop)}: {exc!r}"
                    if message not in self.errors:
                        self.errors.append(message)
                        log.exception("control loop failed")

    def reset(self) -> None:
        """Forget every resource (moto's reset) and every health and request count."""
        from moto.moto_api._internal.models import moto_api_backend

        if self.hosts is not None:
            self.hosts.reset()
        with self.lock:
            moto_api_backend.reset()
            self.health.clear()
            self.requests.clear()
            self.errors.clear()
            self.faults.update(throttle=0.0, fail={}, stall=0.0)
            self._stalled_until = 0.0

    # --- WSGI ------------------------------------------------------------------------------
    def wsgi(self, environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self.control(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = request_action(environ, body)
        if not path.startswith("/moto-api") and self.faults["throttle"] and random.random() < self.faults["throttle"]:
            with self.lock:
                self.requests["throttled"] += 1
            return throttled(action, start_response)
        with self.lock:
            injected = self.faults["fail"].get(action, 0) > 0
            if injected:
                self.faults["fail"][action] -= 1
        if injected:
            return error_response(action, start_response, "SandboxInjectedFault", "Failure injected by the sandbox (faults.fail).")
        with self.lock:
            if not path.startswith("/moto-api"):
                self.requests[action] += 1
                if self.trace:
                    self.trace.write(f"{time.time():.3f} {action}\n")
                    self.trace.flush()
            return list(self.moto(environ, start_response))

    def control(self, environ: dict, start_response: Any) -> Any:
        """``/_sandbox/{health,stats,timings,faults,reset,status,network}``: the sandbox's own small API."""
        method = environ["REQUEST_METHOD"]
        name = environ["PATH_INFO"].removeprefix("/_sandbox/").strip("/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        try:
            if name == "health":
                host_errors = list(self.hosts.errors) if self.hosts is not None else []
                result: Any = {"ok": True, "errors": list(self.errors) + host_errors}
            elif name == "stats":
                with self.lock:
                    if method == "POST":
                        self.requests.clear()
                    result = {"requests": dict(sorted(self.requests.items())), "total": sum(self.requests.values())}
            elif name == "timings":
                with self.lock:
                    if method == "POST":
                        self.timings.update(payload)
                    result = self.timings.as_dict()
            elif name == "faults":
                with self.lock:
                    if method == "POST":
                        throttle = float(payload.get("throttle", 0.0))
                        if not 0 <= throttle < 1:
                            raise ValueError("throttle: expected a share from 0 to 1")
                        self.faults["throttle"] = throttle
                        fail = payload.get("fail", {})
                        if not isinstance(fail, dict) or not all(isinstance(n, int) and n >= 0 for n in fail.values()):
                            raise ValueError('fail: expected {"<service>:<Action>": <count>, ...}')
                        self.faults["fail"] = dict(fail)
                        stall = float(payload.get("stall", 0.0))
                        if not 0 <= stall <= 60:
                            raise ValueError("stall: expected real seconds from 0 to 60")
                        self.faults["stall"] = stall
                        self._stalled_until = now() + stall
                    result = {"throttle": self.faults["throttle"], "fail": dict(self.faults["fail"]), "stall": self.faults["stall"]}
            elif name == "reset" and method == "POST":
                self.reset()
                result = {"reset": True}
            elif name == "status":
                with self.lock:
                    result = self.status()
            elif name == "network":
                result = self.network()
            else:
                return _respond(start_response, 404, {"error": f"no such sandbox endpoint: {name}"})
        except ValueError as exc:
            return _respond(start_response, 400, {"error": str(exc)})
        return _respond(start_response, 200, result)

    def network(self) -> dict:
        """This sandbox's slot and address ranges (the seed puts the project's VPC in ``vpc_cidr``)."""
        return {
            "slot": self.slot.number,
            "vpc_cidr": str(self.slot.vpc_network),
            "default_vpc_cidr": str(self.slot.default_vpc_network),
            "balancers": str(self.slot.balancer_network),
        }

    def status(self) -> dict:
        """Counts of what exists, for ``fabulaws sandbox status``."""
        from .backends import regional

        instances: Counter[str] = Counter()
        groups, balancers = [], []
        for _, ec2 in regional("ec2"):
            for reservation in ec2.reservations.values():
                instances.update(i.state for i in reservation.instances)
        for _, autoscaling in regional("autoscaling"):
            for group in autoscaling.autoscaling_groups.values():
                groups.append(
                    {
                        "name": group.name,
                        "desired": group.desired_capacity,
                        "min": group.min_size,
                        "max": group.max_size,
                        "instances": {s.instance.id: s.lifecycle_state for s in group.instance_states},
                        "suspended": sorted(p["ProcessName"] for p in group.suspended_processes),
                    }
                )
        for registration, health in self.health.states.items():
            name = registration.balancer.split("/")[-2] if registration.balancer.startswith("arn:") else registration.balancer
            balancers.append({"balancer": name, "instance": registration.instance_id, "state": health.state})
        hosts = self.hosts.status() if self.hosts is not None else None
        return {
            "endpoint": self.endpoint,
            "network": self.network(),
            "hosts": hosts,
            "timings": self.timings.as_dict(),
            "instances": dict(instances),
            "groups": groups,
            "registrations": balancers,
            "requests": sum(self.requests.values()),
            "errors": list(self.errors) + (list(self.hosts.errors) if self.hosts is not None else []),
        }


def throttled(action: str, start_response: Any) -> list[bytes]:
    """The error AWS answers when a caller exceeds its request rate (botocore retries it)."""
    if action.startswith("ec2:"):
        return error_response(action, start_response, "RequestLimitExceeded", "Request limit exceeded.", "503 Service Unavailable")
    return error_response(action, start_response, "Throttling", "Rate exceeded")


def error_response(action: str, start_response: Any, code: str, message: str, status: str = "400 Bad Request") -> list[bytes]:
    """An AWS query-protocol error (EC2's shape or the other services')."""
    if action.startswith("ec2:"):
        body = f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>sandbox</RequestID></Response>"
    else:
        body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>sandbox</RequestId></ErrorResponse>"
    payload = body.encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))])
    return [payload]


def _respond(start_response: Any, code: int, data: Any) -> list[bytes]:
    body = json.dumps(data, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[code]
    start_response(f"{code} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]

"""``fabulaws sandbox up | down | status | env | publish`` (also ``python -m fabulaws.sandbox``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_PORT = 4510
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}
START_TIMEOUT = 60.0
STOP_TIMEOUT = 120.0


def state_dir() -> Path:
    """Where the sandbox keeps its pid, endpoint and log (``FABULAWS_SANDBOX_DIR`` overrides)."""
    if os.environ.get("FABULAWS_SANDBOX_DIR"):
        return Path(os.environ["FABULAWS_SANDBOX_DIR"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "fabulaws" / "sandbox"


def run_dir() -> Path:
    """Hosts, volumes, image layers and load balancer processes of the sandbox (removed by ``down``)."""
    return state_dir() / "run"


def recorded_slot() -> int | None:
    """The slot the sandbox of this state directory holds (or held, until ``down`` removed its network)."""
    try:
        return int((state_dir() / "slot").read_text())
    except (OSError, ValueError):
        return None


def read_state() -> dict | None:
    try:
        return json.loads((state_dir() / "sandbox.json").read_text())
    except (OSError, ValueError):
        return None


def environment(state: dict) -> dict[str, str]:
    """The variables that point boto3, the AWS CLI or Ansible at the sandbox."""
    return {"AWS_ENDPOINT_URL": state["endpoint"], **CREDENTIALS, "AWS_DEFAULT_REGION": state.get("region", "us-east-1")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get(endpoint: str, path: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(endpoint + path, timeout=timeout) as response:
        return json.load(response)


def running_state() -> dict | None:
    """The state of a sandbox that answers, or None."""
    state = read_state()
    if not state or not _alive(state["pid"]):
        return None
    try:
        _get(state["endpoint"], "/_sandbox/health", timeout=2)
    except (OSError, urllib.error.URLError):
        return None
    return state


# --- commands -----------------------------------------------------------------------------------
def cmd_up(args: argparse.Namespace) -> int:
    state = running_state()
    if state:
        print(f"sandbox already running at {state['endpoint']} (pid {state['pid']})", file=sys.stderr)
    else:
        state = _spawn(args)
    if args.seed:
        _seed(state, Path(args.seed))
    print_env(state)
    return 0


def _spawn(args: argparse.Namespace) -> dict:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sandbox.json").unlink(missing_ok=True)
    log = open(directory / "sandbox.log", "ab")
    command = [sys.executable, "-m", "fabulaws.sandbox", "serve", "--port", str(args.port), "--time-scale", str(args.time_scale)]
    for name in ("instance_boot", "warmup"):
        value = getattr(args, name)
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    if args.hosts:
        command.append("--hosts")
    process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        state = running_state()
        if state and state["pid"] == process.pid:
            print(f"sandbox started at {state['endpoint']} (pid {process.pid}, slot {state.get('slot')}; "
                  f"log {directory / 'sandbox.log'})", file=sys.stderr)
            return state
        if process.poll() is not None:
            raise SystemExit(f"fabulaws: the sandbox exited at start (status {process.returncode}); see {directory / 'sandbox.log'}")
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"fabulaws: the sandbox did not answer within {START_TIMEOUT:.0f} s; see {directory / 'sandbox.log'}")


def _seed(state: dict, config: Path) -> None:
    from ..aws import Aws
    from ..config import load_settings
    from .seed import seed

    settings = load_settings(config)
    variables = environment(state)
    if settings.region:  # the sandbox's default region must not beat the project's (env > file, as in the AWS CLI)
        variables.pop("AWS_DEFAULT_REGION")
    os.environ.update(variables)
    aws = Aws.from_settings(settings)
    for line in seed(aws, settings):
        print(f"  {line}", file=sys.stderr)
    state["region"] = aws.region
    (state_dir() / "sandbox.json").write_text(json.dumps(state))


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the sandbox, then remove every host, mount, device and process it left (also after a crash)."""
    state = read_state()
    if state and _alive(state["pid"]):
        os.kill(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)
        print(f"sandbox stopped (pid {state['pid']})", file=sys.stderr)
    else:
        print("sandbox is not running", file=sys.stderr)
    (state_dir() / "sandbox.json").unlink(missing_ok=True)
    number = recorded_slot()
    if os.geteuid() == 0 and (run_dir().exists() or number is not None):
        from .hosts.cleanup import clean, leftovers
        from .slots import try_lock

        # Only this state directory's own: its run directory, and its slot's network while nobody else holds
        # the slot (a new sandbox never takes a slot whose network a killed one left, so this is ours).
        lock = try_lock(number) if number is not None else None
        slot = lock.slot if lock is not None else None
        if number is not None and lock is None:
            print(f"fabulaws: slot {number} is held by another running sandbox: its network is left alone", file=sys.stderr)
        try:
            clean(run_dir(), slot)
            remaining = leftovers(run_dir(), slot)
        finally:
            if lock is not None:
                lock.release()
        if remaining:
            print("fabulaws: could not remove: " + "; ".join(remaining), file=sys.stderr)
            return 1
    (state_dir() / "slot").unlink(missing_ok=True)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = running_state()
    if not state:
        print("sandbox is not running")
        number = recorded_slot()
        if (run_dir().exists() or number is not None) and os.geteuid() == 0:
            from .hosts.cleanup import leftovers
            from .slots import try_lock

            lock = try_lock(number) if number is not None else None  # None: another sandbox holds the slot now
            found = leftovers(run_dir(), lock.slot if lock is not None else None)
            if lock is not None:
                lock.release()
            for item in found:
                print(f"leftover: {item} (`fabulaws sandbox down` removes it)")
        return 1
    status = _get(state["endpoint"], "/_sandbox/status")
    print(f"sandbox running at {state['endpoint']} (pid {state['pid']}), time scale 1:{status['timings']['scale']:g}")
    network = status.get("network") or {}
    if network:
        print(f"slot {network['slot']}: VPCs in {network['vpc_cidr']}, default VPC {network['default_vpc_cidr']}, "
              f"load balancers in {network['balancers']}")
    print("instances: " + (", ".join(f"{n} {s}" for s, n in sorted(status["instances"].items())) or "none"))
    for group in status["groups"]:
        states = ", ".join(f"{i} {s}" for i, s in group["instances"].items()) or "no instances"
        suspended = f"; suspended: {', '.join(group['suspended'])}" if group["suspended"] else ""
        print(f"group {group['name']}: desired {group['desired']} (min {group['min']}, max {group['max']}): {states}{suspended}")
    for registration in status["registrations"]:
        print(f"balancer {registration['balancer']}: {registration['instance']} {registration['state']}")
    hosts = status.get("hosts")
    if hosts:
        print(f"base image: {hosts['base_image']}; git server: {hosts['git']}")
        if hosts.get("git_ssh"):
            print(f"git over SSH: {hosts['git_ssh']}<name>.git for the keys in {hosts['git_authorized_keys']}; "
                  f"its host key (repo_host_keys): {hosts['git_host_key']}")
        for host in hosts["hosts"]:
            print(f"host {host['instance']}: {host['address']} ({'running' if host['running'] else 'stopped'})")
        for name, url in hosts["balancers"].items():
            print(f"load balancer {name}: {url or 'no listener'}")
    print(f"API requests: {status['requests']}")
    for error in status["errors"]:
        print(f"control loop error: {error}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    state = running_state()
    if not state:
        print("fabulaws: the sandbox is not running; start it with `fabulaws sandbox up`", file=sys.stderr)
        return 1
    print_env(state)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Push a local git repository's branches to the sandbox git server, where hosts clone it from."""
    if not running_state():
        print("fabulaws: the sandbox is not running; start it with `fabulaws sandbox up --hosts`", file=sys.stderr)
        return 1
    source = Path(args.directory).resolve()
    if not (source / ".git").exists():
        print(f"fabulaws: {source} is not a git repository (git init and commit it first)", file=sys.stderr)
        return 1
    name = args.name or source.name
    bare = run_dir() / "git" / f"{name}.git"
    if not bare.exists():
        subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    pushed = subprocess.run(["git", "-C", str(source), "push", "--quiet", "--force", "--all", str(bare)],
                            capture_output=True, text=True)
    if pushed.returncode != 0:
        print(f"fabulaws: git push to the sandbox failed: {pushed.stderr.strip()}", file=sys.stderr)
        return 1
    print(f"published {source} as git://10.0.0.1/{name}.git")
    return 0


def print_env(state: dict) -> None:
    for key, value in environment(state).items():
        print(f"export {key}={value}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the sandbox in the foreground (``up`` starts this in the background)."""
    from .server import Sandbox
    from .timing import Timings

    # The log tells the story a user asks about: hosts booting, groups launching and replacing servers.
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.WARNING)
    logging.getLogger("fabulaws.sandbox").setLevel(logging.INFO)
    timings = Timings(scale=args.time_scale)
    timings.update({k: v for k, v in (("instance_boot", args.instance_boot), ("warmup", args.warmup)) if v is not None})
    hosts_dir = None
    if args.hosts:
        if os.geteuid() != 0:
            print("fabulaws sandbox: --hosts needs root (namespaces, mounts, loop devices); running without hosts", file=sys.stderr)
        else:
            hosts_dir = run_dir()
    from .hosts.cleanup import clean, dirty
    from .slots import claim, try_lock

    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    previous = recorded_slot()
    if previous is not None and os.geteuid() == 0:
        lock = try_lock(previous)
        if lock is not None:  # a killed sandbox of this directory left its hosts: what `down` would remove
            try:
                clean(run_dir(), lock.slot)
            finally:
                lock.release()
    # Held by this process until it exits (a crash frees it); recorded so `down` knows its own network.
    slot = claim(dirty, preferred=recorded_slot(), from_top=hosts_dir is None)
    (directory / "slot").write_text(f"{slot.slot.number}\n")
    sandbox = Sandbox(args.host, args.port, timings, hosts_dir=hosts_dir, slot=slot)
    if args.trace:
        sandbox.trace = open(args.trace, "a")
    stop = {"now": False}

    def request_stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    sandbox.start()
    state = {"pid": os.getpid(), "endpoint": sandbox.endpoint, "port": sandbox.port, "started": time.time(),
             "slot": sandbox.slot.number}
    (directory / "sandbox.json").write_text(json.dumps(state))
    print(f"sandbox serving at {sandbox.endpoint}", flush=True)
    try:
        while not stop["now"]:
            time.sleep(0.2)
    finally:
        sandbox.stop()
        current = read_state()
        if current and current.get("pid") == os.getpid():
            (directory / "sandbox.json").unlink(missing_ok=True)
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="fabulaws sandbox", description="A local AWS for rehearsing deployments.")
    commands = main.add_subparsers(dest="command", required=True)

    def timing_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
        sub.add_argument("--time-scale", type=float, default=20.0, help="AWS seconds per real second (default 20)")
        sub.add_argument("--instance-boot", type=float, help="seconds an instance is pending (AWS time, default 60)")
        sub.add_argument("--warmup", type=float, help="seconds before a new server passes health checks (AWS time, default 30)")
        sub.add_argument("--hosts", action="store_true", help="run every instance as a real Debian host, load balancers as haproxy (root)")

    up = commands.add_parser("up", help="start the sandbox in the background and print its environment")
    timing_options(up)
    up.add_argument("--seed", metavar="CONFIG", help="create what fabulaws-config.yml needs (VPC, load balancers, groups...)")
    up.set_defaults(run=cmd_up)
    serve = commands.add_parser("serve", help="run the sandbox in the foreground")
    timing_options(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--trace", metavar="FILE", help="append one line per API request (time, service:Action)")
    serve.set_defaults(run=cmd_serve)
    commands.add_parser("down", help="stop the sandbox").set_defaults(run=cmd_down)
    commands.add_parser("status", help="show what the sandbox holds").set_defaults(run=cmd_status)
    commands.add_parser("env", help="print the environment variables that point clients at it").set_defaults(run=cmd_env)
    publish = commands.add_parser("publish", help="serve a git repository to the hosts as git://10.0.0.1/<name>.git")
    publish.add_argument("directory", help="a local git repository")
    publish.add_argument("--name", help="repository name (default: the directory's name)")
    publish.set_defaults(run=cmd_publish)
    return main


def main(argv: list[str] | None = None) -> None:
    from ..errors import DeployError

    args = parser().parse_args(argv)
    try:
        sys.exit(args.run(args))
    except DeployError as exc:
        print(f"fabulaws: {exc}", file=sys.stderr)
        sys.exit(1)

"""A code-only ``deploy_serial`` on sandbox hosts, end to end: the web image baked in full, then incrementally.

Why: the rolling phase is near its limit (rolling_deploy.py); what a code-only deploy spends is mostly the web
image bake. This puts both bakes side by side in one run, on one environment, on real hosts (needs root):

1. a sandbox of its own (``FABULAWS_SANDBOX_DIR`` in the work directory, so it never meets the tests' or the
   demo's), examples/myproject as a working copy there (``examples/demo.py``'s), published on the sandbox git
   server, and ``create_environment:myproject,testing,num_web=2`` (timed, not compared);
2. a code-only change (the home page's version), ``deploy_serial:myproject,testing,bake=full``;
3. another code-only change, ``deploy_serial:myproject,testing`` (bake=auto: its output must say the web image
   was baked incrementally, else the run fails).

Each deploy's phases come from the engine's own step lines (``== deploy_serial: <step>``), stamped as they
arrive: start (settings, lease, journal, capture), bake (prepare_launch), worker (deploy_worker), rolling
(use_launch to the end of restore_settings) and end (releasing, the summary, exit). A step missing from the
output fails the run. After each deploy the site must serve the new version; during it, a thread GETs ``/``
through the load balancer every 0.2 s and counts the requests that failed. The sandbox is always torn down
at the end (also on failure or Ctrl-C) unless ``--keep``.

Usage: sudo python benchmarks/end_to_end.py [--runs full,incremental] [--keep]
Prints the table (and whether the issue's targets are met: incremental bake <= 25 % of the full one, the whole
deploy <= 50 %) and writes it to benchmarks/results/end_to_end.txt, the phases to end_to_end.json (kind
"phases"), which benchmarks/charts.py draws as a timeline.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
WORK = Path.home() / ".cache" / "fabulaws" / "bench-end-to-end"
SANDBOX = WORK / "sandbox"
os.environ["FABULAWS_DEMO_DIR"] = str(WORK)  # demo.py's working copy and operator key, in our own directory
os.environ["FABULAWS_SANDBOX_DIR"] = str(SANDBOX)


def _demo():
    """examples/demo.py as a module: its working copy, version bump, publish and fetch serve here too."""
    spec = importlib.util.spec_from_file_location("fabulaws_demo", REPO / "examples" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _demo()

from fabulaws.library.wsgiautoscale.deploy.serial import DEPLOY_SERIAL  # noqa: E402
from fabulaws.sandbox.slots import Slot  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TIME_SCALE = 60
DEPLOY_DEADLINE = 3600  # real seconds a deploy may take before it is killed
STEPS = ["capture", "prepare_launch", "deploy_worker", "use_launch", "hold_zones", "replace", "restore_settings"]
SETTLED = "Set minimum "  # the last line restore_settings prints: the end of the last step
# phase: (from mark, to mark); a mark is a step's line, "begin", "settled" or "exit"
PHASES = [("start", "begin", "prepare_launch"), ("bake", "prepare_launch", "deploy_worker"),
          ("worker", "deploy_worker", "use_launch"), ("rolling", "use_launch", "settled"), ("end", "settled", "exit")]
TARGETS = [("bake", 0.25), ("total", 0.50)]  # incremental / full, at most (issue 16)


def fail(message: str) -> None:
    sys.exit(f"end_to_end: {message}")


class Traffic:
    """GET / through the load balancer every 0.2 s in a thread, counting the requests and the failed ones."""

    def __init__(self, url: str) -> None:
        self.url, self.requests, self.failed = url, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.requests += 1
            try:
                demo.fetch(self.url + "/")
            except (OSError, http.client.HTTPException):
                self.failed += 1

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def timed(task: str) -> tuple[list[tuple[float, str]], float]:
    """Run ``fabulaws <task>`` with its output (both streams) stamped line by line as it arrives: (lines, seconds)."""
    command = [sys.executable, "-m", "fabulaws", "-u", demo.OPERATOR, "-i", str(demo.KEY), task]
    print(f"\n$ {' '.join(command)}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=demo.PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    killer = threading.Timer(DEPLOY_DEADLINE, process.kill)
    killer.start()
    lines: list[tuple[float, str]] = []
    try:
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
            print(f"{lines[-1][0]:7.1f}  {lines[-1][1]}", flush=True)
        process.wait()
    finally:
        killer.cancel()
        if process.poll() is None:  # Ctrl-C or an error here: the sandbox goes anyway
            process.terminate()
            process.wait(timeout=60)
    elapsed = time.monotonic() - started
    if process.returncode:
        fail(f"`fabulaws {task}` failed (exit {process.returncode}) after {elapsed:.0f} s")
    return lines, elapsed


def marks(lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """When each step's line arrived, and the marks around them; fails if a step is missing or out of order."""
    found: dict[str, float] = {"begin": 0.0, "exit": total}
    seen = []
    for stamp, line in lines:
        text = line.strip()
        if text.startswith(f"== {DEPLOY_SERIAL.name}: "):
            seen.append(text.split(": ", 1)[1])
            found[seen[-1]] = stamp
        elif seen and seen[-1] == STEPS[-1] and text.startswith(SETTLED) and "settled" not in found:
            found["settled"] = stamp
    if seen != STEPS:
        fail(f"the run's step lines were {seen}, expected {STEPS}: no phase times invented")
    if "settled" not in found:
        fail(f"no {SETTLED!r}... line after the {STEPS[-1]} step: its end is unknown")
    return found


def deploy(kind: str, url: str) -> dict:
    """A code-only change, then deploy_serial with a ``kind`` bake (full: bake=full; incremental: bake=auto)."""
    version = demo.bump_version()
    demo.run(sys.executable, "-m", "fabulaws", "sandbox", "publish", str(demo.PROJECT), "--name", "myproject")
    task = "deploy_serial:myproject,testing" + (",bake=full" if kind == "full" else "")
    with Traffic(url) as traffic:
        lines, total = timed(task)
    plan = next((line for _, line in lines if "web image:" in line), "(no 'web image:' line)")
    if f"web image: {kind}:" not in plan:
        fail(f"{task} was to bake the web image {kind}ly; it said: {plan.strip()}")
    served = demo.fetch(url + "/")
    if f"version {version}" not in served:
        fail(f"after {task} the site serves {served!r}, not version {version}")
    at = marks(lines, total)
    phases = [[name, round(at[begin], 2), round(at[end], 2)] for name, begin, end in PHASES]
    return {"name": f"{kind} bake", "version": version, "total": round(total, 2), "phases": phases,
            "requests": traffic.requests, "failed_requests": traffic.failed, "plan": plan.strip()}


def seconds(run: dict, phase: str) -> float:
    if phase == "total":
        return run["total"]
    return next(end - start for name, start, end in run["phases"] if name == phase)


def table(runs: list[dict], created: float, machine: str) -> list[str]:
    lines = [f"machine: {machine}",
             f"sandbox hosts at time scale 1:{TIME_SCALE} (AWS waits scaled, the servers' own work real); "
             f"create_environment (num_web=2): {created:.0f} s", "",
             f"{'deploy_serial, code-only':26s}" + "".join(f"{name:>9s}" for name, _, _ in PHASES)
             + f"{'total':>9s}  failed requests"]
    for run in runs:
        lines.append(f"{run['name']:26s}" + "".join(f"{seconds(run, name):8.1f}s" for name, _, _ in PHASES)
                     + f"{run['total']:8.1f}s  {run['failed_requests']} of {run['requests']}")
    by_name = {run["name"]: run for run in runs}
    if {"full bake", "incremental bake"} <= set(by_name):
        full, incremental = by_name["full bake"], by_name["incremental bake"]
        lines.append("")
        for phase, target in TARGETS:
            ratio = seconds(incremental, phase) / seconds(full, phase)
            verdict = "met" if ratio <= target else "not met"
            lines.append(f"incremental {phase} / full {phase}: {ratio:.0%} (target <= {target:.0%}: {verdict})")
    return lines


def sandbox_up() -> None:
    """Our own sandbox with hosts (an earlier one of this directory, kept or killed, is removed first), seeded."""
    demo.run(sys.executable, "-m", "fabulaws", "sandbox", "down", capture=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    up = demo.run(sys.executable, "-m", "fabulaws", "sandbox", "up", "--hosts", "--port", str(port), "--time-scale",
                  str(TIME_SCALE), "--seed", "fabulaws-config.yml", capture=True)
    os.environ.update(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines() if "=" in line)
    demo.run(sys.executable, "-m", "fabulaws", "sandbox", "publish", str(demo.PROJECT), "--name", "myproject")


def sandbox_down() -> None:
    """``sandbox down`` of our directory, then a look that nothing of its slot or run directory is left."""
    try:
        slot = Slot(int((SANDBOX / "slot").read_text()))
    except (OSError, ValueError):
        slot = None
    down = subprocess.run([sys.executable, "-m", "fabulaws", "sandbox", "down"], cwd=demo.PROJECT)
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout.splitlines()
    left = [f"loop device {line.split(':')[0]}" for line in loops if str(SANDBOX) in line]
    if slot is not None:
        left += [f"network namespace {name.split()[0]}" for name in namespaces
                 if name and (name.split()[0] == slot.router or name.startswith(slot.host_prefix))]
    if down.returncode or left:
        print(f"end_to_end: the sandbox in {SANDBOX} left: {', '.join(left) or 'see above'}", file=sys.stderr)
    else:
        print(f"sandbox down: no network namespace or loop device of it left (slot {slot.number if slot else '?'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="full,incremental", help="which deploys, in order (full,incremental)")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox up at the end")
    args = parser.parse_args()
    kinds = [kind for kind in args.runs.split(",") if kind]
    if not kinds or set(kinds) - {"full", "incremental"}:
        fail(f"--runs {args.runs!r}: expected full, incremental or both (comma-separated)")
    if os.geteuid() != 0:
        fail("the sandbox's hosts need root (namespaces, mounts); run it as root (`sudo make bench`)")
    if [step.name for step in DEPLOY_SERIAL.steps] != STEPS:
        fail(f"deploy_serial's steps are now {[step.name for step in DEPLOY_SERIAL.steps]}: update STEPS and PHASES")
    machine = f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    runs = []
    try:
        demo.working_copy()
        sandbox_up()
        started = time.monotonic()
        demo.fabulaws("create_environment:myproject,testing,num_web=2")
        created = time.monotonic() - started
        print(f"\n== create_environment: {created:.0f} s", flush=True)
        url = demo.balancer_url()
        for kind in kinds:
            runs.append(deploy(kind, url))
    finally:
        if args.keep:
            print(f"\nthe sandbox stays up: FABULAWS_SANDBOX_DIR={SANDBOX} {sys.executable} -m fabulaws sandbox down")
        else:
            sandbox_down()
    text = "\n".join(table(runs, created, machine))
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "end_to_end.txt").write_text(text + "\n")
    data = {"kind": "phases", "title": "deploy_serial of a code-only change on sandbox hosts: phases, full and "
            "incremental bake", "machine": machine, "create_environment": round(created, 2), "runs": runs}
    (RESULTS / "end_to_end.json").write_text(json.dumps(data) + "\n")
    print(f"(table and chart data in {RESULTS}; benchmarks/charts.py draws them)")


if __name__ == "__main__":
    main()

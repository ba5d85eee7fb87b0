"""Runs one ``fabulaws`` command and SIGKILLs itself at its N-th event (fault injection inside steps).

Usage: python kill_driver.py --kill-at N --events EVENTS.jsonl --steps STEPS.jsonl -- TASK [TASK ...]
       python kill_driver.py --serve   (the same per JSON request line on stdin, each in a forked child)

The command runs through the real command line (``fabulaws.cli.main``) in the current directory; only the
server steps are the recording fakes of deploy_support. Events are counted on the main thread only (a lease
renewed by a timer thread would make the count depend on timing), so a given N lands at the same place in
every run of the same operation:

* ``aws-before``: a mutating AWS call (anything but Describe/Get/List/Head) is about to be sent;
* ``aws-after``: it returned (AWS applied it; the process dies before using the answer);
* ``read``: the first read call of its kind within a step (later polls of the same wait are not events);
* ``journal``: a state file under .fabulaws was written (journal objects in S3 are ``aws-*`` events);
* ``server``: a server step (fake) ran.

Every event is one JSON line in EVENTS (``n``, ``kind``, ``name``, ``step``), flushed before the next, and the
last line says ``killed`` (the time) when the process is about to die. ``--kill-at 0`` never kills (a calibration run).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

READS = ("Describe", "Get", "List", "Head")


class Events:
    """Counts events and kills the process at the chosen one."""

    def __init__(self, kill_at: int, log: Path) -> None:
        self.kill_at = kill_at
        self.count = 0
        self.step = "-"
        self.reads: set[tuple[str, str]] = set()
        self.handle = open(log, "a", buffering=1)

    def step_line(self, message: str) -> None:
        """``== operation: step`` is how the engine announces each step."""
        if threading.current_thread() is threading.main_thread() and message.startswith("== ") and ":" in message:
            self.step = message.split(":", 1)[1].strip()
            self.reads.clear()

    def read(self, name: str) -> None:
        if (self.step, name) not in self.reads:
            self.reads.add((self.step, name))
            self.event("read", name)

    def event(self, kind: str, name: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.count += 1
        record = {"n": self.count, "kind": kind, "name": name, "step": self.step}
        if self.count == self.kill_at:
            record["killed"] = time.time()  # when: a lease renewed before it expires no later than this plus its length
        self.handle.write(json.dumps(record) + "\n")
        if self.count == self.kill_at:
            self.handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def install(events: Events, steps_log: Path) -> None:
    """Hook botocore, state-file writes, the reporter and the server steps."""
    import botocore.client
    from fabulaws import report
    from fabulaws.library.wsgiautoscale.tasks import operations as operation_tasks

    from deploy_support import RecordingSteps

    original_call = botocore.client.BaseClient._make_api_call

    def make_api_call(client, operation_name, api_params):
        name = f"{client.meta.service_model.service_name}.{operation_name}"
        if operation_name.startswith(READS):
            events.read(name)
            return original_call(client, operation_name, api_params)
        events.event("aws-before", name)
        result = original_call(client, operation_name, api_params)
        events.event("aws-after", name)
        return result

    botocore.client.BaseClient._make_api_call = make_api_call

    original_replace = os.replace

    def replace(source, destination, *args, **kwargs):
        result = original_replace(source, destination, *args, **kwargs)
        if ".fabulaws" in str(destination):
            events.event("journal", Path(destination).name)
        return result

    os.replace = replace

    original_info = report.Reporter.info

    def info(self, message):
        events.step_line(message)
        return original_info(self, message)

    report.Reporter.info = info
    report.Reporter.__call__ = info

    class KillableSteps(RecordingSteps):
        bake_real_image = True  # an image (and its snapshot) to count, where the fakes can make one

        def _record(self, step, **data):
            super()._record(step, **data)
            events.event("server", step)

    operation_tasks.server_steps = lambda c, settings: KillableSteps(steps_log)


def run(kill_at: int, events: Path, steps: Path, command: list[str]) -> int:
    """One command with the hooks in place; its exit status (the process dies at ``kill_at``)."""
    install(Events(kill_at, events), steps)
    from fabulaws.cli import main as fabulaws

    sys.argv = ["fabulaws", *command]
    try:
        fabulaws()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def serve() -> None:
    """Import once, then fork a child per request (one JSON line on stdin each; its status on stdout).

    Python and boto3 start in about a second on an idle machine and several on a busy one; a case runs two
    commands, so the matrix forks them from this process instead.
    """
    import tempfile

    import botocore.client  # noqa: F401 - imported before forking, with everything the CLI needs
    import fabulaws.cli  # noqa: F401
    from fabulaws.library.wsgiautoscale.tasks import operations  # noqa: F401

    import deploy_support  # noqa: F401

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                output = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(output, 1)
                os.dup2(output, 2)
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                tempfile.tempdir = None
                code = run(request["kill_at"], Path(request["events"]), Path(request["steps"]), request["command"])
            except BaseException:  # noqa: BLE001 - the child reports and exits, never returns to the loop
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(json.dumps({"returncode": code}), flush=True)


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at", type=int, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--steps", type=Path, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    sys.exit(run(args.kill_at, args.events, args.steps, args.command))


if __name__ == "__main__":
    main()

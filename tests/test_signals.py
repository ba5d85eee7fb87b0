"""SIGTERM and SIGHUP stop a run the way Ctrl-C does (the run's own cleanup runs), and an interrupted run exits
130 (issue 11, part 5): under ``fabulaws`` and under Fabric's ``fab`` with a fabfile importing FabulAWS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

FABFILE = """\
import sys, time
from fabulaws.library.wsgiautoscale.api import *  # noqa: F401,F403
from fabulaws.errors import RolledBack
from fabric import task


@task
def wait_then_clean_up(c):
    try:
        print("ready", flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        print("cleaned up", flush=True)
        raise


@task
def wait_then_roll_back(c):
    # as the deploy engine does: undo, then raise its own error
    try:
        print("ready", flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        print("rolled back", flush=True)
        raise RolledBack("deploy_full failed at step launch: interrupted; the group was restored as it was")
"""


def start(project, program: str, task: str) -> subprocess.Popen:
    module = "fabulaws" if program == "fabulaws" else "fabric"
    command = [sys.executable, "-m", module, "testing", task]
    return subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,  # a signal for it alone, as CI or `timeout` sends one
                            preexec_fn=as_from_a_terminal)


def as_from_a_terminal() -> None:
    """Default dispositions, as a program started from a terminal has: a test run in the background (``&``
    ignores SIGINT) or under ``nohup`` (SIGHUP) passes those on, and the program rightly keeps them ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def stop(process: subprocess.Popen, signum: int) -> tuple[int, str, str]:
    assert process.stdout.readline() == "ready\n", process.stderr.read()
    os.kill(process.pid, signum)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.fixture
def project(example_project):
    (example_project / "fabfile.py").write_text(FABFILE)
    return example_project


@pytest.mark.parametrize("program", ["fabulaws", "fab"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_runs_the_cleanup_and_exits_130(project, program, signum):
    code, out, err = stop(start(project, program, "wait_then_clean_up"), signum)
    assert (code, out, err) == (130, "cleaned up\n", f"fabulaws: interrupted by {signum.name}\n")


@pytest.mark.parametrize("program", ["fabulaws", "fab"])
def test_the_engines_error_after_a_signal_still_exits_130(project, program):
    code, out, err = stop(start(project, program, "wait_then_roll_back"), signal.SIGTERM)
    assert (code, out) == (130, "rolled back\n")
    assert err == ("fabulaws: deploy_full failed at step launch: interrupted; the group was restored as it was "
                   "(SIGTERM)\n")


def test_nohup_keeps_sighup_ignored(project):
    process = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
         "sys.argv = ['fabulaws', 'testing', 'wait_then_clean_up']; from fabulaws.cli import main; main()"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stdout.readline() == "ready\n"
    os.kill(process.pid, signal.SIGHUP)  # ignored, as nohup asked
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, out, err) == (130, "cleaned up\n", "fabulaws: interrupted by SIGTERM\n")

"""The one wait engine (fabulaws/waits.py) and the waits declared with it below library/."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
from fabulaws.errors import DeployError, UsageError
from fabulaws.waits import Pace, Polling, Wait, WaitFailed, WaitTimedOut, wait_for


def counting(done_at: int | None = None, failed_at: int | None = None) -> tuple[Wait[int], list[int]]:
    looks: list[int] = []

    def look() -> int:
        looks.append(len(looks) + 1)
        return len(looks)

    return Wait("the thing", look, lambda n: done_at is not None and n >= done_at, progress=lambda n: f"{n} look(s)",
                failed=lambda n: f"broke at look {n}" if failed_at is not None and n >= failed_at else None,
                deadline=60), looks


def test_a_wait_returns_what_it_saw_once_done_and_reports_it():
    lines: list[str] = []
    wait, looks = counting(done_at=3)
    assert wait_for(wait, Polling.every(0.01), lines.append) == 3
    assert looks == [1, 2, 3]
    assert lines[-1].startswith("the thing: done after ")
    assert [line.split(": ", 1)[1] for line in lines[:2]] == ["waiting for the thing: 1 look(s)",
                                                            "waiting for the thing: 2 look(s)"]


def test_a_failed_verdict_ends_the_wait_at_once():
    wait, looks = counting(failed_at=2)
    with pytest.raises(WaitFailed) as caught:
        wait_for(wait, Polling.every(0.01), lambda line: None)
    assert str(caught.value) == "the thing: broke at look 2" and looks == [1, 2]
    assert isinstance(caught.value, DeployError)


def test_the_deadline_ends_a_wait_with_one_line_naming_what_and_the_last_progress():
    wait, looks = counting()
    wait.deadline = 0.3
    started = time.monotonic()
    with pytest.raises(WaitTimedOut) as caught:
        wait_for(wait, Polling.every(0.05), lambda line: None)
    assert time.monotonic() - started < 30  # generous: a busy machine; the point is that it ends
    message = str(caught.value)
    assert message.startswith("the thing: not done after 0.3 s (") and message.endswith(" look(s))")
    assert "\n" not in message and isinstance(caught.value, TimeoutError)
    assert 2 <= len(looks) <= 8  # it looked every 0.05 s and once more at the deadline, not in a tight loop


@pytest.mark.parametrize("delay", [0.0, -1.0])
def test_a_delay_that_is_not_positive_is_refused_before_any_look(delay):
    wait, looks = counting(done_at=10**9)
    with pytest.raises(UsageError, match=f"poll={delay:g}: expected a positive number of seconds"):
        wait_for(wait, Polling(delay), lambda line: None)
    assert looks == []


def test_the_delay_grows_by_half_up_to_its_maximum():
    wait, _ = counting(done_at=5)
    started = time.monotonic()
    seen = [started]
    wait.look = lambda inner=wait.look: (seen.append(time.monotonic()), inner())[1]
    wait_for(wait, Polling(0.02, 0.05), lambda line: None)
    pauses = [b - a for a, b in zip(seen[1:], seen[2:], strict=False)]
    assert len(pauses) == 4 and all(pause >= minimum for pause, minimum in zip(pauses, (0.02, 0.03, 0.045, 0.05), strict=True))


def test_a_paced_wait_first_looks_when_the_last_one_was_done():
    """A repeated wait (one per batch) learns when its condition came true after its start, and the next one
    does not look before then (less one delay): no look is wasted on what cannot have changed yet."""
    def ready_after(seconds: float, pace: Pace) -> tuple[Wait[bool], list[float]]:
        looks: list[float] = []
        pace.start()
        ready = time.monotonic() + seconds

        def look() -> bool:
            looks.append(time.monotonic())
            return looks[-1] >= ready

        return Wait("the batch", look, bool, deadline=60), looks

    pace = Pace()
    first, first_looks = ready_after(0.4, pace)
    wait_for(first, Polling(0.02, 0.05), lambda line: None, pace)
    assert len(first_looks) >= 3  # no pace yet: it polled from the start
    assert pace.took is not None and pace.took >= 0.4  # done no earlier than it could be
    second, second_looks = ready_after(0.4, pace)
    wait_for(second, Polling(0.02, 0.05), lambda line: None, pace)
    assert len(second_looks) <= 2  # one delay before the time learned, then once more at most


def test_a_pace_looks_a_margin_early_only_where_the_run_waits_on_it():
    critical, lazy = Pace(took=10.0, started=100.0), Pace(took=10.0, started=100.0, early=False)
    assert (critical.first_look(1.0), lazy.first_look(1.0)) == (109.0, 110.0)
    critical.learn(109.0, first_look=True, step=1.0)  # found done a delay early: look earlier still next time
    assert (critical.took, critical.first_look(1.0)) == (9.0, 107.0)
    critical.learn(108.0, first_look=False, step=1.0)  # a miss first: back to one delay early
    assert critical.first_look(1.0) == 107.0
    assert Pace().first_look(1.0) == 0.0  # nothing learned: look at once


def test_a_paced_wait_keeps_its_deadline():
    pace = Pace(took=3600.0)  # a pace that would sleep an hour
    wait, looks = counting()
    wait.deadline = 0.2
    with pytest.raises(WaitTimedOut):
        wait_for(wait, Polling.every(0.05), lambda line: None, pace)
    assert len(looks) >= 1  # it still looked once, at the deadline


def test_the_engine_lives_below_library_so_every_layer_can_use_it():
    code = ("import sys, fabulaws.waits, fabulaws.ubuntu.system, fabulaws.ubuntu.packages.cache, fabulaws.remote.connect; "
            "print(sorted(m for m in sys.modules if m.startswith('fabulaws.library')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "[]"), result.stderr


def test_a_replica_waiting_for_its_primary_ends_at_its_deadline_with_one_clear_error():
    from fabulaws.library.wsgiautoscale.servers.creation import PrimaryRendezvous

    rendezvous = PrimaryRendezvous(pending=True, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(DeployError) as caught:
        rendezvous.address()
    assert time.monotonic() - started < 30
    assert str(caught.value) == ("the db-primary created alongside: not done after 0.5 s "
                                 "(still being created; its log file says how far it got)")


def test_a_replica_gets_the_primary_address_once_ready_or_its_failure_or_its_cancel():
    from fabulaws.library.wsgiautoscale.servers.creation import PrimaryRendezvous
    from fabulaws.library.wsgiautoscale.servers.provision import Cancelled

    assert PrimaryRendezvous(existing="10.0.0.5").address() == "10.0.0.5"
    rendezvous = PrimaryRendezvous(pending=True, deadline=60)
    threading.Timer(0.2, rendezvous.primary_ready, ["10.0.0.7"]).start()
    assert rendezvous.address() == "10.0.0.7"
    rendezvous = PrimaryRendezvous(pending=True, deadline=60)
    threading.Timer(0.2, rendezvous.primary_failed, ["no capacity"]).start()
    with pytest.raises(DeployError, match=r"^the db-primary created alongside: failed \(no capacity\)$"):
        rendezvous.address()
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled, match="interrupted while waiting for the db-primary"):
        PrimaryRendezvous(pending=True, deadline=60).address(cancel)


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_new_server_that_never_answers_ssh_ends_at_the_deadline_with_one_line(aws_env, tmp_path):
    """The one wait for a new server's SSH (EC2Instance.wait_ssh, servers_ready): a real connection refused each
    look, no host keys on the console (moto has no such instance), then one line naming it and why."""
    from fabulaws.aws.session import Aws
    from fabulaws.remote.connect import connect, wait_for_ssh
    from fabulaws.remote.hostkeys import KnownHosts

    known = KnownHosts(tmp_path / "known_hosts")
    address = f"127.0.0.1:{closed_port()}"
    tried: list[str] = []

    def attempt(instance_id: str, host: str) -> str | None:
        tried.append(host)
        with connect(host, "nobody", known=known, timeout=5) as cxn:
            cxn.run("true", hide=True)
        return None

    with pytest.raises(WaitTimedOut) as caught:
        wait_for_ssh(Aws(region="us-east-1").ec2, ["i-0123456789abcdef0"], lambda: {"i-0123456789abcdef0": address},
                     attempt, known, deadline=1.0, polling=Polling.every(0.2), report=lambda line: None, grace=0.3)
    message = str(caught.value)
    assert message.startswith("SSH on i-0123456789abcdef0: not done after 1 s (i-0123456789abcdef0: ")
    assert "Unable to connect" in message and "\n" not in message
    assert tried and set(tried) == {address}  # it tried once the grace without console keys was over


def test_a_changed_host_key_ends_the_ssh_wait_at_once(aws_env, tmp_path):
    import paramiko
    from fabulaws.aws.session import Aws
    from fabulaws.remote.connect import wait_for_ssh
    from fabulaws.remote.hostkeys import KnownHosts

    recorded, offered = paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)

    def attempt(instance_id: str, host: str) -> str | None:
        raise paramiko.BadHostKeyException(host, offered, recorded)

    started = time.monotonic()
    with pytest.raises(WaitFailed, match=r"^SSH on i-1: 10\.0\.0\.9: the SSH host key differs from the one recorded"):
        wait_for_ssh(Aws(region="us-east-1").ec2, ["i-1"], lambda: {"i-1": "10.0.0.9"}, attempt,
                     KnownHosts(tmp_path / "known_hosts"), deadline=600, polling=Polling.every(0.2),
                     report=lambda line: None, grace=0)
    assert time.monotonic() - started < 60

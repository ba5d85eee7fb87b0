"""The environment's lock in the state bucket: atomic acquisition, lease renewal and take-over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fabulaws.aws import Aws
from fabulaws.aws.launch import Launch
from fabulaws.aws.statestore import PreconditionFailed, StateStore
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.deploy.journal import GroupState, Journal, Resource
from fabulaws.library.wsgiautoscale.deploy.lease import GroupLocked, Lease, LeaseLost

from conftest import EXAMPLE

RACER = Path(__file__).with_name("lock_race_driver.py")
ROUNDS = 100


@pytest.fixture
def store(sandbox, tmp_path):
    settings = load_settings(EXAMPLE / "fabulaws-config.yml")
    lines: list[str] = []
    store = StateStore.for_environment(Aws.from_settings(settings), "myproject", "testing", report=lines.append)
    store.created = lines
    return store


def test_two_working_directories_racing_for_the_lock_one_wins_every_time(sandbox, tmp_path, store):
    """Two processes, each in its own working directory with its own copy of the config, call the real
    acquire at the same instant, 100 times: exactly one holds the lock each round, and the lock names it."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    racers = []
    for name, other in (("a", "b"), ("b", "a")):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "fabulaws-config.yml").write_text((EXAMPLE / "fabulaws-config.yml").read_text())
        racers.append(subprocess.Popen([sys.executable, str(RACER), str(barrier), name, other, str(ROUNDS)],
                                       cwd=directory, stderr=subprocess.PIPE, text=True, env={**os.environ}))
    for racer in racers:
        assert racer.wait(timeout=300) == 0, racer.stderr.read()
    a = json.loads((barrier / "results-a.json").read_text())
    b = json.loads((barrier / "results-b.json").read_text())
    assert len(a) == len(b) == ROUNDS
    for mine, theirs in zip(a, b, strict=True):
        assert mine["won"] != theirs["won"], f"round {mine['round']}: both or neither got the lock"
        winner = mine if mine["won"] else theirs
        assert winner["lock_names_me"] and not (theirs if mine["won"] else mine)["lock_names_me"]
    assert store.read(store.lock_key) is None


def test_the_state_bucket_is_created_once_versioned_encrypted_and_private(store):
    s3 = store.s3
    assert store.bucket == "fabulaws-state-123456789012-us-east-1"
    assert store.created == [line for line in store.created if "state bucket fabulaws-state-" in line] and len(store.created) <= 1
    assert s3.get_bucket_versioning(Bucket=store.bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=store.bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=store.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    store.ensure_bucket(report=store.created.append)  # exists now: nothing said, nothing changed
    assert len(store.created) <= 1


def test_conditional_writes_on_the_sandbox(store):
    """moto honours If-None-Match: * and If-Match, which the lock and journal rely on."""
    first = store.create("x/test.json", {"n": 1})
    with pytest.raises(PreconditionFailed):
        store.create("x/test.json", {"n": 2})
    second = store.replace("x/test.json", {"n": 3}, first)
    with pytest.raises(PreconditionFailed):
        store.replace("x/test.json", {"n": 4}, first)
    assert store.read("x/test.json")[0] == {"n": 3}
    assert not store.delete("x/test.json", first) and store.delete("x/test.json", second)
    store.create("x/test.json", {"n": 5})  # after a delete (a delete marker in a versioned bucket)


def test_a_live_lease_is_refused_an_expired_one_taken_over_and_the_old_holder_notices(store, monkeypatch):
    monkeypatch.setenv("FABULAWS_LEASE_SECONDS", "1")
    first = Lease.acquire(store, "run-1", "deploy_full")
    with pytest.raises(GroupLocked, match=r"locked by deploy_full of .* since .*still running"):
        Lease.take_over(store, "run-2", "recover")
    first.renew()
    assert not first.lost.is_set()
    time.sleep(1.3)  # not renewed: expired
    second = Lease.take_over(store, "run-2", "recover")
    first.renew()
    assert first.lost.is_set()
    with pytest.raises(LeaseLost):
        first.check()
    first.release()  # not ours any more: the new holder's lock stays
    assert store.read(store.lock_key)[0]["run"] == "run-2"
    second.release()
    assert store.read(store.lock_key) is None


def test_the_lease_is_renewed_while_the_run_lives(store, monkeypatch):
    monkeypatch.setenv("FABULAWS_LEASE_SECONDS", "1.5")
    lease = Lease.acquire(store, "run-1", "deploy_full")
    lease.start_renewing()
    try:
        time.sleep(2.5)
        with pytest.raises(GroupLocked, match="still running"):
            Lease.take_over(store, "run-2", "recover")
    finally:
        lease.release()
    assert store.read(store.lock_key) is None


def test_a_journal_written_by_another_run_stops_this_one(store):
    journal = Journal.start("deploy_full", "myproject", "testing", "g", {"num_web": 2})
    journal.attach(store)
    other = Journal.load(store)
    other.warnings.append("taken over")
    other.save()
    with pytest.raises(LeaseLost):
        journal.done("capture")
    other.remove()


def test_the_journal_is_typed_and_round_trips_through_json_untruncated(store):
    journal = Journal.start("deploy_full", "myproject", "testing", "g", {"num_web": 2})
    journal.original = GroupState(2, 4, 2, ["Default"], ["ScheduledActions"], Launch(None, "lt-1", "t", "$Default"))
    journal.launch = Launch(None, "lt-1", "t", "2")
    journal.workers = {"i-1": "abc"}
    journal.resources.append(Resource("image", "n" * 400, temporary=False))
    journal.warnings.append("w" * 1000)  # records are never truncated (the old tag was cut at 256)
    journal.attach(store)
    loaded = Journal.load(store)
    assert loaded == journal
    assert loaded.data["plan"]["launch"]["version"] == "2"
    loaded.remove()

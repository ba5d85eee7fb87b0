"""Backups in S3 (moto over HTTP) and the operator's GPG (the real gpg, a throwaway keyring): where a backup goes,
how it is found again, and that what leaves this machine is encrypted."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from fabulaws.aws import Aws
from fabulaws.aws import backups as s3_backups
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError, DeployError, UsageError
from fabulaws.library.wsgiautoscale.database import backups, transfer
from fabulaws.library.wsgiautoscale.environment import Environment

from conftest import run_cli


def environment(project: Path, **config: object) -> Environment:
    path = project / "fabulaws-config.yml"
    data = yaml.safe_load(path.read_text())
    data.update(config)
    path.write_text(yaml.safe_dump(data))
    return Environment.of(load_settings(path), "myproject", "testing")


@pytest.fixture
def aws(aws_env):
    return Aws("us-east-1", None)


def test_keys_sort_by_time_and_only_this_environments_dumps_are_listed(aws, example_project, tmp_path):
    env = environment(example_project)
    bucket = backups.bucket_for(env, aws)
    assert bucket.startswith("fabulaws-state-"), "the state bucket, created on first use"
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    for when, gpg in ((datetime(2026, 1, 2, tzinfo=UTC), False), (datetime(2026, 1, 1, tzinfo=UTC), True)):
        s3_backups.upload(aws.s3, bucket, s3_backups.new_key("myproject", "testing", gpg, when), dump, None)
    s3_backups.upload(aws.s3, bucket, s3_backups.new_key("myproject", "staging", False), dump, None)
    aws.s3.put_object(Bucket=bucket, Key="myproject/testing/journal.json", Body=b"{}")
    found = backups.listed(env, aws, bucket)
    assert [b.key for b in found] == ["myproject/testing/20260101T000000Z.dump.gpg",
                                      "myproject/testing/20260102T000000Z.dump"]
    assert backups.find(env, aws, bucket, "latest").key == "myproject/testing/20260102T000000Z.dump"
    assert backups.find(env, aws, bucket, "20260101T000000Z.dump.gpg").encrypted_locally
    assert backups.find(env, aws, bucket, f"s3://{bucket}/myproject/testing/20260102T000000Z.dump").size == 5
    with pytest.raises(UsageError, match="no backup s3://.*/myproject/testing/nope.dump"):
        backups.find(env, aws, bucket, "nope.dump")


def test_every_object_is_written_with_sse_kms_and_the_configured_key(aws, example_project, tmp_path):
    env = environment(example_project, backup_kms_key_id="alias/backups")
    bucket = backups.bucket_for(env, aws)
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP")
    written = s3_backups.upload(aws.s3, bucket, "myproject/testing/1.dump", dump, env.settings.backup_kms_key_id)
    assert s3_backups.encryption(aws.s3, bucket, written.key) == ("aws:kms", "alias/backups")
    plain = s3_backups.upload(aws.s3, bucket, "myproject/testing/2.dump", dump, None)
    assert s3_backups.encryption(aws.s3, bucket, plain.key)[0] == "aws:kms"


def test_a_configured_bucket_that_does_not_exist_is_one_line_naming_the_key(aws, example_project):
    env = environment(example_project, backup_bucket="no-such-backups")
    with pytest.raises(ConfigError, match=r"fabulaws-config.yml.*backup_bucket.*no-such-backups does not exist"):
        backups.bucket_for(env, aws)
    aws.s3.create_bucket(Bucket="no-such-backups")
    assert backups.bucket_for(env, aws) == "no-such-backups"


def test_no_backups_yet_is_a_usage_error(aws, example_project):
    env = environment(example_project)
    with pytest.raises(UsageError, match="no backups of myproject/testing"):
        backups.find(env, aws, backups.bucket_for(env, aws), "latest")


def test_dbrestore_lists_and_refuses_without_an_answer(aws_env, example_project):
    env = environment(example_project)
    listed = run_cli(["testing", "dbrestore"], example_project, env=aws_env)
    assert listed.returncode == 0, listed.stderr
    refused = run_cli(["testing", "dbrestore:latest"], example_project, env=aws_env)
    assert refused.returncode == 2 and "no backups of myproject/testing" in refused.stderr, refused.stderr
    assert env.environment == "testing"


@pytest.fixture
def keyring(monkeypatch):
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    home = tempfile.mkdtemp(prefix="g", dir="/tmp")
    monkeypatch.setenv("GNUPGHOME", home)
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                    "Test <t@example.test>", "default", "default", "never"], check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], check=True, capture_output=True, text=True).stdout
    yield next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def test_gpg_encrypts_to_the_public_key_and_decrypts_with_the_operators_own(keyring, tmp_path):
    plain = tmp_path / "backup.dump"
    plain.write_bytes(b"PGDMP secret rows")
    sealed = transfer.encrypt(plain, keyring)
    assert sealed.name == "backup.dump.gpg" and b"secret rows" not in sealed.read_bytes()
    plain.unlink()
    assert transfer.decrypt(sealed).read_bytes() == b"PGDMP secret rows"


def test_gpg_to_an_unknown_key_fails_with_gpgs_reason(keyring, tmp_path):
    plain = tmp_path / "backup.dump"
    plain.write_bytes(b"x")
    with pytest.raises(DeployError, match="gpg --encrypt failed: .*No public key"):
        transfer.encrypt(plain, "0123456789ABCDEF0123456789ABCDEF01234567")


def test_a_restore_resumes_only_the_processes_it_suspended(aws_env, example_project):
    from fabulaws.aws.scaling import (
        PROCESSES,
        Processes,
        find_group,
        suspend_processes,
        suspended_processes,
    )
    from fabulaws.sandbox.seed import seed

    settings = load_settings(example_project / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    seed(aws, settings)
    suspend_processes(aws.autoscaling, "myproject-testing-ag", ["AZRebalance"])
    processes = Processes(aws.autoscaling, "myproject-testing-ag")
    processes.suspend()
    assert suspended_processes(find_group(aws.autoscaling, "myproject-testing-ag")) == list(PROCESSES)
    processes.resume()
    assert suspended_processes(find_group(aws.autoscaling, "myproject-testing-ag")) == ["AZRebalance"]
    nowhere = Processes(aws.autoscaling, "no-such-group")
    nowhere.suspend()  # an environment without a group: nothing to suspend, nothing to resume
    nowhere.resume()

"""The end of a deploy, as the operator reads it: time, servers old -> new, launch, changeset, rollback, warnings.

On the moto sandbox with the recording server steps of the engine tests (no hosts); the command-line cases run
the real application steps, which need no host when the environment has no worker (that is one of the cases).
"""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from fabulaws.aws.launch import Launch
from fabulaws.config import load_settings
from fabulaws.errors import DeployError
from fabulaws.library.wsgiautoscale.app.engine_steps import ApplicationSteps
from fabulaws.library.wsgiautoscale.deploy.full import DEPLOY_FULL
from fabulaws.library.wsgiautoscale.deploy.operation import execute, recover
from fabulaws.library.wsgiautoscale.tasks.operations import CREATE_LAUNCH, OPERATIONS
from fabulaws.report import Reporter, warn

from conftest import run_cli
from deploy_support import NEW_IMAGE, RecordingSteps, make_project


@pytest.fixture
def project(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "myproject")
    monkeypatch.chdir(project.directory)
    return project


def in_service(group: dict) -> list[str]:
    return [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]


def summary_of(lines: list[str], operation: str) -> list[str]:
    """The summary block: from its head line to the end."""
    heads = [n for n, line in enumerate(lines) if line.startswith(f"{operation} of myproject testing: ")]
    assert heads, "no summary in:\n" + "\n".join(lines)
    return lines[heads[-1]:]


def servers_line(summary: list[str]) -> tuple[set[str], set[str]]:
    line = next(line for line in summary if line.startswith("  web servers: "))
    old, new = line.removeprefix("  web servers: ").split(" -> ")
    return set(old.split(", ")), set(new.split(", "))


class WarningSteps(RecordingSteps):
    """Recording steps whose worker deploy meets a failed optional notice."""

    def deploy_worker(self, ctx, changeset):
        super().deploy_worker(ctx, changeset)
        ctx.warn("flag_deployment: the marker was refused (injected)")


def test_deploy_full_ends_with_time_servers_launch_changeset_and_warnings(project, tmp_path):
    old = set(in_service(project.group()))
    lines: list[str] = []
    summary = execute(DEPLOY_FULL, project.context(DEPLOY_FULL, WarningSteps(tmp_path / "s.jsonl"), lines, ami=NEW_IMAGE,
                                                   changeset="c0ffee", num_web=2))
    new = set(in_service(project.group()))
    block = summary_of(lines, "deploy_full")
    assert re.fullmatch(r"deploy_full of myproject testing: completed in \d+ s", block[0]), block[0]
    assert servers_line(block) == (old, new) and not old & new
    template = Launch.of(project.group()).template_name
    assert f"  launch: launch template {template} version 2 (image {NEW_IMAGE})" in block
    assert "  changeset: c0ffee" in block
    assert "  rolled back: nothing" in block
    assert block[-2:] == ["  warnings (1):", "    - flag_deployment: the marker was refused (injected)"]
    assert "WARNING: flag_deployment: the marker was refused (injected)" in lines  # also when it happened
    assert (set(summary.removed), set(summary.added)) == (old, new)


def test_a_rolled_back_deploy_says_where_it_failed_and_what_the_group_uses_again(project, tmp_path):
    old = set(in_service(project.group()))
    lines: list[str] = []
    with pytest.raises(DeployError):
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, RecordingSteps(tmp_path / "f.jsonl", fail_at="deploy_worker"),
                                             lines, ami=NEW_IMAGE))
    block = summary_of(lines, "deploy_full")
    assert re.fullmatch(r"deploy_full of myproject testing: rolled back in \d+ s \(failed at step deploy_worker: "
                        r"deploy_worker failed \(injected\)\)", block[0]), block[0]
    template = Launch.of(project.group()).template_name
    assert f"  rolled back: the group uses launch template {template} version $Default again" in block
    assert "  warnings: none" in block
    remaining = next(line for line in block if line.startswith("  web servers: "))
    assert all(i in remaining for i in old)  # the old servers are what is left


def test_recover_ends_with_a_summary(project, tmp_path):
    with pytest.raises(DeployError):
        execute(DEPLOY_FULL, project.context(DEPLOY_FULL, RecordingSteps(tmp_path / "f.jsonl", fail_at="deploy_worker"),
                                             ami=NEW_IMAGE), rollback=False)
    journal = project.stored_journal()  # in the state bucket
    lines: list[str] = []
    ctx = project.context(DEPLOY_FULL, RecordingSteps(tmp_path / "ok.jsonl"), lines)
    ctx.journal = journal
    assert recover(ctx, OPERATIONS) == "rolled back"
    block = summary_of(lines, "deploy_full")
    assert block[0].startswith("deploy_full of myproject testing: rolled back by recover in ")
    assert any(line.startswith("  rolled back: the group uses launch template ") for line in block)


def test_create_launch_config_for_deployment_summary_on_the_command_line(project):
    result = run_cli([f"create_launch_config_for_deployment:myproject,testing,ami={NEW_IMAGE},changeset=c0ffee"],
                     project.directory)
    assert result.returncode == 0, result.stderr
    block = summary_of(result.stdout.splitlines(), "create_launch_config")
    servers = ", ".join(in_service(project.group()))
    assert block[1] == f"  web servers: unchanged ({servers})"
    template = Launch.of(project.group()).template_name
    assert f"  launch: launch template {template} version 2 (image {NEW_IMAGE})" in block
    assert "  changeset: c0ffee" in block and "  warnings: none" in block


def test_deploy_serial_without_a_worker_warns_that_migrations_did_not_run(project):
    """The real application steps (command line) in an environment without a worker server: 1.x and main said
    nothing and went on; now a warning when it happens and again in the summary."""
    old = set(in_service(project.group()))
    result = run_cli([f"deploy_serial:myproject,testing,ami={NEW_IMAGE},changeset=c0ffee"], project.directory,
                     timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    warned = [line for line in lines if line.startswith("WARNING: no worker server in myproject testing")]
    assert len(warned) == 1 and "migrations and collectstatic did NOT run for c0ffee" in warned[0], result.stdout
    block = summary_of(lines, "deploy_serial")
    assert block[0].startswith("deploy_serial of myproject testing: completed in ")
    removed, added = servers_line(block)
    assert removed == old and added == set(in_service(project.group())) and not old & added
    assert "  warnings (1):" in block and block[-1].startswith("    - no worker server in myproject testing")


def test_a_refused_new_relic_marker_is_a_warning_not_a_rollback(project, tmp_path):
    """The marker is posted after the migrations: 1.x-style failure there rolled the web servers back onto old
    code over a migrated schema; now it is a warning."""
    config = project.directory / "fabulaws-config.yml"
    text = config.read_text().replace("password_names: [database_password, broker_password, secret_key]",
                                      "password_names: [database_password, broker_password, secret_key, newrelic_api_key]")
    config.write_text(text + "\nnewrelic_deployments_url: http://127.0.0.1:9/deployments.xml\n")
    (project.directory / "fabsecrets_testing.py").write_text(
        "database_password = 'd'\nbroker_password = 'b'\nsecret_key = 's'\nnewrelic_api_key = 'k'\n")
    settings = load_settings(config)
    lines: list[str] = []
    ctx = project.context(DEPLOY_FULL, RecordingSteps(tmp_path / "s.jsonl"), lines)
    ctx.settings = settings
    ApplicationSteps(None).deploy_worker(ctx, "c0ffee")  # no worker servers: only the warning and the marker
    warnings = ctx.journal.data["warnings"]
    assert len(warnings) == 2, lines
    assert warnings[0].startswith("no worker server in myproject testing")
    assert "refused the marker" in warnings[1] and "flag_deployment" in warnings[1]
    assert [line for line in lines if line.startswith("WARNING: ")] == [f"WARNING: {w}" for w in warnings]
    assert "'k'" not in "\n".join(lines)
    ctx.journal.remove()


class BakingWarnsThroughTheReporter(RecordingSteps):
    def bake_image(self, ctx):
        found = super().bake_image(ctx)
        warn(ctx.report, "image server: newrelic-admin missing (injected)")  # a step that only has the reporter
        return found


def test_warnings_printed_through_the_reporter_are_in_the_summary_too(project, tmp_path):
    out = io.StringIO()
    reporter = Reporter(out=out)
    reporter.warn("from an earlier task of the same command line")  # not this run's: not in its summary
    ctx = dataclasses.replace(project.context(CREATE_LAUNCH, BakingWarnsThroughTheReporter(tmp_path / "s.jsonl")),
                              report=reporter)
    summary = execute(CREATE_LAUNCH, ctx)
    assert summary.warnings == ["image server: newrelic-admin missing (injected)"]
    printed = out.getvalue().splitlines()
    assert "WARNING: image server: newrelic-admin missing (injected)" in printed
    assert printed[-2:] == ["  warnings (1):", "    - image server: newrelic-admin missing (injected)"]
    assert f"  launch: launch template {Launch.of(project.group()).template_name} version 2 (image {NEW_IMAGE})" in printed
    assert "  changeset: abc123" in printed  # what the baked image was tagged with


def test_summary_lines_when_the_group_cannot_be_read_or_nothing_had_changed():
    from fabulaws.library.wsgiautoscale.deploy.summary import Summary

    summary = Summary("deploy_full", "myproject", "testing", "rolled back", 65, ["i-1", "i-2"], None,
                      failed_step="capture", reason="AWS said no")
    assert summary.lines() == [
        "deploy_full of myproject testing: rolled back in 1 min 05 s (failed at step capture: AWS said no)",
        "  web servers: i-1, i-2 before; the group could not be read now",
        "  rolled back: nothing had been changed yet",
        "  warnings: none",
    ]

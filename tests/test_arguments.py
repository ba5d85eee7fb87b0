"""Typed task arguments: a bad value is one line naming the task, the argument and what was expected,
exit status 2, before anything is read from or changed in AWS (issue 11, part 7)."""

from __future__ import annotations

import pytest
from fabulaws.arguments import COUNT, FLAG, SECONDS, WHOLE, Choice

from conftest import run_cli

# AWS is a closed port: a task that reached AWS would fail differently (and slowly), not with our line.
NO_AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}

BAD = [
    ("deploy_serial:myproject,testing,batch=abc", "deploy_serial: batch=abc: expected a whole number of at least 1"),
    ("deploy_serial:myproject,testing,batch=0", "deploy_serial: batch=0: expected a whole number of at least 1"),
    ("deploy_full:myproject,testing,num_web=two", "deploy_full: num_web=two: expected a whole number of at least 1"),
    ("deploy_full:myproject,testing,num_web=-3", "deploy_full: num_web=-3: expected a whole number of at least 1"),
    ("deploy_full:myproject,testing,poll=fast", "deploy_full: poll=fast: expected a number of seconds greater than 0"),
    ("deploy_serial:myproject,testing,poll=0", "deploy_serial: poll=0: expected a number of seconds greater than 0"),
    ("deploy_serial:myproject,testing,poll=-1", "deploy_serial: poll=-1: expected a number of seconds greater than 0"),
    ("deploy_serial:myproject,testing,poll=nan", "deploy_serial: poll=nan: expected a number of seconds greater than 0"),
    ("deploy_full:myproject,testing,timeout=soon",
     "deploy_full: timeout=soon: expected a number of seconds greater than 0"),
    ("deploy_full:myproject,testing,rollback=maybe", "deploy_full: rollback=maybe: expected yes or no"),
    ("deploy_serial:myproject,testing,rollback=maybe", "deploy_serial: rollback=maybe: expected yes or no"),
    ("deploy_serial:myproject,testing,engine=fast",
     "deploy_serial: engine=fast: expected one of serial, instance-refresh"),
    ("prune:myproject,testing,keep=all", "prune: keep=all: expected a whole number of at least 0"),
    ("recover:myproject,testing,action=maybe", "recover: action=maybe: expected one of auto, finish, rollback"),
    ("recover:myproject,testing,poll=0", "recover: poll=0: expected a number of seconds greater than 0"),
    ("create_launch_config_for_deployment:myproject,testing,poll=0",
     "create_launch_config_for_deployment: poll=0: expected a number of seconds greater than 0"),
    ("create_environment:myproject,testing,num_web=0",
     "create_environment: num_web=0: expected a whole number of at least 1"),
    ("new:myproject,testing,web,count=many", "new: count=many: expected a whole number of at least 1"),
    ("new:myproject,testing,web,keep_failed=perhaps", "new: keep_failed=perhaps: expected yes or no"),
]


@pytest.mark.parametrize("command,line", BAD, ids=[c for c, _ in BAD])
def test_a_bad_argument_is_one_line_before_any_change(example_project, command, line):
    result = run_cli([command], example_project, env=NO_AWS)
    assert (result.returncode, result.stderr, result.stdout) == (2, f"fabulaws: {line}\n", "")
    assert not (example_project / ".fabulaws").exists()  # no journal, no lock, no log


@pytest.mark.parametrize("command,line", [
    (["testing", "add_to_elb:poll=0"], "add_to_elb: poll=0: expected a number of seconds greater than 0"),
    (["testing", "begin_upgrade:stay_healthy=sometimes"], "begin_upgrade: stay_healthy=sometimes: expected yes or no"),
])
def test_role_tasks_check_their_arguments_too(example_project, command, line):
    result = run_cli(command, example_project, env=NO_AWS)
    assert (result.returncode, result.stderr) == (2, f"fabulaws: {line}\n")


def test_fabric_2_flags_are_checked_the_same_way(example_project):
    result = run_cli(["deploy-serial", "--batch", "abc", "myproject", "testing"], example_project, env=NO_AWS)
    assert (result.returncode, result.stderr) == (2, "fabulaws: deploy_serial: batch=abc: expected a whole number of at least 1\n")


def test_help_says_what_each_typed_argument_takes(example_project):
    result = run_cli(["--help", "deploy_full"], example_project)
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "--num-web=STRING number of web servers to launch (a whole number of at least 1)" in flat
    assert "(a number of seconds greater than 0)" in flat


@pytest.mark.parametrize("converter,given,expected", [
    (COUNT, "3", 3), (COUNT, 2, 2), (COUNT, " 4 ", 4), (WHOLE, "0", 0), (SECONDS, "0.5", 0.5), (SECONDS, 2, 2.0),
    (FLAG, "yes", True), (FLAG, "N", False), (FLAG, True, True), (Choice("a", "b"), "b", "b"),
])
def test_good_values_convert(converter, given, expected):
    assert converter(given) == expected


@pytest.mark.parametrize("converter,given", [
    (COUNT, "0"), (COUNT, "1.5"), (COUNT, True), (WHOLE, "-1"), (SECONDS, "0"), (SECONDS, "-2"), (SECONDS, "inf"),
    (FLAG, "maybe"), (Choice("a"), "c"),
])
def test_bad_values_are_refused(converter, given):
    with pytest.raises(ValueError):
        converter(given)

"""Fabric 1 task syntax, translated for invoke: run through the real ``fabulaws`` program."""

from __future__ import annotations

import json

import pytest
from fabulaws.fabric1 import TaskToken, split_unescaped, unescape

from conftest import run_cli

FABFILE = '''
import json
from fabric import task

@task(iterable=["items"])
def show_args(c, first, second="", flag=False, count=1, items=None):
    """Print the arguments as JSON."""
    print(json.dumps(dict(first=first, second=second, flag=flag, count=count, items=items)))

@task
def defaults_on(c, enabled=True):
    print(json.dumps(dict(enabled=enabled)))

@task
def show_target(c, deployment="mine", environment="testing"):
    print(json.dumps(dict(deployment=deployment, environment=environment)))
'''


@pytest.mark.parametrize(
    ("token", "name", "positional", "keywords"),
    [
        ("deploy_full:myproject,production", "deploy_full", ["myproject", "production"], {}),
        ("deploy_full", "deploy_full", [], {}),
        ("t:a\\,b,k=v\\=w", "t", ["a,b"], {"k": "v=w"}),
        ("t:x\\:y,k=a=b", "t", ["x:y"], {"k": "a=b"}),
        ("t:", "t", [], {}),
        ("t:back\\\\slash", "t", ["back\\slash"], {}),
    ],
)
def test_task_tokens_split_like_fabric_1(token, name, positional, keywords):
    parsed = TaskToken.parse(token)
    assert (parsed.name, parsed.positional, parsed.keywords) == (name, positional, keywords)


def test_split_keeps_escapes_for_the_next_stage():
    assert split_unescaped("a\\,b,c", ",") == ["a\\,b", "c"]
    assert unescape("a\\,b\\=c") == "a,b=c"


@pytest.fixture
def fabfile_dir(tmp_path):
    (tmp_path / "fabfile.py").write_text(FABFILE)
    return tmp_path


def shown(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["show_args:one"], dict(first="one", second="", flag=False, count=1, items=[])),
        (["show-args:one,two"], dict(first="one", second="two", flag=False, count=1, items=[])),
        (["show_args:a\\,b,x\\=y"], dict(first="a,b", second="x=y", flag=False, count=1, items=[])),
        (["show_args:first=1,count=3,flag=yes"], dict(first="1", second="", flag=True, count=3, items=[])),
        (["show_args:1,flag=False"], dict(first="1", second="", flag=False, count=1, items=[])),
        (["show_args:a,b,true,2,x,y,z"], dict(first="a", second="b", flag=True, count=2, items=["x", "y", "z"])),
        (["show_args:-x,--flag"], dict(first="-x", second="--flag", flag=False, count=1, items=[])),
        (["show_args:a", "--flag"], dict(first="a", second="", flag=True, count=1, items=[])),
        (["show-args", "a", "--count", "5"], dict(first="a", second="", flag=False, count=5, items=[])),
    ],
)
def test_fabric_1_and_2_syntax_give_the_same_arguments(fabfile_dir, args, expected):
    assert shown(run_cli(args, fabfile_dir)) == [expected]


@pytest.mark.parametrize(
    "args",
    [["show_target:deployment_tag=other,environment=staging"], ["show_target:environment=staging,deployment_tag=other"]],
)
def test_deployment_tag_is_1x_s_name_for_the_deployment(fabfile_dir, args):
    assert shown(run_cli(args, fabfile_dir)) == [dict(deployment="other", environment="staging")]


def test_several_tasks_in_one_command_line(fabfile_dir):
    result = run_cli(["show_args:one", "defaults_on:enabled=no", "show-args", "two"], fabfile_dir)
    assert [row.get("first", row.get("enabled")) for row in shown(result)] == ["one", False, "two"]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["show_args:a,flag=perhaps"], "fabulaws: show-args: flag='perhaps': expected true or false"),
        (
            ["show_target:other,deployment_tag=again"],
            "fabulaws: show-target: deployment_tag='again' repeats the deployment given before it",
        ),
        (["defaults_on:1,2"], "fabulaws: defaults-on takes at most 1 argument(s) (enabled); got 2: 1, 2"),
        (
            ["show_args:a,colour=red"],
            "fabulaws: show-args has no argument 'colour'; its arguments: first, second, flag, count, items",
        ),
    ],
)
def test_bad_arguments_are_one_clear_error(fabfile_dir, args, error):
    result = run_cli(args, fabfile_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == error
    assert result.stdout == ""


NARROWING_FABFILE = '''
import json
from fabric import task

@task
def show_narrowing(c):
    data = c.config.get("fabulaws") or {}
    print(json.dumps(dict(roles=data.get("task_roles"), hosts=data.get("task_hosts"))))

@task
def show_host(c):
    print(json.dumps(dict(host=c.host)))
'''


@pytest.fixture
def narrowing_dir(tmp_path):
    (tmp_path / "fabfile.py").write_text(NARROWING_FABFILE)
    return tmp_path


def test_per_task_roles_reach_that_task_only(narrowing_dir):
    # 1.x: fab staging supervisor:restart,celery,roles=worker; several roles separated by ';'
    result = run_cli(["show_narrowing:roles=web;worker", "show_narrowing", "show_narrowing:roles=worker"], narrowing_dir)
    assert shown(result) == [dict(roles=["web", "worker"], hosts=[]), dict(roles=[], hosts=[]),
                             dict(roles=["worker"], hosts=[])]


def test_per_task_hosts_run_a_fabfile_task_once_per_host(narrowing_dir):
    result = run_cli(["show_host:hosts=web1.example.com;web2.example.com"], narrowing_dir)
    assert shown(result) == [dict(host="web1.example.com"), dict(host="web2.example.com")]


def test_an_empty_roles_list_is_one_clear_error(narrowing_dir):
    result = run_cli(["show_narrowing:roles="], narrowing_dir)
    assert result.returncode == 2
    assert result.stderr.strip() == "fabulaws: show-narrowing: roles= is empty; give one or more names separated by ';'"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        # before: "managepy has no argument 'cmd'", "bootstrap takes at most 0 argument(s)", "... no argument 'roles'"
        (["managepy:cmd=showmigrations"], "no environment selected"),
        (["bootstrap:purge=True"], "no environment selected"),
        (["supervisor:restart,celery,roles=worker"], "no environment selected"),
        (["run_shell_command:uptime,use_sudo=true,hosts=10.0.0.1"], "no environment selected"),
        (["describe:myproject,testing,roles=web"],
         "describe: roles=/hosts= do not apply to this task (it acts on the servers it is for); run it without them"),
        (["bootstrap:purge=perhaps"], "expected yes or no"),
    ],
)
def test_1x_command_lines_of_the_builtin_tasks_parse(example_project, args, error):
    result = run_cli(args, example_project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert error in result.stderr.strip().splitlines()[-1]

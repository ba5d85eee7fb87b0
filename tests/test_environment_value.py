"""Environment: one (deployment, environment) and every name the configuration derives for it (no AWS, no hosts)."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.errors import DeployError, UsageError
from fabulaws.library.wsgiautoscale.app import cdn
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.servers.alongside import Alongside, run_alongside
from fabulaws.library.wsgiautoscale.stack import Stack
from fabulaws.prompts import confirm_production

BASE = Path(__file__).parent / "configs" / "base.yml"


def settings_with(tmp_path: Path, extra: str):
    (tmp_path / "fabulaws-config.yml").write_text(BASE.read_text() + extra)
    return load_settings(tmp_path / "fabulaws-config.yml")


@pytest.mark.parametrize("extra, expected", [
    ("cloudfront_distribution_ids:\n  myproject:\n    testing: E1\n", "E1"),  # deployment, then environment
    ("cloudfront_distribution_ids:\n  testing: E2\n", "E2"),  # keyed by environment alone
    ("cloudfront_distribution_ids:\n  myproject: E3\n", "E3"),  # one value for the whole deployment
    ("cloudfront_distribution_ids:\n  myproject:\n    production: E4\n", None),  # another environment's only
    ("", None),
], ids=["deployment-environment", "environment", "deployment-wide", "other-environment", "none"])
def test_the_cloudfront_distribution_is_read_by_the_lookup_rule(tmp_path, extra, expected):
    settings = settings_with(tmp_path, extra)
    assert cdn.distribution_of(settings, "myproject", "testing") == expected


def test_an_environment_is_checked_once_when_built_and_frozen(tmp_path):
    settings = settings_with(tmp_path, "")
    with pytest.raises(UsageError, match="unknown environment 'testnig'; choose a valid environment: testing, production"):
        Environment.of(settings, "myproject", "testnig")
    env = Environment.of(settings, "myproject", "testing")
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.environment = "production"  # type: ignore[misc]


def test_the_names_an_environment_derives_are_the_lookup_rules(tmp_path):
    settings = settings_with(tmp_path, "load_balancers:\n  testing: [lb-t]\n")
    env = Environment.of(settings, "myproject", "testing")
    assert env.group_name == settings.deployment_setting("auto_scaling_groups", "myproject", "testing")
    assert (env.load_balancer_names, env.target_group_names) == (["lb-t"], [])
    assert (env.branch, env.server_port, env.site_domains) == ("main", 8002, ["testing.example.com"])
    assert env.paths.root == "/home/myproject/www/testing" and not env.is_production
    assert Environment.of(settings, "myproject", "production").is_production


def test_a_stack_is_its_environment_plus_servers(tmp_path):
    env = Environment.of(settings_with(tmp_path, ""), "myproject", "testing")
    stack = Stack.from_servers(env, [])
    assert stack.env is env
    assert (stack.deployment, stack.environment, stack.group_name, stack.paths) == (
        "myproject", "testing", env.group_name, env.paths)


def test_one_production_confirmation():
    with pytest.raises(UsageError) as refused:
        confirm_production("deploy_full", "production", "n", warning="This will cause downtime!")
    assert str(refused.value) == "Not running deploy_full on the production environment production."
    confirm_production("deploy_full", "production", "y")  # yes: no error


def test_work_alongside_fails_where_it_is_needed_and_is_always_waited_for():
    started = threading.Event()

    def work():
        started.set()
        raise RuntimeError("no capacity")

    backends = Alongside(work, "test-alongside", "the environment's servers")
    with pytest.raises(DeployError, match="the environment's servers could not all be created: no capacity"):
        run_alongside(backends.finish, backends)
    assert started.is_set() and not backends._thread.is_alive()

    def main_fails():
        raise ValueError("deploy failed")

    slow = Alongside(lambda: time.sleep(0.2), "test-alongside-2", "servers")
    with pytest.raises(ValueError):
        run_alongside(main_fails, slow)
    assert not slow._thread.is_alive()  # waited for although the main work failed


@pytest.mark.parametrize("extra, expected", [
    ("use_basic_auth:\n  testing: true\n", True), ("use_basic_auth:\n  production: true\n", False), ("", False)])
def test_basic_auth_is_read_by_the_environment_rule(tmp_path, extra, expected):
    assert Environment.of(settings_with(tmp_path, extra), "myproject", "testing").basic_auth is expected

"""The decisions of reset_slaves, promote_replica and recreate_servers that need no server: WAL positions,
which replica is promoted, what recreate_servers creates, and what a failed switch tells the operator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.errors import DeployError, UsageError
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.servers.recreate import plan_recreation, zone_letter
from fabulaws.library.wsgiautoscale.servers.relaunch import image_name
from fabulaws.library.wsgiautoscale.servers.replicas import (
    parse_lsn,
    plan_promotion,
    retired,
)
from fabulaws.library.wsgiautoscale.stack import Server, Stack
from fabulaws.library.wsgiautoscale.tasks.replicas import Switch
from fabulaws.waits import Polling

BASE = Path(__file__).parent / "configs" / "base.yml"


@pytest.fixture(scope="module")
def env():
    return Environment(load_settings(BASE), "myproject", "testing")


def server(instance_id: str, role: str, minute: int = 0, zone: str = "us-east-1a") -> Server:
    return Server(instance_id, role, f"{instance_id}.internal", f"10.0.0.{minute + 10}", "", "", "", zone,
                  launch_time=datetime(2026, 1, 1, 0, minute, tzinfo=UTC))


def stack_of(env, *servers: Server) -> Stack:
    return Stack.from_servers(env, list(servers))


def test_wal_positions_compare_as_numbers():
    assert parse_lsn("0/3000028") == 0x3000028
    assert parse_lsn("16/B374D848\n") == (0x16 << 32) + 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")
    with pytest.raises(DeployError, match="not a WAL position"):
        parse_lsn("")


def test_the_replica_at_index_is_promoted_the_primary_fenced_and_the_other_replicas_follow(env):
    stack = stack_of(env, server("i-p", "db-primary"), server("i-r1", "db-replica", 1), server("i-r2", "db-replica", 2),
                     server("i-w", "web"))
    promotion = plan_promotion(stack, 1)
    assert promotion.target.instance_id == "i-r2"
    assert [s.instance_id for s in promotion.fenced] == ["i-p"]
    assert [s.instance_id for s in promotion.followers] == ["i-r1"]


@pytest.mark.parametrize("index", [1, -1])
def test_an_index_with_no_replica_names_the_replicas_there_are(env, index):
    stack = stack_of(env, server("i-p", "db-primary"), server("i-r1", "db-replica", 1))
    with pytest.raises(UsageError, match=r"index=-?1: myproject testing has 1 db-replica server\(s\): 0: i-r1.internal"):
        plan_promotion(stack, index)


def test_without_a_replica_there_is_nothing_to_promote(env):
    with pytest.raises(UsageError, match="has 0 db-replica server"):
        plan_promotion(stack_of(env, server("i-p", "db-primary")), 0)


def test_retired_roles_carry_1x_suffix():
    assert retired("db-primary") == "db-primary-OLD"


@pytest.mark.parametrize(("zones", "zone", "expected"), [
    (["a", "b"], "us-east-1b", "b"),
    (["us-east-1a", "us-east-1b"], "us-east-1b", "us-east-1b"),
    (["a", "b"], "eu-west-1c", "a"),  # a zone no longer configured: the first one
])
def test_a_new_server_goes_to_the_configured_zone_of_the_one_it_replaces(zones, zone, expected):
    assert zone_letter(zones, zone) == expected


def test_recreation_creates_the_future_primary_first_then_one_server_per_old_non_web_server(env):
    zones = env.settings.avail_zones
    second = f"us-east-1{zones[-1]}" if len(zones[-1]) == 1 else zones[-1]
    stack = stack_of(env, server("i-p", "db-primary"), server("i-r", "db-replica", 1, second),
                     server("i-c", "cache", 2, second), server("i-k", "worker", 3), server("i-w", "web", 4))
    plan = plan_recreation(stack)
    assert (plan.specs[0].role, plan.specs[0].zone) == ("db-replica", zones[0]), "the future primary, in the old one's zone"
    assert sorted((s.role, s.zone) for s in plan.specs[1:]) == [
        ("cache", zones[-1]), ("db-replica", zones[-1]), ("worker", zones[0])]
    assert [s.instance_id for s in plan.primaries] == ["i-p"]
    assert sorted(s.instance_id for s in plan.retired) == ["i-c", "i-k", "i-r"]
    assert "i-w" not in [s.instance_id for s in plan.old]


def test_recreation_needs_a_primary_and_refuses_combo_servers(env):
    with pytest.raises(UsageError, match="no db-primary"):
        plan_recreation(stack_of(env, server("i-c", "cache")))
    if "combo" in env.settings.valid_roles:
        with pytest.raises(UsageError, match="combo"):
            plan_recreation(stack_of(env, server("i-x", "combo")))


def test_images_are_named_as_1x_named_them(env):
    assert image_name(env, "abc123", "20260101000000") == "myproject_testing_web_20260101000000_abc123"


def switch(env) -> Switch:
    promotion = plan_promotion(stack_of(env, server("i-p", "db-primary"), server("i-r", "db-replica", 1)), 0)
    return Switch(None, env, promotion, None, Polling(), 60, again="fabulaws testing promote_replica:0")


def test_a_failure_before_the_retagging_is_resumed_by_the_same_command(env):
    message = switch(env).stopped("promote", 2, "timed out")
    assert "stopped at step promote: timed out" in message
    assert "run `fabulaws testing promote_replica:0` again" in message
    assert "nothing was changed" in switch(env).stopped("maintenance", 0, "no SSH")


def test_a_failure_after_the_retagging_lists_what_is_left_and_forbids_promoting_again(env):
    message = switch(env).stopped("app servers", 6, "supervisor failed")
    assert "i-r is the db-primary" in message
    assert "do not run `fabulaws testing promote_replica:0` again" in message
    assert "reset_slaves" not in message, "the replicas were already re-copied"
    assert "update_local_settings" in message and "end_upgrade" in message
    assert "deploy_serial:myproject,testing" in message
    assert "reset_slaves" in switch(env).stopped("replicas", 4, "copy failed")

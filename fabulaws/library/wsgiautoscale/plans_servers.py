"""Plans of the tasks that create servers or register them (``--dry``): create_environment, new, add_all_to_elb.

The checks are the real tasks' (roles, zones, the operator's ssh key, every secret the servers need, a
primary for a replica), done without prompting; what would be launched is listed, nothing is.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from ...aws import balancers as lb
from ...dryrun import Plan
from .context import operator_name, selected_environment, settings_for
from .environment import Environment, check_selection
from .plans import planner, secrets_plan, target
from .plans_deploy import (
    checked_group,
    full_lines,
    group_line,
    launch_lines,
    production_note,
    whole,
)
from .servers import roles
from .servers.provision import ServerSpec
from .stack import REPLICA_ROLES

if TYPE_CHECKING:
    from invoke import Context


def creation_checks(c: Context, deployment: str, environment: str, specs: list[ServerSpec]) -> list[str]:
    """check_creation's checks without prompting: roles and zones, the operator's ssh key, the secrets the servers
    need; returns the secret names the real run would ask for."""
    from .tasks.servers import check_operator_is_sysadmin, check_spec

    settings = settings_for(c)
    for spec in specs:
        check_spec(settings, spec)
    check_operator_is_sysadmin(c, settings)
    needed = {name for spec in specs for name in roles.secrets_needed(spec.role, settings.instance_settings.fs_encrypt)}
    return secrets_plan(c, deployment, environment, sorted(needed | set(settings.password_names)))[1]


@planner("create_environment")
def plan_create_environment(c: Context, a: SimpleNamespace) -> Plan:
    from .tasks.environments import backend_specs

    settings = settings_for(c)
    check_selection(settings, a.deployment, a.environment)
    num_web = whole("create_environment", "num_web", a.num_web, 1)
    specs = backend_specs(settings, a.deployment, a.environment)
    missing = creation_checks(c, a.deployment, a.environment, specs)
    settings, group_name, group = checked_group(c, a.deployment, a.environment)
    plan = Plan(f"create_environment {a.deployment}/{a.environment}")
    plan.add("target", target(c, a.deployment, a.environment))
    production_note(plan, settings, a.environment)
    plan.add("create", "servers " + ", ".join(f"{s.role} ({s.zone})" for s in specs)
                       + ", in parallel while the web image is baked")
    if missing:
        plan.add("secrets", f"would ask for {', '.join(missing)}")
    plan.add("then", f"update_server_passwords, bootstrap the worker(s), then deploy_full with num_web={num_web}:")
    plan.add("group", group_line(group))
    full = SimpleNamespace(deployment=a.deployment, environment=a.environment, ami=None, changeset=None,
                           launch_config_name=None)
    launch_lines(c, plan, settings, group, full)
    full_lines(c, plan, full, group, num_web)
    return plan


@planner("new")
def plan_new(c: Context, a: SimpleNamespace) -> Plan:
    from .tasks.servers import primary_for_replicas

    settings = settings_for(c)
    check_selection(settings, a.deployment, a.environment)
    count, tries = whole("new", "count", a.count, 1), whole("new", "tries", a.tries, 1)
    zone = a.avail_zone or f"a random one of {', '.join(settings.avail_zones)}"
    specs = [ServerSpec(a.deployment, a.environment, a.role, a.avail_zone or settings.avail_zones[0])] * count
    missing = creation_checks(c, a.deployment, a.environment, specs)
    if a.role in REPLICA_ROLES:
        primary_for_replicas(c, Environment(settings, a.deployment, a.environment), specs)  # UsageError: no primary
    plan = Plan(f"new {a.deployment}/{a.environment}")
    plan.add("target", target(c, a.deployment, a.environment))
    plan.add("create", f"{count} {a.role} server(s) in zone {zone}, in parallel, {tries} tries each; each gets "
                       "its role only once set up")
    instance = settings.instance_settings
    sealed = [kind for kind, used in (("EBS-encrypted", instance.ebs_encrypted), ("LUKS", instance.luks)) if used]
    plan.add("per server", "an instance, its data volume" + (f" ({', '.join(sealed)})" if sealed else "")
                           + f", then provisioning over SSH as {operator_name(c)}")
    if missing:
        plan.add("secrets", f"would ask for {', '.join(missing)}")
    return plan


@planner("add_all_to_elb")
def plan_add_all_to_elb(c: Context, a: SimpleNamespace) -> Plan:
    from .tasks.balancers import _web_servers_and_balancers

    # the real task's checks (servers, balancers)
    aws, instance_ids, balancers = _web_servers_and_balancers(c, selected_environment(c))
    seen = lb.health(aws, balancers, instance_ids)
    stack_target = target(c, *_selection(c))
    plan = Plan("add_all_to_elb")
    plan.add("target", stack_target)
    for balancer in balancers:
        plan.add("register", f"{', '.join(instance_ids)} in {balancer}")
    plan.add("now", lb.describe_health(seen) if seen else "not registered anywhere")
    plan.add("then", f"wait up to {a.timeout} s until each is healthy in every load balancer")
    return plan


def _selection(c: Context) -> tuple[str, str]:
    from .context import selected

    chosen = selected(c)
    return chosen.deployment, chosen.environment


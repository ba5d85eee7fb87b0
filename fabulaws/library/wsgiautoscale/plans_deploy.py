"""Plans of the deploy operations (``--dry``): deploy_full, deploy_serial (both engines),
create_launch_config_for_deployment and prune, from read calls only.

Each planner checks what the real task checks before its first change (the selection, the group, a named
launch or image, an unfinished run), then reads the group and says what the steps would do to it. The
numbers follow the steps' own rules (deploy/full.py, deploy/serial.py); the order of replacement is
serial.retire_order's, with each new server placed where the group would place it.
"""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace
from typing import TYPE_CHECKING

from ...aws import scaling
from ...aws.launch import Launch, find_template, runs
from ...aws.statestore import StateStore
from ...dryrun import Plan
from ...errors import DeployError, UsageError
from .context import aws_for, project_hook, settings_for, stack_of
from .deploy import fleet, prune
from .deploy.bake import BakePlan, check_mode, plan_bake, resolve_changeset
from .deploy.full import DEPLOY_FULL, HELD
from .deploy.journal import Journal
from .deploy.launches import changeset_of, image_changeset, named_launch
from .deploy.serial import retire_order
from .environment import Environment, check_selection
from .plans import planner, target
from .servers.digest import provision_digest

if TYPE_CHECKING:
    from invoke import Context

    from fabulaws.aws import Aws
    from fabulaws.config import Settings
    from fabulaws.library.wsgiautoscale.deploy.operation import Operation


def checked_group(c: Context, deployment: str, environment: str) -> tuple[Settings, str, dict]:
    """(settings, group name, group): the real run's checks before its journal, read-only (the planner checked
    the selection)."""
    settings = settings_for(c)
    group_name = Environment(settings, deployment, environment).group_name
    group = scaling.find_group(aws_for(c).autoscaling, group_name)
    existing = unfinished_run(aws_for(c), deployment, environment)
    if existing is not None:
        raise DeployError(
            f"an earlier {existing.describe()} did not finish; run `fabulaws recover:{deployment},{environment}` first"
        )
    return settings, group_name, group


def unfinished_run(aws: Aws, deployment: str, environment: str) -> Journal | None:
    """The journal of a run that did not finish (the real task refuses to start then), or None; reads only."""
    return Journal.load(StateStore.peek(aws, deployment, environment))


def whole(task: str, name: str, value: object, least: int) -> int:
    try:
        number = int(value) if isinstance(value, (int, float, str)) else least - 1
    except (TypeError, ValueError):
        number = least - 1
    if number < least:
        raise UsageError(f"{task}: {name}={value}: expected a whole number of at least {least}")
    return number


def launch_lines(c: Context, plan: Plan, settings: Settings, group: dict, a: SimpleNamespace) -> Launch | None:
    """Add what the run would launch (an existing launch, or an image and a new launch); the existing launch or None."""
    aws = aws_for(c)
    current = Launch.of(group)
    if getattr(a, "launch_config_name", None):
        launch = named_launch(aws, group, a.launch_config_name)
        plan.add("launch", f"use the existing {launch} (changeset {changeset_of(aws, launch)})")
        return launch
    if a.ami:
        changeset = a.changeset or image_changeset(aws, a.ami)  # the image must exist
        plan.add("image", f"{a.ami} (changeset {changeset})")
    else:
        branch = Environment(settings, a.deployment, a.environment).branch
        changeset = a.changeset or f"<head of {branch}>"
        decision = bake_decision(c, settings, group, a)
        if decision.kind == "reuse":
            a.ami = decision.image  # the rest of the plan as with ami=: no temporary image server
            plan.add("image", f"reuse {decision.image}, no bake ({decision})")
        else:
            source = f"from image {decision.image}" if decision.kind == "incremental" else "from the base image"
            plan.add("image", f"bake one {source} at {changeset} on a temporary web server (instance and key pair, "
                              f"deleted once the image is made): {decision}")
    if current.template_id is not None:  # current.uses_template
        found = find_template(aws.ec2, current.template_id)
        plan.add("create", f"version {found['LatestVersionNumber'] + 1} of launch template {found['LaunchTemplateName']} "
                           "with that image")
    else:
        plan.add("create", f"launch configuration {a.deployment}_{a.environment}_lc_<time>_{changeset} with that image")
    return None


def bake_decision(c: Context, settings: Settings, group: dict, a: SimpleNamespace) -> BakePlan:
    """What the bake step would do (deploy/bake.py's decision, from read calls and ``git ls-remote`` only)."""
    mode = check_mode(getattr(a, "bake", "auto") or "auto")
    digest, inputs = provision_digest(settings, a.environment, "web", project_hook(c, "post_bootstrap"))
    branch = Environment(settings, a.deployment, a.environment).branch
    return plan_bake(aws_for(c), group, a.deployment, a.environment, digest, inputs,
                     lambda: resolve_changeset(settings.repo, branch, a.changeset, settings.vcs_cmd), mode)


def steps_lines(plan: Plan, operation: Operation) -> None:
    plan.add("steps", ", ".join(step.name for step in operation.steps))
    plan.add("no return", "declared in deploy_worker before the first migration: a failure before it is rolled back, "
                          "a run past it is finished")


def group_line(group: dict) -> str:
    members = fleet.members(group)
    return (f"{group['AutoScalingGroupName']}: {len(members)} server(s), min {group['MinSize']}, "
            f"max {group['MaxSize']}, desired {group['DesiredCapacity']}, {Launch.of(group)}; suspended: "
            + (", ".join(scaling.suspended_processes(group)) or "none"))


def servers(instances: list[dict]) -> str:
    return ", ".join(f"{i['InstanceId']} ({i['AvailabilityZone']})" for i in instances) or "none"


def production_note(plan: Plan, settings: Settings, environment: str) -> None:
    if settings.is_production(environment):
        plan.add("confirm", f"{environment} is a production environment: the real run asks first (or answer=y)")


# --- deploy_full ----------------------------------------------------------------------------------------------
def full_lines(c: Context, plan: Plan, a: SimpleNamespace, group: dict, num_web: int) -> None:
    """deploy_full's capacity, process and server changes (the rules of its scale_out/retire_old/restore_settings)."""
    members = fleet.members(group)
    minimum = group["MinSize"] or num_web
    desired = group["DesiredCapacity"] or num_web
    grown = len(members) + desired
    steps_lines(plan, DEPLOY_FULL)
    plan.add("capacity", f"min {group['MinSize']} -> {grown}, desired {group['DesiredCapacity']} -> {grown}, "
                         f"max {group['MaxSize']} -> {max(group['MaxSize'], grown)}; then min {minimum}, desired {desired}, "
                         f"max {max(group['MaxSize'], desired)}")
    before = scaling.suspended_processes(group)
    plan.add("processes", f"suspend Launch; point the group at the new launch; suspend {', '.join(HELD)} and resume "
                          f"Launch; at the end exactly as now ({', '.join(before) or 'none'} suspended)")
    plan.add("new servers", f"{desired} web server(s) of the new launch, kept out of the load balancers until the new "
                            "code runs")
    stack = stack_of(c, Environment(settings_for(c), a.deployment, a.environment))  # checked by the planner
    webs = ", ".join(s.instance_id for s in stack.by_role("web")) or "none"
    workers = ", ".join(s.instance_id for s in stack.by_role("worker")) or "none"
    plan.add("downtime", f"maintenance page on the web servers ({webs}) from begin_upgrade to end_upgrade; "
                         f"migrations on the worker ({workers})")
    plan.add("replace", f"all at once, once the new servers are healthy: {servers(members)}")
    plan.add("delete", f"terminate {len(members)} old server(s)" + (", the temporary image server" if not a.ami else ""))


@planner("deploy_full")
def plan_deploy_full(c: Context, a: SimpleNamespace) -> Plan:
    check_selection(settings_for(c), a.deployment, a.environment)
    settings, group_name, group = checked_group(c, a.deployment, a.environment)
    num_web = whole("deploy_full", "num_web", a.num_web, 1)
    plan = Plan(f"deploy_full {a.deployment}/{a.environment}")
    plan.add("target", target(c, a.deployment, a.environment))
    production_note(plan, settings, a.environment)
    plan.add("group", group_line(group))
    launch_lines(c, plan, settings, group, a)
    full_lines(c, plan, a, group, num_web)
    return plan


# --- deploy_serial --------------------------------------------------------------------------------------------
def replacement_batches(group: dict, old: list[dict], batch: int) -> list[list[dict]]:
    """The old servers in the order the serial engine would retire them, batch by batch.

    Each replacement is placed in the group's zone with the fewest servers (as Auto Scaling places launches);
    then retire_order picks the old ones to go, as the run does from what it sees.
    """
    zones = list(group.get("AvailabilityZones") or sorted({i["AvailabilityZone"] for i in old}))
    present = list(fleet.members(group))
    remaining, new, batches = list(old), list[dict](), list[list[dict]]()
    while remaining:
        size = min(batch, len(remaining))
        for _ in range(size):
            counts = Counter(i["AvailabilityZone"] for i in present)
            zone = min(zones, key=lambda z: (counts[z], zones.index(z)))
            replacement = {"InstanceId": f"new-{len(new) + 1}", "AvailabilityZone": zone}
            new.append(replacement)
            present.append(replacement)
        retiring = retire_order(remaining, new)[:size]
        batches.append(retiring)
        for instance in retiring:
            remaining.remove(instance)
            present.remove(instance)
    return batches


@planner("deploy_serial")
def plan_deploy_serial(c: Context, a: SimpleNamespace) -> Plan:
    from .tasks.operations import ENGINES  # the task's own list of engines

    settings = settings_for(c)
    check_selection(settings, a.deployment, a.environment)
    if a.engine not in ENGINES:
        raise UsageError(f"deploy_serial: engine={a.engine!r}: expected one of {', '.join(ENGINES)}")
    batch = whole("deploy_serial", "batch", a.batch, 1)
    settings, group_name, group = checked_group(c, a.deployment, a.environment)
    operation = ENGINES[a.engine]
    plan = Plan(f"deploy_serial {a.deployment}/{a.environment}, engine={a.engine}, batch={batch}")
    plan.add("target", target(c, a.deployment, a.environment))
    production_note(plan, settings, a.environment)
    plan.add("group", group_line(group))
    existing = launch_lines(c, plan, settings, group, a)
    members = fleet.members(group)
    old = [i for i in members if existing is None or not runs(i, existing)]
    before = scaling.suspended_processes(group)
    desired, maximum = group["DesiredCapacity"], group["MaxSize"]
    steps_lines(plan, operation)
    plan.add("migrations", "deploy_worker runs them on the worker before any web server is replaced")
    if a.engine == "serial":
        plan.add("processes", "suspend AZRebalance, HealthCheck, ReplaceUnhealthy; resume Launch, Terminate, "
                              f"AddToLoadBalancer; at the end exactly as now ({', '.join(before) or 'none'} suspended)")
        plan.add("capacity", f"desired {desired} -> {desired + batch} while a batch is replaced (max {maximum} -> "
                             f"{max(maximum, desired + batch)}); then min {group['MinSize']}, max {maximum}, desired {desired}")
        order = replacement_batches(group, old, batch)
        plan.add("replace", f"{len(old)} server(s) in {len(order)} batch(es), a replacement healthy before each old one "
                            "leaves, in order:")
        for number, retiring in enumerate(order, 1):
            plan.add("", f"batch {number}: {servers(retiring)}")
    else:
        grown = 100 + max(1, math.ceil(100 * batch / max(1, desired)))
        plan.add("refresh", f"start an instance refresh: min healthy 100%, max healthy {grown}%, warm-up "
                            f"{int(group.get('HealthCheckGracePeriod') or 0)} s, servers already on the launch skipped")
        plan.add("processes", f"unchanged by the refresh; at the end exactly as now ({', '.join(before) or 'none'} suspended)")
        plan.add("capacity", f"AWS adds up to {grown - 100}% above desired {desired}; then min {group['MinSize']}, "
                             f"max {maximum}, desired {desired}")
        plan.add("replace", f"{len(old)} server(s), in the order AWS chooses: {servers(old)}")
    plan.add("delete", f"terminate {len(old)} old server(s)" + (", the temporary image server" if existing is None and not a.ami else ""))
    return plan


@planner("create_launch_config_for_deployment")
def plan_create_launch(c: Context, a: SimpleNamespace) -> Plan:
    check_selection(settings_for(c), a.deployment, a.environment)
    settings, group_name, group = checked_group(c, a.deployment, a.environment)
    plan = Plan(f"create_launch_config_for_deployment {a.deployment}/{a.environment}")
    plan.add("target", target(c, a.deployment, a.environment))
    plan.add("group", group_line(group) + " (unchanged: the group is not pointed at the new launch)")
    launch_lines(c, plan, settings, group, a)
    plan.add("steps", "capture, prepare_launch")
    return plan


# --- prune ----------------------------------------------------------------------------------------------------
@planner("prune")
def plan_prune(c: Context, a: SimpleNamespace) -> Plan:
    settings = settings_for(c)
    check_selection(settings, a.deployment, a.environment)
    keep = whole("prune", "keep", a.keep, 0)
    aws = aws_for(c)
    group_name = Environment(settings, a.deployment, a.environment).group_name
    group = scaling.find_group(aws.autoscaling, group_name)
    chosen = prune.select(aws, a.deployment, a.environment, keep, group)
    plan = Plan(f"prune {a.deployment}/{a.environment}, keep={keep}")
    plan.add("target", target(c, a.deployment, a.environment))
    for kind, items in chosen.labels().items():
        plan.add(f"delete {kind}", f"{len(items)}" + (f": {', '.join(items)}" if items else ""))
    return plan

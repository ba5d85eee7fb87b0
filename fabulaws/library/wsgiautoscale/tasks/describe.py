"""``describe``: the environment's servers by role, and web servers' load balancer state."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from invoke import Context

from ....aws import Aws
from ....aws.balancers import find_balancers, instance_states
from ....report import reporter
from ..context import aws_for, environment_of, stack_of
from ..stack import Stack
from .base import task

LABEL_WIDTH = 13


def describe_stack(stack: Stack, aws: Aws) -> dict:
    """Plain data for ``describe``: one DescribeInstances plus one describe per load balancer."""
    web_ids = [server.instance_id for server in stack.by_role("web")]
    balancers = find_balancers(aws, stack.load_balancer_names, stack.target_group_names) if web_ids else []
    states = {balancer: instance_states(aws, balancer, web_ids) for balancer in balancers}
    roles = {}
    for role in sorted(stack.servers):
        members = stack.servers[role]
        if not members:
            continue
        entries = []
        for server in members:
            entry: dict[str, Any] = {
                "instance_id": server.instance_id,
                "hostname": server.hostname,
                "private_ip": server.private_ip,
                "availability_zone": server.availability_zone,
            }
            if role == "web":
                entry["load_balancers"] = {b.name: states[b][server.instance_id] for b in balancers if b.kind == "elb"}
                entry["target_groups"] = {b.name: states[b][server.instance_id] for b in balancers if b.kind != "elb"}
            entries.append(entry)
        roles[role] = entries
    return {"deployment": stack.deployment, "environment": stack.environment, "roles": roles}


def format_description(data: dict) -> str:
    """1.x's layout: '<role> servers:', then right-aligned labels per server."""
    lines = []
    for role, entries in data["roles"].items():
        lines.append(f"{role} servers:")
        for entry in entries:
            for label, key in (
                ("Instance ID", "instance_id"),
                ("Hostname", "hostname"),
                ("Internal IP", "private_ip"),
                ("Placement", "availability_zone"),
            ):
                lines.append(f"{label.rjust(LABEL_WIDTH)}: {entry[key]}")
            for name, state in entry.get("load_balancers", {}).items():
                lines.append(f"{'ELB State'.rjust(LABEL_WIDTH)}: {state} ({name})")
            for name, state in entry.get("target_groups", {}).items():
                lines.append(f"{'Target State'.rjust(LABEL_WIDTH)}: {state} ({name})")
            lines.append("")
        lines.append("")
    if not data["roles"]:
        lines.append(f"No running servers found for {data['deployment']} {data['environment']}.")
    return "\n".join(lines)


@task(help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "json": "print JSON instead of text",
})
def describe(c: Context, deployment: str, environment: str, json: bool = False) -> None:
    """Show the environment's servers by role, with web servers' load balancer state."""
    stack = stack_of(c, environment_of(c, deployment, environment))
    data = describe_stack(stack, aws_for(c))
    reporter().info(jsonlib.dumps(data, indent=2) if json else format_description(data))

"""Health of instances in classic ELBs and ELBv2 target groups, behind one interface.

Each call is one batched describe per load balancer or target group.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..errors import AwsResourceError
from .errors import not_found

if TYPE_CHECKING:
    from .session import Aws


@dataclass(frozen=True)
class Balancer:
    """A classic ELB (``kind='elb'``) or an ELBv2 target group (``kind='target-group'``)."""

    kind: str
    name: str
    arn: str | None = None

    def __str__(self) -> str:
        return self.name if self.kind == "elb" else f"target group {self.name}"


def find_balancers(aws: Aws, elb_names: list[str], target_group_names: list[str]) -> list[Balancer]:
    """Resolve configured names; a name that does not exist is an AwsResourceError (by error code; any other
    error, AccessDenied for one, goes through)."""
    balancers = [Balancer("elb", name) for name in elb_names]
    if elb_names:
        try:
            aws.elb.describe_load_balancers(LoadBalancerNames=list(elb_names))
        except ClientError as exc:
            if not not_found(exc):
                raise
            raise AwsResourceError(f"load balancer not found: {exc.response['Error'].get('Message', exc)}") from None
    if target_group_names:
        try:
            groups = aws.elbv2.describe_target_groups(Names=list(target_group_names))["TargetGroups"]
        except ClientError as exc:
            if not not_found(exc):
                raise
            raise AwsResourceError(f"target group not found: {exc.response['Error'].get('Message', exc)}") from None
        arns = {group["TargetGroupName"]: group["TargetGroupArn"] for group in groups}
        balancers += [Balancer("target-group", name, arns[name]) for name in target_group_names]
    return balancers


def instance_states(aws: Aws, balancer: Balancer, instance_ids: list[str]) -> dict[str, str]:
    """State of each instance in ``balancer``: InService/OutOfService (ELB) or healthy/initial/... (ELBv2).

    Instances not registered are reported as ``OutOfService`` / ``unused``.
    """
    if not instance_ids:
        return {}
    if balancer.kind == "elb":
        # Asking for unregistered instances by id is an error on AWS; ask for all registered ones.
        response = aws.elb.describe_instance_health(LoadBalancerName=balancer.name)
        states = {item["InstanceId"]: item["State"] for item in response["InstanceStates"]}
        return {i: states.get(i, "OutOfService") for i in instance_ids}
    response = aws.elbv2.describe_target_health(TargetGroupArn=balancer.arn)
    states = {item["Target"]["Id"]: item["TargetHealth"]["State"] for item in response["TargetHealthDescriptions"]}
    return {i: states.get(i, "unused") for i in instance_ids}


HEALTHY = ("InService", "healthy")


def health(aws: Aws, balancers: list[Balancer], instance_ids: list[str]) -> dict[str, dict[str, str]]:
    """``{instance: {balancer: state}}``: one describe call per load balancer and target group, made at the same
    time (a look is as old as its slowest answer, not the sum of them)."""
    result: dict[str, dict[str, str]] = {i: {} for i in instance_ids}
    if len(balancers) > 1 and instance_ids:
        with ThreadPoolExecutor(max_workers=min(len(balancers), 8)) as pool:
            answers = list(pool.map(lambda balancer: instance_states(aws, balancer, instance_ids), balancers))
    else:
        answers = [instance_states(aws, balancer, instance_ids) for balancer in balancers]
    for balancer, states in zip(balancers, answers, strict=True):
        for instance_id, state in states.items():
            result[instance_id][str(balancer)] = state
    return result


def describe_health(seen: dict[str, dict[str, str]]) -> str:
    """One line for a health() result, for progress reports."""
    return "; ".join(f"{i}: " + ", ".join(f"{b} {s}" for b, s in per.items()) for i, per in seen.items())


def register(aws: Aws, balancer: Balancer, instance_ids: list[str]) -> None:
    if not instance_ids:
        return
    if balancer.kind == "elb":
        aws.elb.register_instances_with_load_balancer(LoadBalancerName=balancer.name, Instances=[{"InstanceId": i} for i in instance_ids])
    else:
        aws.elbv2.register_targets(TargetGroupArn=balancer.arn, Targets=[{"Id": i} for i in instance_ids])


def deregister(aws: Aws, balancer: Balancer, instance_ids: list[str]) -> None:
    if not instance_ids:
        return
    if balancer.kind == "elb":
        aws.elb.deregister_instances_from_load_balancer(LoadBalancerName=balancer.name, Instances=[{"InstanceId": i} for i in instance_ids])
    else:
        aws.elbv2.deregister_targets(TargetGroupArn=balancer.arn, Targets=[{"Id": i} for i in instance_ids])

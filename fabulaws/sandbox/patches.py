"""Where moto's request handlers differ from AWS, make them behave like AWS.

Applied once, in the sandbox process only (never in a process that also uses
moto for something else). Each change names the AWS behaviour it models; the
control loops in ``lifecycle``, ``health``, ``scaling`` and ``refresh`` do the rest.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.autoscaling import models as asg_models
from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.responses import AutoScalingResponse
from moto.cloudwatch import models as cw_models
from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import EC2Backend
from moto.ec2.models.elastic_block_store import Volume
from moto.ec2.responses import EC2Response
from moto.elb import models as elb_models
from moto.elb.exceptions import ELBClientError
from moto.elb.responses import ELBResponse
from moto.elbv2 import models as elbv2_models

from . import refresh as refreshes
from .scaling import deregister_everywhere, register, suspended
from .timing import now

_sandbox: Any = None  # the running Sandbox (lifecycle, health, timings)
_applied = False


def apply(sandbox: Any) -> None:
    """Install every change (idempotent); ``sandbox`` provides lifecycle, health and timings."""
    global _sandbox, _applied
    _sandbox = sandbox
    if _applied:
        return
    _applied = True
    _patch_ec2()
    _patch_addresses()
    _patch_autoscaling()
    _patch_load_balancers()
    _patch_cloudwatch()


def _after(cls: type, name: str):
    """Decorate a function to run after ``cls.name`` with (self, result, *args, **kwargs)."""

    def decorate(extra):
        original = getattr(cls, name)

        @functools.wraps(original)
        def wrapper(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            extra(self, result, *args, **kwargs)
            return result

        setattr(cls, name, wrapper)
        return extra

    return decorate


def _replace(cls: type, name: str):
    def decorate(function):
        setattr(cls, name, function)
        return function

    return decorate


# --- EC2: addresses of this sandbox's slot only ---------------------------------------------------
def _patch_addresses() -> None:
    """Every sandbox on the machine hands out addresses of its own slot (``slots``), so none gives out an
    address another sandbox's real hosts have: the default VPC is 172.(16+N).0.0/16, a VPC in another slot's
    ranges is refused, and an instance launched without a subnet gets an address of its zone's default
    subnet, as on AWS (moto gives it a random 10.x.y.z outside every subnet)."""
    from moto.ec2.models.instances import Instance
    from moto.ec2.models.vpcs import VPC

    original_create_vpc = EC2Backend.create_vpc

    @functools.wraps(original_create_vpc)
    def create_vpc(self, cidr_block, *args, is_default=False, **kwargs):
        slot = _sandbox.slot
        if is_default:
            cidr_block = str(slot.default_vpc_network)
        else:
            _refuse_other_slots(slot, cidr_block)
        return original_create_vpc(self, cidr_block, *args, is_default=is_default, **kwargs)

    EC2Backend.create_vpc = create_vpc

    original_associate = VPC.associate_vpc_cidr_block

    @functools.wraps(original_associate)
    def associate_vpc_cidr_block(self, cidr_block, *args, **kwargs):
        if cidr_block and "." in str(cidr_block):
            _refuse_other_slots(_sandbox.slot, cidr_block)
        return original_associate(self, cidr_block, *args, **kwargs)

    VPC.associate_vpc_cidr_block = associate_vpc_cidr_block

    original_prep_nics = Instance.prep_nics

    @functools.wraps(original_prep_nics)
    def prep_nics(self, nic_spec, private_ip=None, *args, **kwargs):
        if not self._subnet_id and not any("SubnetId" in nic or "NetworkInterfaceId" in nic for nic in nic_spec):
            defaults = self.ec2_backend.get_default_subnets()
            subnet = defaults.get(self._placement.zone) or (defaults[sorted(defaults)[0]] if defaults else None)
            if subnet is not None:
                self._subnet_id = subnet.id
                self._placement.zone = subnet.availability_zone
        return original_prep_nics(self, nic_spec, private_ip, *args, **kwargs)

    Instance.prep_nics = prep_nics


def _refuse_other_slots(slot: Any, cidr_block: str) -> None:
    try:
        owner = slot.owner_of(cidr_block)
    except ValueError:
        return  # moto answers InvalidParameterValue for it
    if owner is not None:
        raise EC2ClientError(
            "InvalidVpc.Range",
            f"The CIDR '{cidr_block}' is in the addresses of sandbox slot {owner.number} ({owner.vpc_network}, "
            f"{owner.default_vpc_network}); this sandbox (slot {slot.number}) uses {slot.vpc_network} for VPCs, so "
            f"that sandboxes on this machine never share an address.",
        )


# --- EC2: things take time -------------------------------------------------------------------
def _patch_ec2() -> None:
    @_after(EC2Backend, "run_instances")
    def _pending(self, reservation, *args, **kwargs):
        for instance in reservation.instances:
            _sandbox.lifecycle.instance_pending(instance, now())
            _sandbox.notify("instance_pending", self.region_name, instance)

    @_after(EC2Backend, "start_instances")
    def _starting(self, result, instance_ids, *args, **kwargs):
        for instance_id in instance_ids:
            instance = self.get_instance(instance_id)
            if instance.state == "running":
                _sandbox.lifecycle.instance_pending(instance, now())  # the host boots when it is running again

    @_after(EC2Backend, "stop_instances")
    def _stopped(self, result, instance_ids, *args, **kwargs):
        for instance_id in instance_ids:
            _sandbox.notify("instance_stopped", self.region_name, self.get_instance(instance_id))

    @_after(EC2Backend, "reboot_instances")
    def _rebooted(self, result, instance_ids, *args, **kwargs):
        for instance_id in instance_ids:
            _sandbox.notify("instance_rebooted", self.region_name, self.get_instance(instance_id))

    @_after(EC2Backend, "terminate_instances")
    def _terminated(self, result, instance_ids, *args, **kwargs):
        # Terminated instances leave every load balancer (ELBv2 targets drain first).
        deregister_everywhere(self.region_name, list(instance_ids))
        for instance_id in instance_ids:
            _sandbox.notify("instance_terminated", self.region_name, self.get_instance(instance_id))

    @_after(EC2Backend, "create_image")
    def _building(self, image, instance_id, *args, **kwargs):
        _sandbox.lifecycle.image_pending(image, now())
        _sandbox.notify("image_created", self.region_name, image, instance_id)

    @_after(EC2Backend, "deregister_image")
    def _deregistered(self, result, image_id, *args, **kwargs):
        _sandbox.notify("image_deregistered", image_id)

    original_console = EC2Response.get_console_output

    @_replace(EC2Response, "get_console_output")
    def get_console_output(self):
        """A host's console: its boot messages, with the SSH host key fingerprints (as cloud-init prints them)."""
        if _sandbox.hosts is None:
            return original_console(self)
        from moto.core.utils import utcnow
        from moto.ec2.utils import Base64EncodedString

        instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
        output = _sandbox.hosts.console_output(instance.id)
        return ActionResult({"InstanceId": instance.id, "Timestamp": utcnow(), "Output": Base64EncodedString.from_raw_string(output)})

    # Volumes: API-created ones take time (an instance's own root volume does not).
    @_after(EC2Response, "create_volume")
    def _creating(self, result):
        _sandbox.lifecycle.volume_creating(result.result, now())
        _sandbox.notify("volume_created", result.result.id, int(result.result.size))

    original_attach = EC2Response.attach_volume

    @_replace(EC2Response, "attach_volume")
    def attach_volume(self):
        volume_id = self._get_param("VolumeId")
        volume = self.ec2_backend.get_volume(volume_id)
        if getattr(volume, "sandbox_status", None) == "creating":
            raise EC2ClientError("IncorrectState", f"Volume '{volume_id}'is in the 'creating' state.")
        if volume.attachment is not None:
            raise EC2ClientError("VolumeInUse", f"vol '{volume_id}' is already attached to an instance")
        result = original_attach(self)
        _sandbox.lifecycle.volume_attaching(volume.attachment, now())
        _sandbox.notify("volume_attached", volume_id, volume.attachment.instance.id, volume.attachment.device)
        return result

    @_replace(EC2Response, "detach_volume")
    def detach_volume(self):
        """InstanceId and Device are optional, as on AWS (moto needed them)."""
        volume_id = self._get_param("VolumeId")
        attachment = self.ec2_backend.get_volume(volume_id).attachment
        if attachment is None:
            raise EC2ClientError("IncorrectState", f"Volume '{volume_id}' is in the 'available' state.")
        instance_id = self._get_param("InstanceId") or attachment.instance.id
        device = self._get_param("Device") or attachment.device
        self.error_on_dryrun()
        detached = self.ec2_backend.detach_volume(volume_id, instance_id, device)
        _sandbox.notify("volume_detached", volume_id, instance_id, device)
        return ActionResult(
            {"VolumeId": volume_id, "InstanceId": instance_id, "Device": device, "State": "detaching", "AttachTime": detached.attach_time}
        )

    @_after(EC2Response, "delete_volume")
    def _deleted(self, result):
        _sandbox.notify("volume_deleted", self._get_param("VolumeId"))

    @_replace(Volume, "status")
    @property
    def status(self):
        if self.attachment:
            return "in-use"
        return getattr(self, "sandbox_status", None) or "available"

    @_replace(EC2Response, "create_launch_template_version")
    def create_launch_template_version(self):
        """New versions inherit SourceVersion's data; given keys override it (AWS semantics)."""
        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        template = (
            self.ec2_backend.get_launch_template(template_id)
            if template_id
            else self.ec2_backend.get_launch_template_by_name(name)
        )
        data = self._get_param("LaunchTemplateData", {})
        source = self._get_param("SourceVersion")
        if source:
            data = {**template.get_version(source).data, **data}
        self.error_on_dryrun()
        version = template.create_version(data, self._get_param("VersionDescription"))
        return ActionResult(
            {
                "LaunchTemplateVersion": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersion": template.is_default(version),
                    "LaunchTemplateData": version.data,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "VersionDescription": version.description,
                    "VersionNumber": version.number,
                }
            }
        )

    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
    from moto.ec2.models.launch_templates import LaunchTemplate

    original_get_version = LaunchTemplate.get_version

    @_replace(LaunchTemplate, "get_version")
    def get_version(self, num):
        version = original_get_version(self, num)
        if getattr(version, "sandbox_deleted", False):
            raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)
        return version

    @_after(EC2Backend, "describe_launch_template_versions")
    def _hide_deleted(self, result, *args, **kwargs):
        result[:] = [(template, version) for template, version in result if not getattr(version, "sandbox_deleted", False)]

    @_replace(EC2Response, "delete_launch_template_versions")
    def delete_launch_template_versions(self):
        """DeleteLaunchTemplateVersions (moto lacks it): any version but the default one."""
        template_id = self._get_param("LaunchTemplateId")
        template = (
            self.ec2_backend.get_launch_template(template_id)
            if template_id
            else self.ec2_backend.get_launch_template_by_name(self._get_param("LaunchTemplateName"))
        )
        deleted, refused = [], []
        for number in self._get_param("Versions", []):
            entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": int(number)}
            if int(number) == template.default_version_number:
                refused.append({**entry, "ResponseError": {"Code": "launchTemplateVersionDefaultVersionCannotBeDeleted",
                                                            "Message": "Cannot delete the default version"}})
                continue
            try:
                template.get_version(number).sandbox_deleted = True
                deleted.append(entry)
            except InvalidLaunchTemplateVersionNotFound:
                refused.append({**entry, "ResponseError": {"Code": "launchTemplateVersionDoesNotExist", "Message": "not found"}})
        return ActionResult({"SuccessfullyDeletedLaunchTemplateVersions": deleted, "UnsuccessfullyDeletedLaunchTemplateVersions": refused})


# --- Auto Scaling: capacity is the control loop's job ---------------------------------------
def _patch_autoscaling() -> None:
    Group = asg_models.FakeAutoScalingGroup
    Backend = asg_models.AutoScalingBackend

    @_replace(Group, "set_desired_capacity")
    def set_desired_capacity(self, new_capacity):
        """Only record the new capacity; the control loop launches and terminates."""
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity

    original_set_launch = Group._set_launch_configuration

    @_replace(Group, "_set_launch_configuration")
    def _set_launch_configuration(self, launch_config_name, launch_template, mixed_instances_policy):
        """A group reports the configuration it was last set to, not both."""
        original_set_launch(self, launch_config_name, launch_template, mixed_instances_policy)
        if launch_config_name:
            self.ec2_launch_template = None
        elif launch_template or mixed_instances_policy:
            self.launch_config = None
            self.launch_configuration_name = None

    original_update = Group.update

    @_replace(Group, "update")
    def update(self, availability_zones, desired_capacity, max_size, min_size, *args, **kwargs):
        low = self.min_size if min_size is None else min_size
        high = self.max_size if max_size is None else max_size
        if desired_capacity is not None and not low <= desired_capacity <= high:
            raise ValidationError(f"Desired capacity:{desired_capacity} must be between the specified min size:{low} and max size:{high}")
        if desired_capacity is None and self.desired_capacity is not None:
            # AWS keeps desired within new bounds.
            clamped = min(max(self.desired_capacity, low), high)
            desired_capacity = clamped if clamped != self.desired_capacity else None
        return original_update(self, availability_zones, desired_capacity, max_size, min_size, *args, **kwargs)

    original_backend_set = Backend.set_desired_capacity

    @_replace(Backend, "set_desired_capacity")
    def backend_set_desired_capacity(self, group_name, desired_capacity):
        group = self.autoscaling_groups[group_name]
        if desired_capacity is not None and desired_capacity > (group.max_size or 0):
            raise ValidationError(f"New SetDesiredCapacity value {desired_capacity} is above max value {group.max_size} for the AutoScaling group.")
        if desired_capacity is not None and desired_capacity < (group.min_size or 0):
            raise ValidationError(f"New SetDesiredCapacity value {desired_capacity} is below min value {group.min_size} for the AutoScaling group.")
        return original_backend_set(self, group_name, desired_capacity)

    for name in ("update_attached_elbs", "update_attached_target_groups", "notify_terminate_instances"):
        # Registration happens when an instance goes InService (AddToLoadBalancer);
        # instances terminated through EC2 leave the group on the next tick.
        setattr(Backend, name, lambda self, *args, **kwargs: None)

    @_after(Backend, "attach_load_balancers")
    def _register_on_attach(self, result, group_name, *args, **kwargs):
        group = self.autoscaling_groups[group_name]
        register(self, group, [s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"])

    @_after(Backend, "attach_load_balancer_target_groups")
    def _register_on_attach_groups(self, result, group_name, *args, **kwargs):
        group = self.autoscaling_groups[group_name]
        register(self, group, [s.instance.id for s in group.instance_states if s.lifecycle_state == "InService"])

    @_after(Backend, "attach_instances")
    def _register_attached(self, result, group_name, instance_ids, *args, **kwargs):
        group = self.autoscaling_groups[group_name]
        for state in group.instance_states:
            if state.instance.id in instance_ids:
                state.sandbox_in_service_at = now()
        if "AddToLoadBalancer" not in suspended(group):
            register(self, group, list(instance_ids))

    original_terminate = Backend.terminate_instance

    @_replace(Backend, "terminate_instance")
    def terminate_instance(self, instance_id, should_decrement):
        """TerminateInstanceInAutoScalingGroup: the group drains the instance from its balancers first."""
        members = [s for g in self.autoscaling_groups.values() for s in g.instance_states if s.instance.id == instance_id]
        if not members:  # moto answers 500 here
            raise ValidationError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")
        members[0].instance.sandbox_leaving_group = True
        return original_terminate(self, instance_id, should_decrement)

    original_detach = Backend.detach_instances

    @_replace(Backend, "detach_instances")
    def detach_instances(self, group_name, instance_ids, should_decrement):
        """Detached instances leave the group's load balancers; decrementing below min is refused."""
        group = self.autoscaling_groups[group_name]
        if should_decrement and (group.desired_capacity or 0) - len(instance_ids) < (group.min_size or 0):
            raise ValidationError(
                f"Currently, desiredCapacity ({group.desired_capacity}) is equal to minSize ({group.min_size}) and cannot be decremented."
            )
        activities = original_detach(self, group_name, instance_ids, should_decrement)
        for name in group.load_balancer_names:
            if name in self.elb_backend.load_balancers:
                self.elb_backend.deregister_instances(name, list(instance_ids))
        for arn in group.target_group_arns:
            target_group = self.elbv2_backend.target_groups.get(arn)
            if target_group is not None:
                target_group.deregister([{"Id": i} for i in instance_ids if i in target_group.targets])
        return activities

    State = asg_models.InstanceState

    @_replace(State, "launch_template")
    @property
    def launch_template(self):
        """The template version this instance was launched with (moto reports the group's current one)."""
        return (getattr(self, "sandbox_launch", None) or {}).get("template")

    @_replace(State, "launch_configuration_name")
    @property
    def launch_configuration_name(self):
        return (getattr(self, "sandbox_launch", None) or {}).get("launch_config")

    @_replace(AutoScalingResponse, "set_instance_health")
    def set_instance_health(self):
        """ShouldRespectGracePeriod (default true): Unhealthy is ignored during the grace period."""
        instance_id = self._get_param("InstanceId")
        status = self._get_param("HealthStatus")
        if status not in ("Healthy", "Unhealthy"):
            raise ValidationError("Valid instance health states are: [Healthy, Unhealthy]")
        respect = self._get_bool_param("ShouldRespectGracePeriod", True)
        for group in self.autoscaling_backend.autoscaling_groups.values():
            for state in group.instance_states:
                if state.instance.id != instance_id:
                    continue
                grace = _sandbox.timings.real(group.health_check_grace_period or 0)
                in_grace = now() - getattr(state, "sandbox_in_service_at", 0.0) < grace
                if not (respect and in_grace and status == "Unhealthy"):
                    state.health_status = status
                return EmptyResult()
        raise ValidationError(f"Instance Id not found - No instance(s) found with ids: {instance_id}")

    original_put_policy = AutoScalingResponse.put_scaling_policy

    @_replace(AutoScalingResponse, "put_scaling_policy")
    def put_scaling_policy(self):
        """AWS answers PolicyARN (moto's key is misspelt, so clients got nothing)."""
        return ActionResult({"PolicyARN": original_put_policy(self).result["PolicyArn"]})

    @_replace(AutoScalingResponse, "disable_metrics_collection")
    def disable_metrics_collection(self):
        """DisableMetricsCollection (moto lacks it; Ansible's autoscaling_group calls it)."""
        group = self._group(self._get_param("AutoScalingGroupName"))
        metrics = self._get_param("Metrics", [])
        group.metrics = [m for m in group.metrics if metrics and m not in metrics]
        return EmptyResult()

    @_replace(AutoScalingResponse, "start_instance_refresh")
    def start_instance_refresh(self):
        group = self._group(self._get_param("AutoScalingGroupName"))
        refresh = refreshes.start_refresh(
            group, self._get_param("Preferences", {}) or {}, self._get_param("DesiredConfiguration")
        )
        return ActionResult({"InstanceRefreshId": refresh.id})

    @_replace(AutoScalingResponse, "describe_instance_refreshes")
    def describe_instance_refreshes(self):
        group = self._group(self._get_param("AutoScalingGroupName"))
        wanted = self._get_param("InstanceRefreshIds", [])
        found = [r.describe() for r in getattr(group, "sandbox_refreshes", []) if not wanted or r.id in wanted]
        return ActionResult({"InstanceRefreshes": found})

    @_replace(AutoScalingResponse, "cancel_instance_refresh")
    def cancel_instance_refresh(self):
        group = self._group(self._get_param("AutoScalingGroupName"))
        return ActionResult({"InstanceRefreshId": refreshes.cancel_refresh(group).id})

    @_replace(AutoScalingResponse, "_group")
    def _group(self, name):
        group = self.autoscaling_backend.autoscaling_groups.get(name)
        if group is None:
            raise ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found")
        return group


# --- Load balancers: health is what the checks observe ----------------------------------------
def _patch_load_balancers() -> None:
    @_replace(elb_models.ELBBackend, "describe_instance_health")
    def describe_instance_health(self, lb_name, instances):
        balancer = self.get_load_balancer(lb_name)
        if balancer is None:
            raise elb_models.NoActiveLoadBalancerFoundError(name=lb_name)
        asked = [i["InstanceId"] for i in instances] or list(dict.fromkeys(balancer.instance_ids))
        ec2 = elb_models.ec2_backends[self.account_id][self.region_name]
        known = {i.id for r in ec2.reservations.values() for i in r.instances}
        unknown = [i for i in asked if i not in known]
        if unknown:
            raise ELBClientError("InvalidInstance", f"Could not find EC2 instance {', '.join(unknown)}.")
        unregistered = {"State": "OutOfService", "ReasonCode": "ELB", "Description": "Instance is not currently registered with the LoadBalancer."}
        return [
            _sandbox.health.classic_state(self.region_name, lb_name, i) if i in balancer.instance_ids else {"InstanceId": i, **unregistered}
            for i in asked
        ]

    original_deregister = elb_models.ELBBackend.deregister_instances

    @_replace(elb_models.ELBBackend, "deregister_instances")
    def deregister_instances(self, load_balancer_name, instance_ids, from_autoscaling=False):
        """A load balancer has one set of registered instances, whoever registered them."""
        original_deregister(self, load_balancer_name, instance_ids, from_autoscaling=True)
        return original_deregister(self, load_balancer_name, instance_ids, from_autoscaling=False)

    for action in ("create_load_balancer", "create_load_balancer_listeners"):

        @_after(ELBResponse, action)
        def _remember_instance_protocols(self, result):
            """Listeners keep their InstanceProtocol (moto reported the load balancer side's protocol)."""
            balancer = self.elb_backend.get_load_balancer(self._get_param("LoadBalancerName"))
            wanted = {int(p["LoadBalancerPort"]): p.get("InstanceProtocol") for p in self._get_param("Listeners", [])}
            for listener in balancer.listeners:
                if wanted.get(int(listener.load_balancer_port)):
                    listener.sandbox_instance_protocol = wanted[int(listener.load_balancer_port)].upper()

    @_replace(elb_models.FakeListener, "instance_protocol")
    @property
    def instance_protocol(self):
        return getattr(self, "sandbox_instance_protocol", None) or self.protocol

    @_replace(ELBResponse, "describe_instance_health")
    def describe_instance_health_response(self):
        """With the reason code and description AWS gives, not moto's fixed N/A."""
        states = self.elb_backend.describe_instance_health(self._get_param("LoadBalancerName"), self._get_param("Instances", []))
        return ActionResult({"InstanceStates": states})

    @_replace(elbv2_models.ELBv2Backend, "describe_target_health")
    def describe_target_health(self, target_group_arn, targets):
        group = self.target_groups.get(target_group_arn)
        if group is None:
            raise elbv2_models.TargetGroupNotFoundError()
        if not targets:
            targets = [{"Id": i, "Port": t.get("Port", group.port)} for i, t in group.targets.items()]
            targets += [{"Id": i, "Port": port or group.port} for i, port in _sandbox.health.draining_targets(self.region_name, target_group_arn)]
        result = []
        for target in targets:
            registered = target["Id"] in group.targets
            state, reason, description = _sandbox.health.target_state(self.region_name, target_group_arn, target["Id"], registered)
            port = target.get("Port") or group.targets.get(target["Id"], {}).get("Port") or group.port
            result.append(elbv2_models.FakeHealthStatus(target["Id"], port, group.health_check_port, state, reason, description))
        return result


# --- CloudWatch alarms notify Auto Scaling (AlarmNotification) ------------------------------------
def _patch_cloudwatch() -> None:
    @_after(cw_models.CloudWatchBackend, "set_alarm_state")
    def _notify(self, result, alarm_name, reason, reason_data, state_value):
        alarm = self.alarms[alarm_name]
        if state_value != "ALARM" or not getattr(alarm, "actions_enabled", True):
            return
        autoscaling = asg_models.autoscaling_backends[self.account_id][self.region_name]
        for policy in list(autoscaling.policies.values()):
            if policy.arn in alarm.alarm_actions:
                group = autoscaling.autoscaling_groups.get(policy.auto_scaling_group_name)
                if group is not None and "AlarmNotification" not in suspended(group):
                    policy.execute()

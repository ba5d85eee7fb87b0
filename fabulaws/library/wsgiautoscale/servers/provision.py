"""One new server, from launch to its real role (what 1.x's ``_new`` did for one instance).

The server carries the role ``<role>-PENDING`` (invisible to every task) until
its setup has succeeded; only then is it retagged with its role. ``discard``
terminates it and deletes its data volume, so a failed try leaves nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ....aws import instances
from ....aws import tags as tagging
from ....ec2 import SSH_POLLING, EC2Instance
from ....errors import DeployError
from ....remote.commands import join, sudo
from ....remote.connect import connect, wait_for_ssh
from ....remote.hostkeys import KnownHosts
from ....report import warn
from ....ubuntu import apt, system, users, volumes
from ....ubuntu.packages import Component, Node
from ....waits import WaitFailed, WaitTimedOut
from ..paths import Paths
from . import post_setup, roles
from .address import check_ssh_address

if TYPE_CHECKING:
    from fabric import Config, Connection

    from fabulaws.aws import Aws
    from fabulaws.config import Settings

DATA_DEVICE = "/dev/sdf"


class Cancelled(DeployError):
    """The operator interrupted server creation."""


@dataclass(frozen=True)
class ServerSpec:
    """Which server to create: the role and availability zone letter in one (deployment, environment)."""

    deployment: str
    environment: str
    role: str
    zone: str
    pending_label: str = "PENDING"  # ``IMAGE`` for the temporary server an image is baked from

    @property
    def name(self) -> str:
        return f"{self.deployment}_{self.environment}_{self.role}"

    def tags(self, pending: bool) -> dict[str, str]:
        role = f"{self.role}-{self.pending_label}" if pending else self.role
        return {"deployment": self.deployment, "environment": self.environment, "role": role,
                "Name": f"{self.deployment}_{self.environment}_{role}"}


@dataclass
class NewServer:
    """Creates one server; ``create()`` runs every step, ``discard()`` removes what a failed try left."""

    spec: ServerSpec
    settings: Settings
    aws: Aws
    secret: Callable[[str], str]
    operator: str
    fabric_config: Config | None = None
    known_hosts: KnownHosts = field(default_factory=KnownHosts)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("fabulaws.new"))
    report: Callable[[str], None] = lambda status: None
    primary_address: Callable[[], str] = lambda: ""
    cancel: threading.Event = field(default_factory=threading.Event)
    assign: bool = True  # False: the server keeps its pending role (an image is baked from it, then it goes)
    track: Callable[[str, str], None] = lambda kind, identifier: None  # e.g. a deploy journal's track
    run_tags: dict[str, str] = field(default_factory=dict)  # on the instance and volumes: found by them after a kill
    key_prefix: str | None = None  # the launch key pair's name prefix (default: instance_settings.key_prefix)
    image: str | None = None  # an image already provisioned (an earlier web image): launched, reached, nothing else
    instance: EC2Instance | None = None
    volume_id: str | None = None
    cxn: Connection = None
    _memory_mb: int | None = None

    @property
    def instance_settings(self) -> Any:
        return self.settings.instance_settings

    def setting(self, key: str) -> Any:
        return self.settings.role_setting(key, self.spec.environment, self.spec.role)

    # --- the steps ---------------------------------------------------------------------------------
    def create(self) -> EC2Instance:
        if self.image is not None:
            return self._run([("launching", self.launch), ("reaching it as the operator", self.reach_operator)])
        return self._run([
            ("launching", self.launch),
            ("apt sources", self.apt_sources),
            ("data volume", self.data_volume),
            ("packages", self.install_packages),
            ("users", self.create_users),
            ("app directories", self.app_directories),
            ("swap", self.swap),
            ("upgrading packages", self.upgrade),
            *[(f"configuring {c.name}", self._configurer(c)) for c in roles.components(self.spec.role)],
            *[(f"installing {name}", self._post_setup(step)) for name, step in post_setup.steps(self.settings, self.munin_networks)],
            *([("assigning role", self.assign_role)] if self.assign else []),
        ])

    def _run(self, steps: list[tuple[str, Callable[[], None]]]) -> EC2Instance:
        for number, (label, step) in enumerate(steps, 1):
            if self.cancel.is_set():
                raise Cancelled(f"{self.spec.name}: interrupted")
            self.report(f"{label} ({number}/{len(steps)})")
            self.log.info("step %d/%d: %s", number, len(steps), label)
            started = time.monotonic()
            step()
            self.log.info("step %d/%d: %s done in %.1f s", number, len(steps), label, time.monotonic() - started)
        return self.made

    @property
    def made(self) -> EC2Instance:
        """The launched instance: every step after ``launch`` needs it."""
        if self.instance is None or self.instance.instance_id is None:
            raise DeployError(f"{self.spec.name}: no instance launched yet")
        return self.instance

    @property
    def instance_id(self) -> str:
        return str(self.made.instance_id)

    @property
    def key_name(self) -> str:
        """The launch key pair (``setup`` creates it before the instance, or fails)."""
        return str(self.made.key_name)

    def launch(self) -> None:
        check_ssh_address(self.aws.ec2, self.settings, self.aws.region, [self.spec.zone])  # reachable once launched?
        subnets = self.settings.subnets or {}
        zone = self.aws.region + self.spec.zone
        self.instance = instance = EC2Instance(
            self.aws,
            ami=self.image or self.instance_settings.ami,
            instance_type=self.setting("instance_types"),
            zone=zone,
            subnet=subnets.get(self.spec.zone),
            security_groups=list(self.setting("security_groups") or []),
            tags={**self.spec.tags(pending=True), **self.run_tags},
            key_prefix=self.instance_settings.key_prefix if self.key_prefix is None else self.key_prefix,
            known_hosts=self.known_hosts,
            ssh_attribute=self.settings.ssh_attribute,
        )
        # from a provisioned image only the operator logs in (the image's own user was retired in it)
        instance.setup(wait_ssh=self.image is None)  # on failure it terminates the instance and deletes the key pair
        self.track("key-pair", self.key_name)
        self.track("instance", self.instance_id)
        if self.made.key_file:
            self.track("key-file", self.made.key_file)
        self.log.info("instance %s at %s (%s)", self.instance_id, self.made.hostname, zone)
        if self.image is None:
            self.cxn = self.made.connection()

    def reach_operator(self) -> None:
        """Until the operator logs in and the data volume is mounted (a server launched from a provisioned
        image, as the group launches them); then the launch key pair goes."""
        instance_id, services = self.instance_id, Paths.for_environment(
            self.settings, self.spec.deployment, self.spec.environment).services

        def attempt(_: str, host: str) -> str | None:
            cxn = connect(host, self.operator, config=self.fabric_config, known=self.known_hosts,
                          timeouts=self.settings.remote_timeouts)
            if not sudo(cxn, join("test", "-d", services), hide=True, warn=True).ok:
                cxn.close()
                return "its data volume is not mounted yet"
            self.cxn = cxn
            return None

        try:
            wait_for_ssh(self.aws.ec2, [instance_id], lambda: {instance_id: self.made.refresh().get(self.settings.ssh_attribute) or ""},
                         attempt, self.known_hosts, self.made.ssh_timeout, SSH_POLLING, self.log.info,
                         what=f"{instance_id} answering SSH as {self.operator}")
        except (WaitFailed, WaitTimedOut) as exc:
            raise DeployError(f"{self.spec.name}: {exc}") from None
        self.made.cleanup()

    def apt_sources(self) -> None:
        apt.set_mirror(self.cxn, self.instance_settings.ubuntu_mirror, self.aws.region)
        apt.update(self.cxn)

    def data_volume(self) -> None:
        tags = {**self.spec.tags(pending=True), **self.run_tags, "device": DATA_DEVICE}
        tags["Name"] = f"{tags['Name']}_{DATA_DEVICE.rsplit('/', 1)[-1]}"
        zone = self.made.describe()["Placement"]["AvailabilityZone"]
        self.volume_id = volumes.create_and_attach(
            self.aws, self.instance_id, zone, DATA_DEVICE, int(self.setting("volume_sizes")),
            self.setting("volume_types"), self.instance_settings.ebs_encrypted, tags,
            kms_key_id=self.instance_settings.ebs_kms_key_id,
        )
        device = volumes.wait_for_device(self.cxn, DATA_DEVICE, self.volume_id)
        passphrase = self.secret("luks_passphrase") if self.instance_settings.luks else None
        if passphrase:
            apt.install(self.cxn, ["cryptsetup"])
        volumes.format_and_mount(self.cxn, device, self.instance_settings.app_root, self.instance_settings.fs_type, passphrase,
                                 name=volumes.crypt_name(DATA_DEVICE))

    def install_packages(self) -> None:
        wanted: list[str] = []
        for component in roles.components(self.spec.role):
            wanted += [p for p in component.package_list(self.settings) if p not in wanted]
        system.install_held(self.cxn, wanted)

    def create_users(self) -> None:
        """Sysadmins, sudoers and the deploy user; then continue as the operator and retire ``ubuntu``."""
        admins = users.read_sysadmins(self.settings.ssh_keys)
        users.create_sysadmins(self.cxn, admins, self.instance_settings.admin_groups)
        users.create_deploy_user(self.cxn, self.settings.deploy_user, self.settings.home, admins)
        image_user = self.made.user
        operator = connect(self.made.hostname, self.operator, config=self.fabric_config, known=self.known_hosts,
                           timeouts=self.settings.remote_timeouts)
        check = operator.run("sudo -n true", hide=True, warn=True)
        if not check.ok:
            raise DeployError(f"{self.operator} cannot use sudo on {self.made.hostname}: {check.stderr.strip()}")
        self.cxn.close()
        self.cxn = operator
        if image_user != self.operator:
            users.retire_image_user(self.cxn, image_user)
        self.made.cleanup()  # the launch key pair is of no more use: delete it now, not at the end

    def app_directories(self) -> None:
        dirs = roles.data_dirs(self.spec.role, self.settings.home)
        services = [s for c in roles.components(self.spec.role) if c.data_dirs for s in c.services]
        for name in services:
            system.service(self.cxn, name, "stop", warn=True)
        system.bind_app_directories(self.cxn, dirs, self.instance_settings.app_root, self.instance_settings.luks)

    def swap(self) -> None:
        multiplier = self.instance_settings.swap_multiplier or 0
        if multiplier > 0:
            added = system.setup_swap(self.cxn, multiplier, self.instance_settings.app_root, self.memory_mb,
                                      warn=self._warn)
            self.log.info("swap: %d MiB added", added)

    def upgrade(self) -> None:
        apt.update(self.cxn)
        with system.services_held(self.cxn):
            apt.upgrade(self.cxn)

    def _configurer(self, component: Component) -> Callable[[], None]:
        def configure() -> None:
            component.configure(self.node())

        return configure

    def _post_setup(self, step: Callable[[Node], object]) -> Callable[[], None]:
        def install() -> None:
            self.log.info("%s", step(self.node()))

        return install

    def munin_networks(self) -> list[str]:
        return post_setup.munin_networks(self.aws.ec2, [self.instance_id], self._warn)

    def vpc_networks(self) -> list[str]:
        """postgresql_networks' default: the server's VPC CIDR blocks."""
        return post_setup.private_networks(self.aws.ec2, [self.instance_id], self._warn, "postgresql_networks")

    @property
    def memory_mb(self) -> int:
        """The instance type's memory (DescribeInstanceTypes): swap, PostgreSQL and memcached are sized from it."""
        if self._memory_mb is None:
            self._memory_mb = instances.memory_mib(self.aws.ec2, self.setting("instance_types"))
        return self._memory_mb

    def _warn(self, message: str) -> None:
        self.log.warning("%s", message)
        warn(None, f"{self.spec.name}: {message}")

    def _report_step(self, message: str) -> None:
        self.log.info("%s", message)
        self.report(message)

    def node(self) -> Node:
        return Node(
            cxn=self.cxn,
            settings=self.settings,
            deployment=self.spec.deployment,
            environment=self.spec.environment,
            role=self.spec.role,
            address=self.made.internal_ip,
            memory_mb=self.memory_mb,
            secret=self.secret,
            paths=Paths.for_environment(self.settings, self.spec.deployment, self.spec.environment),
            primary_address=self.primary_address,
            report=self._report_step,
            private_dns=self.made.describe().get("PrivateDnsName", ""),
            networks=self.vpc_networks,
        )

    def assign_role(self) -> None:
        """The real role, on the instance and its volumes: from now on tasks see the server."""
        tags = self.spec.tags(pending=False)
        self.made.add_tags(tags)
        for mapping in self.made.refresh().get("BlockDeviceMappings", []):
            volume_name = f"{tags['Name']}_{mapping['DeviceName'].rsplit('/', 1)[-1]}"
            tagging.add(self.aws.ec2, [mapping["Ebs"]["VolumeId"]], {"role": self.spec.role, "Name": volume_name})
        self.log.info("Changing role for %s (%s) to %s", self.made.hostname, self.instance_id, self.spec.role)

    # --- failure -----------------------------------------------------------------------------------
    def discard(self) -> None:
        """Terminate the instance and delete its data volume (best effort, every part tried)."""
        if self.cxn is not None:
            self.cxn.close()
        if self.instance is not None and self.instance.instance_id:
            try:
                self.instance.terminate()
                self.log.info("terminated %s", self.instance.instance_id)
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                self.log.error("could not terminate %s: %s", self.instance.instance_id, exc)
        if self.volume_id:
            volumes.delete(self.aws, self.volume_id)
            self.log.info("deleted volume %s", self.volume_id)

    def keep(self) -> None:
        """Leave the failed server for inspection (temporary key pair deleted; it stays ``-PENDING``)."""
        if self.cxn is not None:
            self.cxn.close()
        if self.instance is not None:
            self.instance.cleanup()

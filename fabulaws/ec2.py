"""1.x's public EC2 API on boto3: ``EC2Service`` and ``EC2Instance``.

``EC2Instance`` launches an instance with a temporary key pair (its private key
in a 0600 file), waits, with deadlines, until it runs and answers SSH, and is a
context manager that yields a Fabric Connection. The temporary key pair and key
file are always deleted (also on Ctrl-C); ``terminate`` removes the instance.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import WaiterError
from fabric import Connection

from .aws import Aws, images, instances, keypairs
from .aws import tags as tagging
from .aws.instances import find_instances
from .aws.network import resolve_security_groups, resolve_subnet
from .errors import DeployError
from .remote.connect import connect, wait_for_ssh
from .remote.hostkeys import KnownHosts
from .waits import Polling, WaitFailed, WaitTimedOut

log = logging.getLogger("fabulaws.ec2")

SSH_POLLING = Polling(delay=2.0, max_delay=2.0)  # an SSH attempt every 2 s


def key_file_path(key_name: str) -> Path:
    """Where the private key of the temporary key pair ``key_name`` is kept: named after the pair, so whoever
    recorded the pair's name (or its prefix) before creating it finds the file too, after a kill."""
    return Path(tempfile.gettempdir()) / f"fabulaws-key-{key_name}.pem"


class InstanceError(DeployError, RuntimeError):
    """An instance did not come up (or did not go away) as expected."""


class EC2Service:
    """Queries over every instance of a region (1.x ``EC2Service``)."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws

    def instances(self, tags: dict[str, str] | None = None, states: tuple[str, ...] = ("running",)) -> list[dict]:
        return find_instances(self.aws.ec2, tags or {}, states)

    def hostnames(self, tags: dict[str, str] | None = None, attribute: str = "PublicDnsName") -> list[str]:
        return [i.get(attribute) or "" for i in self.instances(tags)]


class EC2Instance:
    """One instance: created by ``setup()`` or attached by ``instance_id``; ``with instance as cxn`` to use it."""

    user = "ubuntu"
    key_prefix = ""
    running_timeout = 600.0
    ssh_timeout = 600.0
    console_grace = 60.0  # seconds to wait for host keys on the console before trusting the first contact
    image_timeout = 1800.0

    def __init__(
        self,
        aws: Aws,
        ami: str | None = None,
        instance_type: str | None = None,
        zone: str | None = None,
        subnet: str | None = None,
        security_groups: list[str] | None = None,
        tags: dict[str, str] | None = None,
        block_devices: list[dict] | None = None,
        user: str | None = None,
        key_prefix: str | None = None,
        instance_id: str | None = None,
        terminate: bool = False,
        known_hosts: KnownHosts | None = None,
        user_data: str | None = None,
        ssh_attribute: str = "PublicDnsName",
    ) -> None:
        self.aws = aws
        self.ami = ami
        self.instance_type = instance_type
        self.zone = zone
        self.subnet = subnet
        self.security_groups = security_groups or []
        self.tags = dict(tags or {})
        self.block_devices = block_devices or []
        self.user = user or self.user
        self.key_prefix = self.key_prefix if key_prefix is None else key_prefix
        self.instance_id = instance_id
        self._terminate = terminate
        self.known_hosts = known_hosts or KnownHosts()
        self.user_data = user_data
        self.ssh_attribute = ssh_attribute
        self.instance: dict | None = None
        self.key_name: str | None = None
        self.key_file: str | None = None
        self._connection: Connection | None = None

    # --- creating ------------------------------------------------------------------------------
    def setup(self, wait_ssh: bool = True) -> None:
        """Temporary key pair, run the instance, wait for running (and SSH); on any failure, clean up and re-raise."""
        if self.instance_id:
            raise InstanceError(f"{self.instance_id} already exists")
        if not (self.ami and self.instance_type):
            raise InstanceError("an instance needs an ami and an instance_type")
        try:
            self._create_key_pair()
            self._run()
            self.wait_running()
            if wait_ssh:
                self.wait_ssh()
        except BaseException:
            self._terminate = self._terminate or self.instance_id is not None
            self.cleanup()
            raise

    def _create_key_pair(self) -> None:
        self.key_name = f"{self.key_prefix}{uuid.uuid4()}"
        material = keypairs.create(self.aws.ec2, self.key_name)
        try:
            self.key_file = str(key_file_path(self.key_name))
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(material)
        except BaseException:
            keypairs.delete(self.aws.ec2, self.key_name)
            self.key_name = None
            raise

    def _run(self) -> None:
        kwargs: dict[str, Any] = {
            "ImageId": self.ami,
            "InstanceType": self.instance_type,
            "KeyName": self.key_name,
            "TagSpecifications": tagging.specifications(self.tags, "instance", "volume"),
        }
        if self.block_devices:
            kwargs["BlockDeviceMappings"] = self.block_devices
        if self.user_data:
            kwargs["UserData"] = self.user_data
        if self.subnet:
            subnet = resolve_subnet(self.aws.ec2, self.subnet)
            kwargs["SubnetId"] = subnet["SubnetId"]
            kwargs["SecurityGroupIds"] = resolve_security_groups(self.aws.ec2, self.security_groups, subnet["VpcId"])
        else:
            if self.zone:
                kwargs["Placement"] = {"AvailabilityZone": self.zone}
            kwargs["SecurityGroupIds"] = resolve_security_groups(self.aws.ec2, self.security_groups, None)
        self.instance_id = instances.run(self.aws.ec2, **kwargs)
        log.info("launched %s (%s, %s)", self.instance_id, self.ami, self.instance_type)

    def wait_running(self) -> dict:
        """Until the instance runs (botocore's InstanceRunning waiter, bounded)."""
        try:
            instances.wait_running(self.aws.ec2, self.created_id, self.running_timeout)
        except WaiterError as exc:
            raise InstanceError(f"{self.instance_id} is not running after {self.running_timeout:.0f} s: {exc}") from None
        return self.refresh()

    def wait_ssh(self) -> None:
        """Until SSH answers with the temporary key; host keys from the console output when it publishes them.

        The one wait for a new server's SSH (remote.connect.wait_for_ssh): a host key that differs from the
        recorded one ends it at once; ``ssh_timeout`` is its deadline.
        """

        def answers(instance_id: str, host: str) -> str | None:
            try:
                with self.connection() as cxn:
                    cxn.run("true", hide=True)
            except Exception:
                self._connection = None  # a failed connection is not reused
                raise
            return None

        try:
            instance_id = str(self.instance_id)
            wait_for_ssh(self.aws.ec2, [instance_id], lambda: {instance_id: self.hostname}, answers,
                         self.known_hosts, self.ssh_timeout, SSH_POLLING, log.debug, grace=self.console_grace,
                         what=f"{instance_id} ({self.hostname}) answering SSH")
        except (WaitFailed, WaitTimedOut) as exc:
            raise InstanceError(str(exc)) from None

    # --- using -----------------------------------------------------------------------------------
    def refresh(self) -> dict:
        """Describe the instance again (addresses, state, tags)."""
        self.instance = instances.describe(self.aws.ec2, self.created_id)
        return self.instance

    @property
    def created_id(self) -> str:
        """The instance's id; InstanceError before ``setup()`` created it (or ``instance_id=`` named it)."""
        if not self.instance_id:
            raise InstanceError("no instance yet: call setup() first, or give instance_id=")
        return self.instance_id

    def describe(self) -> dict:
        return self.instance or self.refresh()

    @property
    def hostname(self) -> str:
        """The SSH host: the configured attribute (``ec2_attr_for_ssh``), e.g. the private IP."""
        return self.describe().get(self.ssh_attribute) or ""

    @property
    def internal_ip(self) -> str:
        return self.describe().get("PrivateIpAddress", "")

    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = connect(self.hostname, self.user, self.key_file, known=self.known_hosts)
        return self._connection

    def __enter__(self) -> Connection:
        return self.connection()

    def __exit__(self, *exc: object) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def add_tags(self, tags: dict[str, str]) -> None:
        self.tags.update(tags)
        self.instance = None
        tagging.add(self.aws.ec2, [self.created_id], tags)

    def create_image(self, name: str, no_reboot: bool = False) -> str:
        """Image the instance (its volumes too), tag the image like the instance, wait until it is available."""
        image_id = images.create(self.aws.ec2, self.created_id, name, no_reboot)
        images.tag_like(self.aws.ec2, image_id, self.refresh())
        try:
            images.wait_available(self.aws.ec2, image_id, self.image_timeout)
        except (WaitFailed, WaitTimedOut) as exc:
            raise InstanceError(f"image {image_id} of {self.instance_id} is not available: {exc}") from None
        return image_id

    # --- ending ------------------------------------------------------------------------------------
    def terminate(self) -> None:
        self._terminate = True
        self.cleanup()

    def cleanup(self) -> None:
        """Delete the temporary key pair and key file; terminate the instance if asked to."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self.key_name:
            try:
                keypairs.delete(self.aws.ec2, self.key_name)
            finally:
                self.key_name = None
        if self.key_file:
            try:
                os.remove(self.key_file)
            except FileNotFoundError:
                pass
            self.key_file = None
        if self._terminate and self.instance_id:
            instances.terminate(self.aws.ec2, [self.instance_id])
            log.info("terminated %s", self.instance_id)
        elif self.instance_id:
            log.debug("left instance %s running", self.instance_id)

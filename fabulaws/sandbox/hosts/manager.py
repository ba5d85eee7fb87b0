"""Hosts follow their instances: EC2 events (under the sandbox lock) become host work (outside it).

Each instance has its own queue of work, run in order by one thread, so a
terminate never overtakes the start before it, while hosts boot in parallel.
"""

from __future__ import annotations

import base64
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moto.ec2.models.instance_types import INSTANCE_TYPES

from ..backends import backend
from ..slots import Slot
from .aptcache import AptCache
from .gitserver import GitServer
from .host import Host, HostSpec
from .image import LayerStore, base_image
from .imds import MetadataServer
from .network import Interface, Network, teardown
from .proxies import HaproxyChecker
from .system import HostError, log
from .volumes import VolumeStore

DRAIN_TIMEOUT = 30  # real seconds a terminated group member waits for its balancers to stop routing to it


class HostManager:
    """Every sandbox host, volume, image layer and load balancer process."""

    def __init__(self, sandbox: Any, run_dir: Path, slot: Slot) -> None:
        self.sandbox = sandbox
        self.run_dir = run_dir
        self.slot = slot
        run_dir.mkdir(parents=True, exist_ok=True)
        self.network = Network(slot)
        self.volumes = VolumeStore(run_dir)
        self.git = GitServer(run_dir, self.network.exec_prefix())
        self.apt_cache = AptCache(run_dir, self.network.exec_prefix())
        self.apt_proxy = False
        self.checker = HaproxyChecker(run_dir, sandbox.timings, slot)
        self.metadata = MetadataServer(self.lookup_metadata, namespace=slot.router)
        self.hosts: dict[str, Host] = {}
        self.attachments: dict[str, dict[str, str]] = {}  # instance id -> {device: volume id}
        self.image_volumes: dict[str, dict[str, tuple[str, int]]] = {}  # image id -> {device: (snapshot, GB)}
        self.layers: LayerStore | None = None
        self.base_ready = threading.Event()
        self.base_error: str | None = None
        self.errors: list[str] = []
        self._queues: dict[str, queue.Queue] = {}
        self._queues_lock = threading.Lock()
        self.resolv_conf = Path("/etc/resolv.conf").read_text()

    # --- starting and stopping the whole thing -----------------------------------------------
    def start(self) -> None:
        self.sandbox.lifecycle.on_running.append(self.instance_running)
        self.network.setup()
        try:
            self.metadata.start()
        except OSError as exc:
            raise HostError(f"cannot serve instance metadata on 169.254.169.254:80 in {self.slot.router} ({exc.strerror})") from None
        self.git.start()
        self.apt_proxy = self.apt_cache.start()
        threading.Thread(target=self._prepare_base, daemon=True).start()

    def _prepare_base(self) -> None:
        try:
            self.layers = LayerStore(self.run_dir, base_image())
        except Exception as exc:  # noqa: BLE001 - reported by status; hosts wait forever otherwise
            self.base_error = str(exc)
            log.exception("base image")
        finally:
            self.base_ready.set()

    def shutdown(self) -> None:
        """Stop every host and process this manager started (the state on disk goes with ``sandbox down``)."""
        threads = [threading.Thread(target=host.stop) for host in list(self.hosts.values())]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        self.checker.stop_all()
        self.git.stop()
        self.apt_cache.stop()
        self.metadata.stop()
        for volume_id in list(self.volumes.loops):
            self.volumes.release(volume_id)
        teardown(self.slot)  # hosts are stopped: the slot's network goes (`sandbox down` checks nothing is left)

    def reset(self) -> None:
        """Destroy every host, volume and image layer (the sandbox is being emptied)."""
        threads = [threading.Thread(target=host.destroy) for host in list(self.hosts.values())]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        self.hosts.clear()
        self.attachments.clear()
        self.image_volumes.clear()
        for path in self.volumes.root.glob("*.img"):
            self.volumes.delete(path.stem)
        if self.layers is not None:
            for image_id in list(self.layers.images):
                self.layers.release(image_id, set())
        shutil.rmtree(self.run_dir / "snapshots", ignore_errors=True)
        self.checker.stop_all()
        self.errors.clear()

    def status(self) -> dict:
        if not self.base_ready.is_set():
            base = "building (debootstrap, a few minutes the first time)"
        else:
            base = f"failed: {self.base_error}" if self.base_error else "ready"
        return {
            "base_image": base,
            "hosts": [
                {"instance": host.spec.instance_id, "address": host.spec.interface.address, "running": host.init_pid() is not None}
                for host in self.hosts.values()
            ],
            "balancers": self.checker.urls(),
            "git": self.git.url,
            "git_ssh": self.git.ssh_url,
            "git_host_key": self.git.host_key,
            "git_authorized_keys": str(self.git.authorized_keys),
            "router": self.slot.router,
        }

    # --- work queues ---------------------------------------------------------------------------
    def _create_volumes(self, copies: list) -> None:
        for copy in copies:
            self.volumes.create(*copy)

    def submit(self, key: str, work: Callable[[], None], what: str) -> None:
        with self._queues_lock:
            pending = self._queues.get(key)
            if pending is None:
                pending = self._queues[key] = queue.Queue()
                threading.Thread(target=self._drain, args=(key, pending), daemon=True).start()
            pending.put((work, what))

    def _drain(self, key: str, pending: queue.Queue) -> None:
        while True:
            with self._queues_lock:
                if pending.empty():
                    del self._queues[key]
                    return
                work, what = pending.get()
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - one host's failure is reported, never fatal
                message = f"{key}: {what}: {exc}"
                self.errors.append(message)
                log.error(message)

    # --- EC2 events (called with the sandbox lock held) ----------------------------------------------
    def instance_pending(self, region: str, instance: Any) -> None:
        """A new instance gets its image's volumes now (as on AWS); its host boots when it is running."""
        ec2 = backend("ec2", region)
        attached = self.attachments.setdefault(instance.id, {})
        copies = []
        for device, (snapshot, size) in self.image_volumes.get(instance.image_id, {}).items():
            volume = ec2.create_volume(size=size, zone_name=instance.placement.zone)
            ec2.attach_volume(volume.id, instance.id, device, delete_on_termination=True)
            attached[device] = volume.id
            copies.append((volume.id, size, Path(snapshot)))
        self.submit(instance.id, lambda: self._create_volumes(copies), "create volumes from the image")

    def instance_running(self, region: str, instance: Any) -> None:
        """Boot the host: the image's layers, the attached volumes, the launch key pair."""
        spec = self._spec(region, instance)
        self.submit(instance.id, lambda: self._boot(spec), "start")

    def instance_stopped(self, region: str, instance: Any) -> None:
        self.submit(instance.id, lambda: self._host_call(instance.id, "stop"), "stop")

    def instance_rebooted(self, region: str, instance: Any) -> None:
        """AWS reboots keep the instance running; the host stops and boots again."""
        spec = self._spec(region, instance)

        def reboot() -> None:
            self._host_call(instance.id, "stop")
            self._boot(spec)

        self.submit(instance.id, reboot, "reboot")

    def instance_terminated(self, region: str, instance: Any) -> None:
        ec2 = backend("ec2", region)
        volumes = list(self.attachments.pop(instance.id, {}).values())
        gone = [v for v in volumes if v not in ec2.volumes]
        drain = getattr(instance, "sandbox_leaving_group", False)

        def destroy() -> None:
            if drain:
                self._wait_unrouted(instance.id)
            host = self.hosts.pop(instance.id, None)
            if host is not None:
                host.destroy()
            for volume_id in volumes:
                self.volumes.release(volume_id)
            for volume_id in gone:
                self.volumes.delete(volume_id)

        self.submit(instance.id, destroy, "terminate")

    def _wait_unrouted(self, instance_id: str) -> None:
        """Auto Scaling takes an instance out of its load balancers before it shuts it down (connection
        draining, deregistration delay): the host keeps serving until haproxy has stopped sending it requests
        (a tick or two later, once its requests in flight ended), bounded."""
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.checker.routes_to(instance_id):
            if time.monotonic() > deadline:
                log.warning("%s: still routed to by a balancer after %d s; stopping it anyway", instance_id, DRAIN_TIMEOUT)
                return
            time.sleep(0.05)

    def image_created(self, region: str, image: Any, instance_id: str) -> None:
        """CreateImage copies the instance's layer (and snapshots its attached volumes); pending until done."""
        image.sandbox_snapshot_done = False
        parent = backend("ec2", region).get_instance(instance_id).image_id
        attached = dict(self.attachments.get(instance_id, {}))
        sizes = {device: backend("ec2", region).get_volume(volume_id).size for device, volume_id in attached.items()}

        def snapshot() -> None:
            try:
                self.base_ready.wait()
                host = self.hosts.get(instance_id)
                if host is not None and self.layers is not None:
                    self.layers.snapshot(image.id, parent, host.upper)
                mapping = {}
                for device, volume_id in attached.items():
                    target = self.run_dir / "snapshots" / image.id / device.strip("/").replace("/", "_")
                    self.volumes.snapshot(volume_id, target)
                    mapping[device] = (str(target), sizes[device])
                self.image_volumes[image.id] = mapping
            finally:
                image.sandbox_snapshot_done = True

        self.submit(instance_id, snapshot, f"create image {image.id}")

    def image_deregistered(self, image_id: str) -> None:
        in_use = set()
        if self.layers is not None:
            for host in self.hosts.values():
                in_use.update(self.layers.images.get(host.spec.image_id, []))
        self.image_volumes.pop(image_id, None)

        def release() -> None:
            if self.layers is not None:
                self.layers.release(image_id, in_use)
            shutil.rmtree(self.run_dir / "snapshots" / image_id, ignore_errors=True)

        self.submit("images", release, f"deregister {image_id}")

    def volume_created(self, volume_id: str, size: int) -> None:
        self.submit(volume_id, lambda: self.volumes.create(volume_id, size), "create volume")

    def volume_attached(self, volume_id: str, instance_id: str, device: str) -> None:
        self.attachments.setdefault(instance_id, {})[device] = volume_id

        def attach() -> None:
            loop = self.volumes.loop(volume_id)
            host = self.hosts.get(instance_id)
            if host is not None:
                host.add_device(device, loop)

        self.submit(instance_id, attach, f"attach {volume_id}")

    def volume_detached(self, volume_id: str, instance_id: str, device: str) -> None:
        self.attachments.get(instance_id, {}).pop(device, None)

        def detach() -> None:
            host = self.hosts.get(instance_id)
            if host is not None:
                host.remove_device(device)
            self.volumes.release(volume_id)

        self.submit(instance_id, detach, f"detach {volume_id}")

    def volume_deleted(self, volume_id: str) -> None:
        self.submit(volume_id, lambda: self.volumes.delete(volume_id), "delete volume")

    # --- questions --------------------------------------------------------------------------------
    def console_output(self, instance_id: str) -> str:
        host = self.hosts.get(instance_id)
        if host is None or not host.console.exists():
            return ""
        return host.console.read_text(errors="replace")

    def lookup_metadata(self, address: str) -> tuple[dict[str, str], str | None] | None:
        """Instance metadata for the instance whose private IP is ``address``."""
        from ..backends import regional

        with self.sandbox.lock:
            for region, ec2 in regional("ec2"):
                for reservation in ec2.reservations.values():
                    for instance in reservation.instances:
                        if instance.private_ip == address and instance.state == "running":
                            return _metadata(region, instance), _user_data(instance)
        return None

    # --- host work (outside the lock) ----------------------------------------------------------------
    def _spec(self, region: str, instance: Any) -> HostSpec:
        ec2 = backend("ec2", region)
        subnet = ec2.get_subnet(instance.subnet_id) if instance.subnet_id else None
        network = subnet.cidr_block if subnet is not None else f"{instance.private_ip}/32"
        key = ec2.key_pairs.get(instance.key_name) if instance.key_name else None
        return HostSpec(
            instance_id=instance.id,
            hostname="ip-" + instance.private_ip.replace(".", "-"),
            interface=Interface(instance.private_ip, network),
            image_id=instance.image_id,
            authorized_key=key.public_key if key is not None else None,
            memory_mib=type_memory_mib(instance.instance_type),
        )

    def _boot(self, spec: HostSpec) -> None:
        self.base_ready.wait()
        if self.layers is None:
            raise RuntimeError(f"no base image: {self.base_error}")
        for device, volume_id in self.attachments.get(spec.instance_id, {}).items():
            spec.devices[device] = self.volumes.loop(volume_id)
        host = self.hosts.get(spec.instance_id)
        if host is None:
            host = self.hosts[spec.instance_id] = Host(self.run_dir / "hosts" / spec.instance_id, spec, self.network)
        host.spec = spec
        apt = self.apt_cache.apt_configuration() if self.apt_proxy else None
        host.start(self.layers.lower_dirs(spec.image_id), self.resolv_conf, apt)

    def _host_call(self, instance_id: str, method: str) -> None:
        host = self.hosts.get(instance_id)
        if host is not None:
            getattr(host, method)()


def _metadata(region: str, instance: Any) -> dict[str, str]:
    hostname = "ip-" + instance.private_ip.replace(".", "-") + ".ec2.internal"
    data = {
        "ami-id": instance.image_id,
        "instance-id": instance.id,
        "instance-type": instance.instance_type,
        "local-ipv4": instance.private_ip,
        "local-hostname": hostname,
        "hostname": hostname,
        "placement/availability-zone": instance.placement.zone,
        "placement/region": region,
        "security-groups": "\n".join(group.name for group in instance.security_groups),
    }
    if instance.public_ip:
        data["public-ipv4"] = instance.public_ip
        data["public-hostname"] = instance.public_dns or ""
    return data


def _user_data(instance: Any) -> str | None:
    raw = instance.user_data[0] if isinstance(instance.user_data, list) and instance.user_data else instance.user_data
    if not raw:
        return None
    text = raw if isinstance(raw, str) else raw.decode()
    try:
        return base64.b64decode(text).decode()
    except ValueError:
        return text


def type_memory_mib(instance_type: str) -> int | None:
    """The memory moto's DescribeInstanceTypes gives ``instance_type`` (a host reports it as its own)."""
    return (INSTANCE_TYPES.get(instance_type) or {}).get("MemoryInfo", {}).get("SizeInMiB")

"""The base image (Debian bookworm, debootstrapped once and cached) and the layers images add on top.

An image the sandbox did not create boots the base; ``CreateImage`` copies the
instance's own layer, so an image is the stack of its layers over the base.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .system import log, run

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What Ubuntu cloud images give that deploy tools rely on, plus sshd.
PACKAGES = (
    "python3,curl,sudo,lsb-release,ca-certificates,openssh-server,iproute2,procps,gnupg,"
    "netbase,less,iputils-ping,e2fsprogs,util-linux,mount,apt-transport-https,git"
)
SETUP = """
set -e
useradd --create-home --shell /bin/bash --groups sudo ubuntu
passwd --lock ubuntu
echo 'ubuntu ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/90-cloud-init-users
chmod 0440 /etc/sudoers.d/90-cloud-init-users
rm -f /etc/ssh/ssh_host_*
printf 'PasswordAuthentication no\\nUseDNS no\\n' > /etc/ssh/sshd_config.d/sandbox.conf
cat > /etc/apt/sources.list <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
echo 'LANG=C.UTF-8' > /etc/default/locale
apt-get clean
"""


# Hosts trust what the operator's machine trusts (e.g. a proxy's CA on the way to PyPI).
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


def extra_certificates() -> list[Path]:
    return sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fabulaws" / "images"


def recipe_key() -> str:
    digest = hashlib.sha256(f"{SUITE}|{MIRROR}|{PACKAGES}|{SETUP}".encode())
    for certificate in extra_certificates():
        digest.update(certificate.read_bytes())
    return digest.hexdigest()[:12]


def base_image(cache: Path | None = None) -> Path:
    """The base root file system, built with debootstrap on first use (a few minutes), then reused."""
    cache = cache or cache_root()
    target = cache / f"{SUITE}-{recipe_key()}"
    if (target / "rootfs" / "etc" / "debian_version").exists() and (target / "ready").exists():
        return target / "rootfs"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, even across processes
        if (target / "ready").exists():
            return target / "rootfs"
        building = cache / f".building-{recipe_key()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        log.info("building the sandbox base image (debootstrap %s) in %s", SUITE, target)
        run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(building / "rootfs"), MIRROR], timeout=1800)
        run(["chroot", str(building / "rootfs"), "/bin/sh", "-c", SETUP], timeout=600)
        _trust_extra_certificates(building / "rootfs")
        (building / "ready").write_text("")
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
    return target / "rootfs"


def _trust_extra_certificates(rootfs: Path) -> None:
    certificates = extra_certificates()
    if not certificates:
        return
    for certificate in certificates:
        shutil.copy(certificate, rootfs / "usr/local/share/ca-certificates" / certificate.name)
    run(["chroot", str(rootfs), "update-ca-certificates"])
    # pip uses its own bundle unless told otherwise.
    (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")


@dataclass
class LayerStore:
    """Image layers on disk and which image uses which (``layers.json``), with reference counts."""

    root: Path
    base: Path
    images: dict[str, list[str]] = field(default_factory=dict)  # image id -> its layer ids, newest first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        (self.root / "layers").mkdir(parents=True, exist_ok=True)
        index = self.root / "layers.json"
        if index.exists():
            self.images = json.loads(index.read_text())

    def lower_dirs(self, image_id: str) -> list[Path]:
        """Overlay lower directories for an instance of ``image_id`` (unknown images boot the base)."""
        return [self.root / "layers" / layer for layer in self.images.get(image_id, [])] + [self.base]

    def snapshot(self, image_id: str, parent_image: str, upper: Path) -> None:
        """Record ``image_id`` as the instance's layer (a copy of ``upper``) over its parent's layers."""
        layer = self.root / "layers" / image_id
        shutil.rmtree(layer, ignore_errors=True)
        run(["cp", "-a", "--reflink=auto", f"{upper}/.", str(layer)], timeout=1800)
        with self.lock:
            self.images[image_id] = [image_id, *self.images.get(parent_image, [])]
            self._save()

    def release(self, image_id: str, in_use: set[str]) -> list[str]:
        """Forget ``image_id``; delete every layer no image and no instance (``in_use`` layer ids) needs."""
        with self.lock:
            self.images.pop(image_id, None)
            needed = {layer for layers in self.images.values() for layer in layers} | in_use
            removed = []
            for layer in (self.root / "layers").iterdir():
                if layer.name not in needed:
                    shutil.rmtree(layer, ignore_errors=True)
                    removed.append(layer.name)
            self._save()
            return removed

    def _save(self) -> None:
        (self.root / "layers.json").write_text(json.dumps(self.images))

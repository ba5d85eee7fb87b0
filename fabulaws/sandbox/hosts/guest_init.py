"""PID 1 of a sandbox host: what an EC2 instance's boot does, for a Debian root without systemd.

Runs inside the host (python3 from the image, standard library only), reading
``/.fabulaws/instance.json``. It mounts the kernel file systems, creates the
attached volumes' device nodes, sets the hostname, makes SSH host keys for a
new instance (and prints their fingerprints to the console, as cloud-init
does), authorises the launch key pair for ``ubuntu``, mounts /etc/fstab, starts
the services enabled in /etc/rc2.d, runs /etc/rc.local, then reaps children.
SIGTERM stops the enabled services, in reverse order.
"""

import glob
import json
import os
import pwd
import signal
import subprocess
import sys
import time

CONFIG = "/.fabulaws/instance.json"
SKIP_SERVICES = {"rc.local", "rmnologin", "bootlogs", "udev", "kmod", "procps", "hwclock.sh", "sudo", "networking"}
stopping = False


def say(message):
    print(message, flush=True)


def sh(*command, timeout=120):
    try:
        return subprocess.run(command, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        say(f"fabulaws-init: {' '.join(command)}: {exc}")
        return None


def mount_kernel_filesystems():
    for target, kind, options in (
        ("/proc", "proc", "nosuid,nodev,noexec"),
        ("/sys", "sysfs", "ro,nosuid,nodev,noexec"),
        ("/dev", "tmpfs", "mode=755,nosuid"),
        ("/run", "tmpfs", "mode=755,nosuid,nodev"),
    ):
        os.makedirs(target, exist_ok=True)
        sh("mount", "-t", kind, "-o", options, kind, target)
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        os.mknod(f"/dev/{name}", 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)  # mknod's mode is filtered by the umask
    os.makedirs("/dev/pts")
    sh("mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620", "devpts", "/dev/pts")
    os.symlink("pts/ptmx", "/dev/ptmx")
    os.makedirs("/dev/shm")
    sh("mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", "/dev/shm")
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"/dev/{link}")
    os.makedirs("/run/lock", mode=0o1777, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)


def type_memory(memory_mib):
    """/proc/meminfo as the instance type's (DescribeInstanceTypes): MemTotal is the type's memory, and no other
    line says more (a file bound over /proc/meminfo in this host's own mount namespace; the machine's is untouched)."""
    if not memory_mib:
        return
    total = int(memory_mib) * 1024
    lines = []
    for line in open("/proc/meminfo").read().splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name == "MemTotal":
            fields[0] = str(total)
        elif name in ("MemFree", "MemAvailable") and fields:
            fields[0] = str(min(int(fields[0]), total))
        lines.append(f"{name}:{' ' * max(1, 16 - len(name))}{' '.join(fields)}")
    with open("/run/fabulaws-meminfo", "w") as stream:
        stream.write("\n".join(lines) + "\n")
    sh("mount", "--bind", "-o", "ro", "/run/fabulaws-meminfo", "/proc/meminfo")


def make_devices(devices):
    """Block devices of attached volumes, at their requested name and its /dev/sd* <-> /dev/xvd* twin."""
    for device in devices:
        path = device["name"]
        os.mknod(path, 0o660 | 0o060000, os.makedev(device["major"], device["minor"]))
        os.chmod(path, 0o660)
        twin = path.replace("/dev/sd", "/dev/xvd") if path.startswith("/dev/sd") else path.replace("/dev/xvd", "/dev/sd")
        if twin != path and not os.path.exists(twin):
            os.symlink(os.path.basename(path), twin)


def set_hostname(hostname, address):
    sh("hostname", hostname)
    with open("/etc/hostname", "w") as handle:
        handle.write(hostname + "\n")
    with open("/etc/hosts", "w") as handle:
        handle.write(f"127.0.0.1 localhost\n{address} {hostname}.ec2.internal {hostname}\n")


def ssh_host_keys(instance_id):
    """A new instance (also one from a baked image) gets its own host keys, printed like cloud-init does."""
    marker = "/etc/ssh/.fabulaws-instance"
    previous = open(marker).read().strip() if os.path.exists(marker) else None
    if previous != instance_id:
        for path in glob.glob("/etc/ssh/ssh_host_*"):
            os.remove(path)
        sh("ssh-keygen", "-A")
        with open(marker, "w") as handle:
            handle.write(instance_id + "\n")
    public_keys = sorted(glob.glob("/etc/ssh/ssh_host_*_key.pub"))
    say("-----BEGIN SSH HOST KEY FINGERPRINTS-----")
    for path in public_keys:
        result = sh("ssh-keygen", "-lf", path)
        say(result.stdout.strip() if result else "")
    say("-----END SSH HOST KEY FINGERPRINTS-----")
    say("-----BEGIN SSH HOST KEY KEYS-----")
    for path in public_keys:
        say(" ".join(open(path).read().split()[:2]))
    say("-----END SSH HOST KEY KEYS-----")


def authorize(public_key):
    """The launch key pair's public key goes into ubuntu's authorized_keys (once per key)."""
    if not public_key:
        return
    user = pwd.getpwnam("ubuntu")
    directory = os.path.join(user.pw_dir, ".ssh")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    path = os.path.join(directory, "authorized_keys")
    existing = open(path).read() if os.path.exists(path) else ""
    if public_key.strip() not in existing:
        with open(path, "a") as handle:
            handle.write(public_key.strip() + "\n")
    for target in (directory, path):
        os.chown(target, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o600)


def enabled_services():
    names = []
    for link in sorted(glob.glob("/etc/rc2.d/S*")):
        name = os.path.basename(link)[3:]
        if name not in SKIP_SERVICES and os.path.exists(f"/etc/init.d/{name}"):
            names.append(name)
    return names


def start_services():
    started = []
    for name in enabled_services():
        result = sh(f"/etc/init.d/{name}", "start", timeout=120)
        say(f"fabulaws-init: start {name}: {'ok' if result and result.returncode == 0 else 'failed'}")
        if result and result.stdout.strip():
            say(result.stdout.strip())
        started.append(name)
    return started


def rc_local():
    if os.access("/etc/rc.local", os.X_OK):
        result = sh("/etc/rc.local", timeout=300)
        say(f"fabulaws-init: /etc/rc.local: {'ok' if result and result.returncode == 0 else 'failed'}")
        if result and result.stdout.strip():
            say(result.stdout.strip())


def stop(started):
    """Stop what boot started and what was enabled since (packages installed on the running host)."""
    for name in reversed(started + [n for n in enabled_services() if n not in started]):
        sh(f"/etc/init.d/{name}", "stop", timeout=60)
    sh("sync")
    say("fabulaws-init: stopped")
    sys.exit(0)


def request_stop(signum, frame):
    global stopping
    stopping = True


def main():
    os.umask(0o022)
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    config = json.load(open(CONFIG))
    os.environ.update({"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"})
    mount_kernel_filesystems()
    type_memory(config.get("memory_mib"))
    make_devices(config.get("devices", []))
    set_hostname(config["hostname"], config["address"])
    ssh_host_keys(config["instance_id"])
    authorize(config.get("authorized_key"))
    result = sh("mount", "-a")
    if result and result.returncode:
        say(f"fabulaws-init: mount -a: {result.stdout.strip()}")
    started = start_services()
    rc_local()
    say(f"fabulaws-init: boot finished ({config['instance_id']})")
    while True:
        if stopping:
            stop(started)
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            pid = 0
        if pid == 0:
            time.sleep(0.2)


if __name__ == "__main__":
    main()

"""A git server in the slot's router namespace, serving the repositories under ``<run>/git``: anonymously over
git:// (push allowed), and over SSH to the ``git`` account with a key only (a private repository's server)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .network import SERVICES_ADDRESS

SSH_PORT = 22
SSH_USER = "git"
MOUNT = "/srv"  # hidden by a tmpfs in sshd's own mount namespace only: the repositories appear at /srv/git
SSHD = "/usr/sbin/sshd"
GIT_SHELL = "/usr/bin/git-shell"
NOBODY = 65534
SSHD_CONFIG = f"""\
ListenAddress {SERVICES_ADDRESS}:{SSH_PORT}
HostKey {MOUNT}/git-ssh/host_key
PidFile none
AuthorizedKeysFile {MOUNT}/git-ssh/authorized_keys
AllowUsers {SSH_USER}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
StrictModes no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
LogLevel ERROR
SetEnv GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0=*
"""


class GitServer:
    """``git daemon`` on git://10.0.0.1/ and sshd on git@10.0.0.1: in the router namespace: hosts clone from it;
    operators publish to its directory (``sandbox publish``): 10.0.0.1 is every sandbox's services address.

    SSH logins go to ``git`` (uid nobody, login shell git-shell) with a key of ``<run>/git-ssh/authorized_keys``
    only; the account exists in sshd's own mount namespace (a copy of /etc/passwd mounted there), never on the
    machine, and the repositories are mounted at /srv/git there, so the account can read them whatever the modes
    of the directories above them.
    """

    def __init__(self, root: Path, prefix: list[str] | None = None) -> None:
        self.prefix = prefix or []  # e.g. ``ip netns exec fabsbx1``
        self.root = root / "git"
        self.root.mkdir(parents=True, exist_ok=True)
        self.ssh_dir = root / "git-ssh"
        self.process: subprocess.Popen | None = None
        self.sshd: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.prefix, "git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", f"--base-path={self.root}",
             f"--listen={SERVICES_ADDRESS}", f"--pid-file={self.root / 'daemon.pid'}", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if Path(SSHD).exists() and Path(GIT_SHELL).exists():
            self.start_ssh()

    def start_ssh(self) -> None:
        """sshd for git@10.0.0.1 in a mount namespace of its own (``ip netns exec`` gives it one)."""
        ssh = self.ssh_dir
        ssh.mkdir(mode=0o755, exist_ok=True)
        if not (ssh / "host_key").exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sandbox-git", "-f", str(ssh / "host_key")],
                           check=True, stdout=subprocess.DEVNULL)
        (ssh / "authorized_keys").touch(mode=0o644, exist_ok=True)
        passwd = Path("/etc/passwd").read_text()
        account = f"{SSH_USER}:*:{NOBODY}:{NOBODY}:sandbox git server:{MOUNT}/git:{GIT_SHELL}\n"
        (ssh / "passwd").write_text("".join(line + "\n" for line in passwd.splitlines()
                                            if not line.startswith(f"{SSH_USER}:")) + account)
        (ssh / "sshd_config").write_text(SSHD_CONFIG)
        script = " && ".join([
            f"mount --bind {ssh / 'passwd'} /etc/passwd",
            f"mount -t tmpfs -o mode=0755,size=1m sandbox-git {MOUNT}",
            f"mkdir {MOUNT}/git {MOUNT}/git-ssh",
            f"mount --bind {self.root} {MOUNT}/git",
            f"mount --bind {ssh} {MOUNT}/git-ssh",
            f"exec {SSHD} -D -e -f {MOUNT}/git-ssh/sshd_config",
        ])
        self.sshd = subprocess.Popen([*self.prefix, "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                     stdout=subprocess.DEVNULL, stderr=open(ssh / "sshd.log", "ab"))  # noqa: SIM115

    def stop(self) -> None:
        for process in (self.process, self.sshd):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"git://{SERVICES_ADDRESS}/"

    @property
    def ssh_url(self) -> str | None:
        """``git@10.0.0.1:`` (a repository's URL is this plus ``<name>.git``), or None without sshd."""
        return f"{SSH_USER}@{SERVICES_ADDRESS}:" if self.sshd is not None else None

    @property
    def host_key(self) -> str | None:
        """The SSH server's known_hosts line (what a configuration's ``repo_host_keys`` lists)."""
        public = self.ssh_dir / "host_key.pub"
        if self.sshd is None or not public.exists():
            return None
        kind, key = public.read_text().split()[:2]
        return f"{SERVICES_ADDRESS} {kind} {key}"

    @property
    def authorized_keys(self) -> Path:
        """Public keys allowed to clone over SSH, one a line (the sandbox state's run directory)."""
        return self.ssh_dir / "authorized_keys"

"""How git on a server reaches a private repository over SSH, with the repository server's host key checked.

Two ways, as 1.x and CI need them:

- the operator's SSH agent, forwarded (1.x's ``sshagent_run``): the git command runs on a connection of its own,
  logged in as the deploy user (whose authorized keys are the sysadmins', 1.x's deployer), so the forwarded socket
  is the deploy user's own and nothing is shared; it exists only while that connection is open, i.e. for one
  git command;
- a deploy key from the secret store (``repo_deploy_key``): uploaded over SFTP to a 0600 file of the deploy user
  in a private temporary directory, used with ``IdentitiesOnly`` and removed when git ends, also when it fails.

Either way git's ssh runs in batch mode with ``StrictHostKeyChecking=yes``: a server's key must be in
``repo_host_keys`` (or the deploy user's known_hosts); nothing turns the check off, as 1.x's ~/.ssh/config did.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paramiko

from ..errors import DeployError
from .commands import as_user, join, sudo
from .connect import connect
from .files import put
from .hostkeys import KnownHosts
from .streaming import StreamedConnection

if TYPE_CHECKING:
    from fabric import Connection

# ssh://, git+ssh://, ssh+git:// or scp-like user@host:path / host:path (git's own rule: a colon before any slash)
SSH_URL = re.compile(r"^(?:(?:git\+)?ssh(?:\+git)?://|[^/:]+:(?!//))")


def uses_ssh(url: str) -> bool:
    """Whether git reaches ``url`` over SSH (git://, http(s)://, file:// and local paths need no key)."""
    return bool(SSH_URL.match(url))


def operator_has_agent() -> bool:
    """Whether the operator's SSH agent (paramiko finds it as ssh does) holds a key to forward."""
    agent = paramiko.Agent()
    try:
        return bool(agent.get_keys())
    finally:
        agent.close()


@dataclass(frozen=True)
class GitAccess:
    """What git on a server is given to reach the repository.

    + user: the deploy user, who runs git
    + deploy_key: the private key's text (from the secret store), or None
    + host_keys: known_hosts lines of the repository's server (``repo_host_keys``)
    + agent: forward the operator's agent (only when there is no deploy key)
    """

    user: str
    deploy_key: str | None = None
    host_keys: tuple[str, ...] = ()
    agent: bool = False

    def __repr__(self) -> str:  # never the key, in a traceback or a log
        return (f"GitAccess(user={self.user!r}, deploy_key={'<secret>' if self.deploy_key else None}, "
                f"host_keys={len(self.host_keys)}, agent={self.agent})")


def ssh_command(directory: str | None, key: bool, host_keys: bool) -> str:
    """GIT_SSH_COMMAND: no prompts, host keys checked, and the deploy key alone when there is one."""
    parts = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if host_keys and directory:
        parts += ["-o", f"UserKnownHostsFile={posixpath.join(directory, 'known_hosts')}"]
    if key and directory:
        parts += ["-i", posixpath.join(directory, "key"), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
    return join(*parts)


@contextmanager
def credentials(cxn: Connection, access: GitAccess) -> Iterator[str | None]:
    """A private temporary directory of the deploy user holding ``key`` (0600) and ``known_hosts``, removed on
    leaving, also after a failure; None when there is nothing to put there."""
    if not access.deploy_key and not access.host_keys:
        yield None
        return
    made = as_user(cxn, access.user, join("mktemp", "-d", "/tmp/fabulaws-git.XXXXXXXX"), hide=True)
    directory = made.stdout.strip()
    try:
        if access.host_keys:
            put(cxn, "".join(line.strip() + "\n" for line in access.host_keys), posixpath.join(directory, "known_hosts"),
                owner=access.user, mode="0644")
        if access.deploy_key:
            put(cxn, access.deploy_key.strip() + "\n", posixpath.join(directory, "key"), owner=access.user, mode="0600")
        yield directory
    finally:
        sudo(cxn, join("rm", "-rf", "--", directory), hide=True, warn=True)


def forwarded(cxn: Connection, user: str, known: KnownHosts | None = None) -> Any:
    """A second connection to ``cxn``'s server (same port and deadlines), as ``user``, with the operator's agent
    forwarded and its output streamed where ``cxn``'s goes; ``known``: the known_hosts (default: the project's)."""
    host = cxn.host if cxn.port in (None, 22) else f"{cxn.host}:{cxn.port}"
    other = connect(host, user, config=cxn.config, known=known or KnownHosts(), forward_agent=True,
                    timeouts=getattr(cxn, "deadlines", None))
    if isinstance(cxn, StreamedConnection):
        return StreamedConnection(other, cxn.log, cxn.status)
    return other


def run_git(cxn: Connection, access: GitAccess, command: str, cwd: str) -> Any:
    """Run ``command`` (a git command that contacts the repository, already quoted) in ``cwd`` as the deploy user.

    Returns the Result; DeployError naming the host, with what to do, when git fails.
    """
    with credentials(cxn, access) as directory:
        env = {"GIT_SSH_COMMAND": ssh_command(directory, bool(access.deploy_key), bool(access.host_keys))}
        if access.agent and not access.deploy_key:
            result = _with_agent(cxn, access.user, command, cwd, env)
        else:
            result = as_user(cxn, access.user, command, cwd=cwd, env=env, hide=True, warn=True)
    if not result.ok:
        raise DeployError(f"{cxn.host}: {explain(command, result.stderr or result.stdout, access)}")
    return result


def _with_agent(cxn: Connection, user: str, command: str, cwd: str, env: dict[str, str]) -> Any:
    try:
        other = forwarded(cxn, user)
    except paramiko.AuthenticationException:
        raise DeployError(f"{cxn.host}: cannot log in as {user} to forward the SSH agent to git: the operator's key must "
                          "be among the deploy user's authorized keys (ssh_keys), or set repo_deploy_key") from None
    exports = " ".join(f"{key}={join(value)}" for key, value in env.items())
    try:
        return other.run(join("bash", "-lc", f"cd {join(cwd)} && export {exports}; {command}"), hide=True, warn=True)
    finally:
        other.close()


def explain(command: str, output: str, access: GitAccess) -> str:
    """One message for a failed git command: what git said, and what to do about the usual causes."""
    said = " ".join(output.strip().splitlines()[-3:]) or "no output"
    what = f"`{command}` failed: {said}"
    if "Host key verification failed" in output or "No ED25519 host key is known" in output or "host key" in output.lower():
        return what + "; put the repository server's key in repo_host_keys (the output of ssh-keyscan HOST, checked)"
    if "Permission denied" in output or "publickey" in output:
        if access.deploy_key:
            return what + "; the repository refused the deploy key (repo_deploy_key): add its public key to the repository"
        if access.agent:
            return what + "; the repository refused every key of the forwarded SSH agent (ssh-add -l lists them)"
        return what + "; no SSH agent to forward (start one and ssh-add a key the repository accepts) and no repo_deploy_key"
    return what

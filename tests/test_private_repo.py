"""Private repositories: git's SSH command, the deploy key's file (there only while git runs, never on a command
line), the operator's agent, and Mercurial refused at load. Commands really run, on this machine, as root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError, DeployError
from fabulaws.remote.gitauth import (
    GitAccess,
    credentials,
    explain,
    operator_has_agent,
    run_git,
    ssh_command,
    uses_ssh,
)
from invoke import Context

HERE = Path(__file__).parent
BASE = (HERE / "configs" / "base.yml").read_text()
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-but-secret-7f3a\n-----END OPENSSH PRIVATE KEY-----"
HOST_KEY = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCdrjcudM1Ey6iuSBjb+cMhxzU9vp138hQNfBF+r0J+"


SUDO = """#!/bin/sh
# sudo for root (this machine may have none): drop the options, run the command
while [ $# -gt 0 ]; do case "$1" in -n|-H) shift ;; -u) shift 2 ;; *) break ;; esac; done
exec "$@"
"""


@pytest.fixture(autouse=True)
def as_root(tmp_path_factory, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("runs the commands as root, as the deploy user would on a server")
    shim = tmp_path_factory.mktemp("bin")
    (shim / "sudo").write_text(SUDO)
    (shim / "sudo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")


class LocalConnection:
    """A Connection whose commands run on this machine (root here), recording each command line."""

    host = "localhost"
    port = 22

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(self, command: str, **kwargs: object):
        self.commands.append(command)
        return Context().run(command, hide=True, warn=bool(kwargs.get("warn")), in_stream=False)

    def put(self, local, remote: str) -> None:
        Path(remote).write_bytes(local.read())


def leftovers() -> set[str]:
    return {str(p) for p in Path("/tmp").glob("fabulaws-git.*")}


@pytest.fixture
def repository(tmp_path):
    path = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q",
                    "--allow-empty", "-m", "one"], check=True)
    return path


@pytest.mark.parametrize(("url", "ssh"), [
    ("git@github.com:example/myproject.git", True),
    ("ssh://git@example.com:2222/repo.git", True),
    ("git+ssh://example.com/repo.git", True),
    ("example.com:repo.git", True),
    ("git://10.0.0.1/myproject.git", False),
    ("https://github.com/example/myproject.git", False),
    ("file:///srv/repo.git", False),
    ("/srv/repo.git", False),
    ("./repo", False),
])
def test_which_urls_git_reaches_over_ssh(url, ssh):
    assert uses_ssh(url) is ssh


def test_git_ssh_checks_host_keys_in_batch_mode_and_uses_only_the_deploy_key():
    bare = ssh_command(None, key=False, host_keys=False)
    assert bare == "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"
    full = ssh_command("/tmp/fabulaws-git.abc", key=True, host_keys=True).split()
    assert "StrictHostKeyChecking=yes" in full and "StrictHostKeyChecking=no" not in full
    assert "UserKnownHostsFile=/tmp/fabulaws-git.abc/known_hosts" in full
    assert full[full.index("-i") + 1] == "/tmp/fabulaws-git.abc/key"
    assert "IdentitiesOnly=yes" in full and "IdentityAgent=none" in full


def test_the_deploy_key_is_a_0600_file_only_while_git_runs_and_never_on_a_command_line(repository):
    cxn = LocalConnection()
    before = leftovers()
    access = GitAccess("root", KEY, (HOST_KEY,))
    show = ('printf "%s\\n" "$GIT_SSH_COMMAND"; d=$(printf "%s" "$GIT_SSH_COMMAND" | sed -n "s/.* -i \\([^ ]*\\)\\/key .*/\\1/p"); '
            'stat -c "%a %U" "$d" "$d/key"; cat "$d/known_hosts" "$d/key"; git ls-remote -q "$0"')
    result = run_git(cxn, access, f"sh -c '{show}' {repository}", cwd=str(repository))
    lines = result.stdout.splitlines()
    assert "IdentitiesOnly=yes" in lines[0]
    assert lines[1:3] == ["700 root", "600 root"]
    assert lines[3] == HOST_KEY
    assert "\n".join(lines[4:7]) == KEY
    assert leftovers() == before  # removed once git ended
    assert not any("secret-7f3a" in command for command in cxn.commands)
    assert "secret-7f3a" not in repr(access)


def test_the_deploy_key_is_removed_when_git_fails_and_the_error_says_what_to_do(repository):
    cxn = LocalConnection()
    before = leftovers()
    with pytest.raises(DeployError) as caught:
        run_git(cxn, GitAccess("root", KEY), "sh -c 'echo \"git@x: Permission denied (publickey).\" >&2; exit 128'",
                cwd=str(repository))
    assert str(caught.value).startswith("localhost: `sh -c")
    assert "refused the deploy key (repo_deploy_key)" in str(caught.value)
    assert "secret-7f3a" not in str(caught.value)
    assert leftovers() == before


def test_the_key_directory_goes_on_an_exception_inside(repository):
    cxn = LocalConnection()
    with pytest.raises(RuntimeError), credentials(cxn, GitAccess("root", KEY)) as directory:
        assert Path(directory, "key").read_text() == KEY + "\n"
        raise RuntimeError("interrupted")
    assert not Path(directory).exists()


def test_no_key_and_no_host_keys_means_no_temporary_files(repository):
    cxn = LocalConnection()
    run_git(cxn, GitAccess("root"), f"git ls-remote -q {repository}", cwd=str(repository))
    assert not any("mktemp" in command for command in cxn.commands)


def test_failures_explain_host_keys_and_missing_credentials():
    assert "repo_host_keys" in explain("git fetch", "Host key verification failed.\nfatal: ...", GitAccess("u"))
    assert "no SSH agent to forward" in explain("git fetch", "Permission denied (publickey).", GitAccess("u"))
    assert "ssh-add -l" in explain("git fetch", "Permission denied (publickey).", GitAccess("u", agent=True))


def test_the_operators_agent_is_forwarded_only_when_it_holds_a_key(tmp_path, monkeypatch):
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket.exists():
                break
            subprocess.run(["sleep", "0.05"])
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket))
        assert operator_has_agent() is False  # an agent without keys
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
        subprocess.run(["ssh-add", "-q", str(tmp_path / "k")], check=True, env={**os.environ, "SSH_AUTH_SOCK": str(socket)},
                       stderr=subprocess.DEVNULL)
        assert operator_has_agent() is True
        monkeypatch.delenv("SSH_AUTH_SOCK")
        assert operator_has_agent() is False
    finally:
        agent.terminate()
        agent.wait(timeout=10)


@pytest.mark.parametrize("command", ["hg", "/usr/bin/hg"])
def test_mercurial_is_refused_at_load_in_one_line(tmp_path, command):
    path = tmp_path / "fabulaws-config.yml"
    path.write_text(BASE + f"vcs_cmd: {command}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith("fabulaws-config.yml:") and "\n" not in message
    assert ": vcs_cmd: Mercurial (hg) is not supported" in message


def test_the_deploy_key_may_not_be_copied_to_servers(tmp_path):
    path = tmp_path / "fabulaws-config.yml"
    path.write_text(BASE + "repo_deploy_key: deploy_key\n")
    assert load_settings(path).repo_deploy_key == "deploy_key"
    path.write_text(BASE + "password_names: [deploy_key]\nrepo_deploy_key: deploy_key\n")
    with pytest.raises(ConfigError, match=r"repo_deploy_key: 'deploy_key' is among password_names"):
        load_settings(path)

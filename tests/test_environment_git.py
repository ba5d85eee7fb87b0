"""A private repository on the shared environment (sandbox hosts): the code on the sandbox's SSH git server
(git@10.0.0.1:, a key required), cloned and fetched with the operator's SSH agent forwarded, and with a deploy key
from the secret store; anonymous access refused, host keys checked. The environment is left as found: the same
repository URL, branch and changeset on every server."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from conftest import _sandbox_call
from hosts_support import ProcessWatch, Shell, aws_client, fabulaws

HOME = "/home/myproject"
CODE_ROOT = f"{HOME}/www/testing/code_root"
DEPLOY_USER = "myproject"


def app_servers(environment) -> list[str]:
    found = aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:environment", "Values": ["testing"]}, {"Name": "tag:role", "Values": ["web", "worker"]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    return sorted(i["PrivateIpAddress"] for r in found["Reservations"] for i in r["Instances"])


def on_server(environment, address: str, command: str, ok: bool = True) -> str:
    shell = Shell(environment, address)
    try:
        if ok:
            return shell.ok(command).strip()
        return shell.run(command)[1]
    finally:
        shell.client.close()


def checkout(environment, address: str) -> tuple[str, str, str]:
    """(origin URL, branch, changeset) of the server's code."""
    git = f"sudo -n -u {DEPLOY_USER} git -C {CODE_ROOT}"
    out = on_server(environment, address, f"{git} remote get-url origin; {git} rev-parse --abbrev-ref HEAD; {git} rev-parse HEAD")
    url, branch, changeset = out.splitlines()
    return url, branch, changeset


def keypair(directory: Path, name: str) -> tuple[Path, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(directory / name)], check=True)
    return directory / name, (directory / f"{name}.pub").read_text()


def run(environment, *args: str, agent: str = "") -> subprocess.CompletedProcess:
    env = {**environment["env"], "SSH_AUTH_SOCK": agent}  # "" : no agent, whatever the machine running the tests has
    return fabulaws({**environment, "env": env}, *args, timeout=300)


def test_a_private_repository_with_the_agent_forwarded_and_with_a_deploy_key(environment, tmp_path):
    git = _sandbox_call(environment["endpoint"], "/_sandbox/status")["hosts"]
    assert git["git_ssh"], "the sandbox started no SSH git server: is openssh-server (/usr/sbin/sshd) installed?"
    url, host_key, authorized = git["git_ssh"] + "myproject.git", git["git_host_key"], Path(git["git_authorized_keys"])
    servers = app_servers(environment)
    before = {address: checkout(environment, address) for address in servers}
    config_path, secrets_path = environment["dir"] / "fabulaws-config.yml", environment["dir"] / "fabsecrets_testing.py"
    config_text, secrets_text, authorized_text = config_path.read_text(), secrets_path.read_text(), authorized.read_text()
    web = servers[0]

    # Anonymous (no key) is refused by the SSH server; its host key is the one the configuration states.
    known = f"printf '%s\\n' '{host_key}' > /tmp/sandbox-git-known"
    refused = on_server(environment, web, f"{known}; GIT_SSH_COMMAND='ssh -o BatchMode=yes -o UserKnownHostsFile=/tmp/sandbox-git-known' "
                        f"git ls-remote {url} 2>&1; echo exit=$?", ok=False)
    assert "Permission denied (publickey)" in refused and "exit=128" in refused, refused

    agent_key, agent_public = keypair(tmp_path, "operator_git")
    deploy_key, deploy_public = keypair(tmp_path, "deploy_git")
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    watch = ProcessWatch([deploy_key.read_text().splitlines()[1]])
    try:
        deadline = time.monotonic() + 30
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(agent_key)], check=True, env={**os.environ, "SSH_AUTH_SOCK": str(socket)},
                       stderr=subprocess.DEVNULL)
        authorized.write_text(authorized_text + agent_public + deploy_public)
        config = yaml.safe_load(config_text)
        config.update(repo=url, repo_host_keys=[host_key])
        config_path.write_text(yaml.safe_dump(config))

        # The agent, forwarded to every server at once: update_source points origin at the SSH URL and fetches.
        updated = run(environment, "testing", "update_source", agent=str(socket))
        assert updated.returncode == 0, updated.stdout + updated.stderr
        assert {address: checkout(environment, address)[0] for address in servers} == dict.fromkeys(servers, url)

        # The deploy key from the secret store, no agent: a fresh clone on one server; the key is there only while
        # git runs, never on a command line.
        secrets_path.write_text(secrets_text + f"deploy_key = {deploy_key.read_text()!r}\n")
        config["repo_deploy_key"] = "deploy_key"
        config_path.write_text(yaml.safe_dump(config))
        watch.start()
        on_server(environment, web, f"sudo -n mv {CODE_ROOT} {CODE_ROOT}.aside")
        try:
            cloned = run(environment, "-H", web, "testing", "clone_repo")
            assert cloned.returncode == 0, cloned.stdout + cloned.stderr
            assert checkout(environment, web) == (url, *before[web][1:])
            assert on_server(environment, web, "ls -d /tmp/fabulaws-git.* 2>/dev/null; true") == ""
        finally:
            on_server(environment, web, f"sudo -n rm -rf {CODE_ROOT} && sudo -n mv {CODE_ROOT}.aside {CODE_ROOT}")

        # Neither an agent nor a deploy key: refused, with what to do.
        config_path.write_text(yaml.safe_dump({**config, "repo_deploy_key": None}))
        refused = run(environment, "-H", web, "testing", "update_source")
        assert refused.returncode != 0
        assert "no SSH agent to forward" in refused.stdout + refused.stderr
    finally:
        watch.stopped.set()
        if watch.is_alive():
            watch.join()
        agent.terminate()
        agent.wait(timeout=10)
        config_path.write_text(config_text)
        secrets_path.write_text(secrets_text)
        authorized.write_text(authorized_text)
        git_as_deployer = f"sudo -n -u {DEPLOY_USER} git -C {CODE_ROOT}"
        for address, (origin, _, changeset) in before.items():  # what update_source would do, without a deploy's cost
            on_server(environment, address, f"{git_as_deployer} remote set-url origin {origin} && "
                      f"{git_as_deployer} reset -q --hard {changeset}")
    assert watch.seen == set()
    assert {address: checkout(environment, address) for address in servers} == before

"""1.x's helper API (``fabulaws.api``) for project fabfiles, on Fabric 2 connections.

Each helper takes the Connection to act on first (Fabric 2 has no global
``env``). ``answer_sudo`` answers prompts through invoke's Responders instead of
1.x's generated pexpect script, so answers are never written to a file or put
on a command line.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from invoke.watchers import Responder

from .aws import Aws
from .ec2 import EC2Service
from .remote.commands import join
from .remote.gitauth import forwarded
from .remote.hostkeys import KnownHosts

if TYPE_CHECKING:
    from fabric import Connection

CALL_PYTHON = """
import importlib, json, sys
request = json.load(sys.stdin)
module, _, name = request["method"].rpartition(".")
print(json.dumps(getattr(importlib.import_module(module), name)(*request["args"])))
"""


def ec2_instances(aws: Aws, tags: dict[str, str] | None = None, states: tuple[str, ...] = ("running",)) -> list[dict]:
    """Instances carrying every tag in ``tags`` (e.g. ``{"environment": "staging", "role": "web"}``)."""
    return EC2Service(aws).instances(tags, states)


def ec2_hostnames(aws: Aws, tags: dict[str, str] | None = None, attribute: str = "PublicDnsName") -> list[str]:
    """The ``attribute`` (``PrivateIpAddress``...) of each running instance carrying ``tags``."""
    return EC2Service(aws).hostnames(tags, attribute)


def call_python(cxn: Connection, method: str, *args: object, python: str = "python3") -> Any:
    """Call ``module.function(*args)`` on the server and return its JSON result (args travel on stdin)."""
    payload = json.dumps({"method": method, "args": list(args)})
    result = cxn.run(join(python, "-c", CALL_PYTHON), in_stream=io.StringIO(payload), hide=True)
    return json.loads(result.stdout)


def sshagent_run(cxn: Connection, command: str, user: str | None = None, known: KnownHosts | None = None, **kwargs: object) -> Any:
    """Run ``command`` as ``user`` (default: the connection's) with the operator's SSH agent forwarded.

    ``known`` is the known_hosts to verify the server with (default: the project's).

    Forwarding lets the server use the operator's keys (e.g. a private git
    clone), and root on the server can use them meanwhile: keep such commands
    short (1.x forwarded for every ``clone_repo``).
    """
    other = forwarded(cxn, user or cxn.user, known)
    try:
        return other.run(command, **kwargs)
    finally:
        other.close()


def answer_sudo(cxn: Connection, command: str, answers: list[tuple[str, str]], **kwargs: object) -> Any:
    """Run ``command`` with sudo, answering each prompt matching a regex with its answer (e.g. a passphrase)."""
    watchers = [Responder(pattern=pattern, response=answer + "\n") for pattern, answer in answers]
    return cxn.run(join("sudo", "-n", "bash", "-c", command), pty=True, watchers=watchers, hide=True, **kwargs)

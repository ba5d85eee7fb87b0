"""Fabric connections that verify host keys against the project's known_hosts, send SSH keepalives and give
every remote command a deadline, so a vanished host or a hung ``migrate`` or ``pip install`` fails with a
line naming the host and the command instead of blocking the run (and its rollback) forever."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import paramiko
from fabric import Config, Connection
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from ..errors import DeployError
from ..waits import Polling, Wait, wait_for
from .hostkeys import KnownHosts
from .streaming import readable

if TYPE_CHECKING:
    from fabulaws.aws.types import Client
    from fabulaws.config.schema import RemoteTimeouts


@dataclass(frozen=True)
class Timeouts:
    """Seconds a remote command may take, by kind, and the SSH keepalive interval (config: ``remote_timeouts``)."""

    command: float = 1800
    packages: float = 3600
    migrate: float = 7200
    keepalive: float = 15


# Which commands get the generous deadlines: the kind is read from the command itself, so every caller
# (app steps, provisioning, 1.x fabfiles through fabulaws.api) gets the same rule without passing it along.
KINDS = (
    ("migrate", re.compile(r"manage\.py\W+migrate\b")),
    ("packages", re.compile(r"\bpip3?\W+install\b|\bapt-get\b|\bnpm\W+install\b|\s-m\s+venv\b|\bdpkg\b")),
)


def command_kind(command: str) -> str:
    """``migrate``, ``packages`` or ``command``: which of ``remote_timeouts`` applies to ``command``."""
    for kind, pattern in KINDS:
        if pattern.search(command):
            return kind
    return "command"


WATCHDOG_GRACE = 5  # seconds after a command's deadline before its whole connection is closed


class RemoteTimeout(DeployError, TimeoutError):
    """A remote command did not finish in time (the host may be gone, or the command hung)."""


class TimedConnection(Connection):
    """A Connection whose ``run``/``sudo`` have a deadline (unless given one) and whose transport sends keepalives.

    On timeout the channel is closed (invoke's ``CommandTimedOut``) and RemoteTimeout names the host, the
    command and the setting to raise; a command left running on a host that still answers is not killed.
    """

    def __init__(self, *args: object, timeouts: Timeouts | RemoteTimeouts | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines = timeouts or Timeouts()

    def open(self) -> Any:
        opened = super().open()
        if self.transport is not None and self.deadlines.keepalive:
            self.transport.set_keepalive(int(max(1, self.deadlines.keepalive)))
        return opened

    def sftp(self) -> Any:
        client = super().sftp()
        client.get_channel().settimeout(self.deadlines.command)  # an upload to a vanished host fails too
        return client

    def _timed(self, method: Callable[..., Any], command: str, kwargs: dict) -> Any:
        kind = command_kind(command)
        given, setting = kwargs.get("timeout"), ""
        if given is None and self.config.timeouts.command:
            given, setting = self.config.timeouts.command, " (-T/--command-timeout)"
        if given is None:
            setting = f" (remote_timeouts.{kind})"
        seconds = given if given is not None else getattr(self.deadlines, kind)
        kwargs["timeout"] = seconds
        # invoke's timer starts only once the command runs, and closes just the channel; opening the channel and
        # starting the command wait on the server with no end. Past the deadline (and a grace) the watchdog closes
        # the whole connection, which ends every such wait: a host that is gone cannot block the run.
        gave_up = threading.Event()

        def give_up() -> None:
            gave_up.set()
            self.client.close()

        watchdog = threading.Timer(seconds + WATCHDOG_GRACE, give_up)
        watchdog.daemon = True
        watchdog.start()
        started = time.monotonic()
        try:
            result = method(command, **kwargs)
        except Exception as exc:
            # invoke's timer closes the channel, then asks whether the timer is still alive: a race that can report
            # the closed channel as exit -1 (UnexpectedExit) rather than CommandTimedOut (once in five CI runs).
            cut = isinstance(exc, UnexpectedExit) and exc.result.exited == -1 and time.monotonic() - started >= seconds
            if not (isinstance(exc, CommandTimedOut) or cut or gave_up.is_set()):
                raise
            raise self._timed_out(command, seconds, setting) from None
        finally:
            watchdog.cancel()
        if gave_up.is_set():  # warn=True: the closed channel came back as a failed result
            raise self._timed_out(command, seconds, setting)
        return result

    def _timed_out(self, command: str, seconds: float, setting: str) -> RemoteTimeout:
        what = readable(command)
        what = what if len(what) <= 200 else what[:197] + "..."
        return RemoteTimeout(f"{self.host}: `{what}` did not finish within {seconds:g} s{setting}; "
                             "the server stopped answering or the command hung")

    def run(self, command: str, **kwargs: object) -> Any:
        return self._timed(super().run, command, kwargs)

    def sudo(self, command: str, **kwargs: object) -> Any:
        return self._timed(super().sudo, command, kwargs)


def connect(host: str, user: str | None = None, key_filename: str | None = None, config: Config | None = None,
            known: KnownHosts | None = None, timeout: float = 10, forward_agent: bool | None = None,
            timeouts: Timeouts | RemoteTimeouts | None = None) -> Connection:
    """A Connection to ``host``: ``user`` unless the host says ``user@``, host keys verified (first contact recorded).

    + timeouts: the project's ``remote_timeouts`` (default: Timeouts()): per-command deadlines and keepalive
    """
    if not host:
        raise DeployError("no SSH address to connect to (the instance has no value for ec2_attr_for_ssh)")
    known = known or KnownHosts()
    # Fabric adds the config's connect_kwargs (e.g. -i identity files) to these. The TCP connect timeout is
    # Fabric's own (ssh_config's ConnectTimeout, then -t, then ours): giving it in connect_kwargs as well
    # makes Fabric refuse every connection ("Refusing to be ambiguous").
    kwargs: dict[str, Any] = {"banner_timeout": timeout, "auth_timeout": timeout}
    if key_filename:
        kwargs.update(key_filename=key_filename, look_for_keys=False)
    config = config.clone() if config is not None else Config()
    if config.timeouts.connect is None and "timeout" not in config.connect_kwargs:
        config.timeouts.connect = timeout
    config.run.in_stream = False  # remote commands never read the operator's terminal; prompts get watchers
    cxn = TimedConnection(host, user=None if "@" in host else user, config=config, connect_kwargs=kwargs,
                          forward_agent=forward_agent, timeouts=timeouts)
    cxn.client.set_missing_host_key_policy(known.policy())
    if known.path.exists():
        cxn.client.load_host_keys(str(known.path))
    return cxn


CONSOLE_GRACE = 60.0  # seconds to wait for a new instance's host keys on its console before trusting first contact
NOT_YET = (OSError, EOFError, paramiko.SSHException)  # sshd not started, refusing or resetting: look again


def wait_for_ssh(ec2: Client, instance_ids: list[str], addresses: Callable[[], dict[str, str]],
                 attempt: Callable[[str, str], str | None], known: KnownHosts, deadline: float, polling: Polling,
                 report: Callable[[str], None], grace: float = CONSOLE_GRACE, what: str = "") -> None:
    """Return once ``attempt`` succeeded on every new instance; the one wait for a just-launched server's SSH.

    Each instance's host keys are taken from its console output first (sshd may answer before cloud-init
    publishes them there); only after ``grace`` seconds without them is the first contact trusted.

    + addresses: {instance id: SSH address} as found now (an instance may not have one yet)
    + attempt: ``attempt(instance_id, address)`` connects and checks: None once ready, else why not yet;
      OSError, EOFError and SSHException mean not yet
    WaitFailed at once if a host key differs from the recorded one; WaitTimedOut after ``deadline``.
    """
    started = time.monotonic()
    recorded: set[str] = set()
    waiting = {instance_id: "no address yet" for instance_id in instance_ids}
    changed: list[str] = []

    def look() -> dict[str, str]:
        found = addresses()
        for instance_id in list(waiting):
            host = found.get(instance_id)
            if not host:
                continue
            if instance_id not in recorded and known.record_instance(ec2, instance_id, host):
                recorded.add(instance_id)  # its host keys, from its console (an address may be reused)
            if instance_id not in recorded and time.monotonic() - started < grace:
                waiting[instance_id] = "no SSH host keys on the console yet"
                continue
            try:
                why = attempt(instance_id, host)
            except paramiko.BadHostKeyException as exc:
                changed.append(f"{host}: the SSH host key differs from the one recorded: {exc}")
                continue
            except NOT_YET as exc:
                why = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line of progress
            if why is None:
                del waiting[instance_id]
            else:
                waiting[instance_id] = why
        return dict(waiting)

    wait_for(Wait(what or f"SSH on {', '.join(instance_ids)}", look, lambda left: not left,
                  lambda left: "; ".join(f"{instance_id}: {why}" for instance_id, why in sorted(left.items())),
                  failed=lambda left: changed[0] if changed else None, deadline=deadline), polling, report)

"""Log shipping from the servers (1.x's install_rsyslog, install_logstash, install_awslogs), brought up to date.

* syslog_server: Debian's/Ubuntu's rsyslog forwards every message, and the application's logs (``Paths.log_files``,
  extra_log_files included) read with imfile, over UDP as 1.x did, or TCP; a value containing ``@`` is rsyslog
  configuration, used as written (as 1.x).
* gelf_log_host: the same rsyslog sends GELF 1.1 (JSON, over UDP or NUL-delimited TCP), where 1.x ran a 2013
  logstash jar under Upstart. Both go into one rsyslog file, so each line is read once whichever task runs.
* cloudwatch_logs (or the deprecated awslogs_access_key_id): a small service on the distribution's python3-boto3
  (``fabulaws/ubuntu/logshipper.py``) tails the same files plus syslog and kern.log into the log group
  ``<deployment>-<environment>-<role>``, one stream per tag, as 1.x's (retired) awslogs agent did.

Every installer takes a connection and plain values, and returns one line for the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from ....config.schema import CloudWatchLogs
from ....errors import DeployError
from ....remote.commands import join, sudo
from ....remote.files import exists, put, render
from ....ubuntu import apt, system
from ..app import template
from ..paths import Paths

if TYPE_CHECKING:
    from fabric import Connection

    from fabulaws.config import Settings
    from fabulaws.ubuntu.packages import Node

SYSLOG_PORT = 514
GELF_PORT = 12201
SECRET_KEY = "awslogs_secret_access_key"  # the secret beside the deprecated awslogs_access_key_id (as 1.x)
SHIPPER = "fabulaws-awslogs"
SHIPPER_PROGRAM = "/usr/local/lib/fabulaws/awslogs.py"
SHIPPER_DIR = "/etc/fabulaws-awslogs"
SHIPPER_CONFIG = f"{SHIPPER_DIR}/config.json"
SHIPPER_CREDENTIALS = f"{SHIPPER_DIR}/credentials"
SHIPPER_STATE = "/var/lib/fabulaws-awslogs/positions.json"
SHIPPER_LOG = "/var/log/fabulaws-awslogs.log"
SYSTEM_LOGS = (("syslog", "/var/log/syslog"), ("kern.log", "/var/log/kern.log"))  # 1.x's awslogs streams
INTERVAL = 5  # seconds between passes: 1.x's awslogs buffer (5000 ms)


@dataclass(frozen=True)
class Endpoint:
    """Where a receiver listens, and how lines travel there."""

    host: str
    port: int
    protocol: str  # udp or tcp


def endpoint(value: str, default_port: int) -> Endpoint:
    """``host``, ``host:port`` (UDP, as 1.x), ``udp://host:port`` or ``tcp://host:port`` (the config checks the
    shape at load); ValueError for a port out of range."""
    rest, protocol = value.strip(), "udp"
    for scheme in ("udp", "tcp"):
        if rest.lower().startswith(f"{scheme}://"):
            rest, protocol = rest[len(scheme) + 3:], scheme
    host, _, port = rest.partition(":")
    number = int(port) if port else default_port
    if not 1 <= number <= 65535:
        raise ValueError(f"{value}: port {number} is not a TCP/UDP port (1-65535)")
    return Endpoint(host, number, protocol)


def rsyslog_string(value: str) -> str:
    """A RainerScript string literal of ``value`` (double-quoted, backslash and quote escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def conf_path(settings: Settings, environment: str) -> str:
    """The rsyslog file: numbered so it comes before Ubuntu's 50-default.conf (the application's lines stop here)."""
    return f"/etc/rsyslog.d/40-{settings.project}-{environment}.conf"


def shipped_files(settings: Settings, deployment: str, environment: str) -> list[tuple[str, str, str | None]]:
    """(tag, path, date format) of the application's logs and extra_log_files (1.x's ``log_files``)."""
    return Paths.for_environment(settings, deployment, environment).log_files(settings)


def rsyslog_conf(settings: Settings, deployment: str, environment: str, role: str) -> str:
    """The rsyslog configuration for syslog_server and gelf_log_host (either may be unset)."""
    raw = settings.syslog_server if settings.syslog_server and "@" in settings.syslog_server else None
    syslog = endpoint(settings.syslog_server, SYSLOG_PORT) if settings.syslog_server and not raw else None
    gelf = endpoint(settings.gelf_log_host, GELF_PORT) if settings.gelf_log_host else None
    fields = {"_environment": environment, "_deployment": deployment, "_role": role}
    quoted = rsyslog_string
    context = {
        "deployment": deployment, "environment": environment, "role": role,
        "files": [(quoted(f"{tag}:"), quoted(path)) for tag, path, _ in shipped_files(settings, deployment, environment)],
        "syslog_raw": raw,
        "syslog": syslog and {"host": quoted(syslog.host), "port": syslog.port, "protocol": syslog.protocol},
        "gelf": gelf and {"host": quoted(gelf.host), "port": gelf.port, "protocol": gelf.protocol},
        "template_name": f"fabulaws-gelf-{settings.project}-{environment}",
        # closes _facility's string, adds the fields, ends the object
        "gelf_fields": quoted('",' + json.dumps(fields)[1:]),
    }
    return render(template("rsyslog.conf"), context)


# --- rsyslog: syslog_server and gelf_log_host -------------------------------------------------------------------
def install_rsyslog(cxn: Connection, settings: Settings, deployment: str, environment: str, role: str) -> str:
    """rsyslog (installed if missing) forwarding to syslog_server and gelf_log_host; checked with ``rsyslogd -N1``
    before a restart, the previous file put back if rsyslog rejects the new one. Idempotent."""
    if not settings.syslog_server and not settings.gelf_log_host:
        raise DeployError("neither syslog_server nor gelf_log_host is set: rsyslog has nowhere to send the logs")
    if not sudo(cxn, "command -v rsyslogd", hide=True, warn=True).ok:
        _install(cxn, ["rsyslog"])
    if not exists(cxn, "/run/systemd/system") and not exists(cxn, "/etc/init.d/rsyslog"):
        _install(cxn, ["orphan-sysvinit-scripts"])  # Debian 12's rsyslog has a systemd unit only
    path = conf_path(settings, environment)
    previous = f"{path}.previous"
    had = exists(cxn, path)
    if had:
        sudo(cxn, join("cp", "-p", path, previous), hide=True)
    changed = put(cxn, rsyslog_conf(settings, deployment, environment, role), path)
    check = sudo(cxn, "rsyslogd -N1", hide=True, warn=True)
    if not check.ok:
        sudo(cxn, join("mv", previous, path) if had else join("rm", "-f", path), hide=True)
        said = [line for line in (check.stdout + check.stderr).splitlines() if "error" in line.lower()]
        raise DeployError(f"{cxn.host}: rsyslog rejects {path} (previous configuration kept): "
                          f"{(said or [check.stderr.strip() or check.stdout.strip()])[0]}")
    sudo(cxn, join("rm", "-f", previous), hide=True)
    system.enable(cxn, "rsyslog")
    running = sudo(cxn, "pidof rsyslogd", hide=True, warn=True).ok
    if changed or not running:
        system.service(cxn, "rsyslog", "restart")
    targets = [name for name, value in (("syslog", settings.syslog_server), ("GELF", settings.gelf_log_host)) if value]
    return f"rsyslog sends to {' and '.join(targets)} ({'restarted' if changed or not running else 'unchanged'})"


# --- CloudWatch Logs ---------------------------------------------------------------------------------------------
def cloudwatch(settings: Settings) -> CloudWatchLogs | None:
    """What cloudwatch_logs asks for; awslogs_access_key_id alone (1.x) means the defaults; None: not wanted."""
    value = settings.cloudwatch_logs
    if isinstance(value, CloudWatchLogs):
        return value
    return CloudWatchLogs() if value or settings.awslogs_access_key_id else None


def log_group(deployment: str, environment: str, role: str) -> str:
    return f"{deployment}-{environment}-{role}"


def shipper_config(settings: Settings, deployment: str, environment: str, role: str, region: str | None) -> dict:
    """The shipper's configuration: 1.x's awslogs sections (syslog, kern.log, every log file by tag)."""
    wanted = cloudwatch(settings) or CloudWatchLogs()
    files = [{"path": path, "tag": tag, "date_format": None} for tag, path in SYSTEM_LOGS]
    files += [{"path": path, "tag": tag, "date_format": date_format}
              for tag, path, date_format in shipped_files(settings, deployment, environment)]
    return {
        "log_group": log_group(deployment, environment, role),
        "stream": wanted.stream,
        "region": region or settings.region,
        "endpoint_url": wanted.endpoint_url,
        "credentials_file": SHIPPER_CREDENTIALS if settings.awslogs_access_key_id else None,
        "state_file": SHIPPER_STATE,
        "interval": INTERVAL,
        "files": files,
    }


def credentials_file(access_key_id: str, secret_access_key: str) -> str:
    """The deprecated key pair as an AWS shared credentials file (written root-only, 0600)."""
    return f"[default]\naws_access_key_id = {access_key_id}\naws_secret_access_key = {secret_access_key}\n"


def install_awslogs(cxn: Connection, settings: Settings, deployment: str, environment: str, role: str,
                    secret: Callable[[str], str], region: str | None = None) -> str:
    """The CloudWatch Logs shipper service: python3-boto3, the program, its configuration (and the deprecated key
    pair, root-only), then one pass in the foreground (so a missing permission or an unreachable endpoint fails
    here, with the reason), then the service. Idempotent.

    + secret: reads awslogs_secret_access_key (only with the deprecated awslogs_access_key_id)
    + region: the operator's region (None: the configured one, else the instance's own)
    """
    if cloudwatch(settings) is None:
        raise DeployError("cloudwatch_logs is not set (nor awslogs_access_key_id): nothing to ship to CloudWatch Logs")
    if not sudo(cxn, "python3 -c 'import boto3'", hide=True, warn=True).ok:
        _install(cxn, ["python3-boto3"])
    program = resources.files("fabulaws.ubuntu").joinpath("logshipper.py").read_text()
    put(cxn, program, SHIPPER_PROGRAM, mode="0755", make_dirs=True)
    config = shipper_config(settings, deployment, environment, role, region)
    put(cxn, json.dumps(config, indent=2) + "\n", SHIPPER_CONFIG, make_dirs=True)
    if settings.awslogs_access_key_id:
        put(cxn, credentials_file(settings.awslogs_access_key_id, secret(SECRET_KEY)), SHIPPER_CREDENTIALS, mode="0600")
    else:
        sudo(cxn, join("rm", "-f", SHIPPER_CREDENTIALS), hide=True)
    context = {"deployment": deployment, "environment": environment, "role": role, "program": SHIPPER_PROGRAM,
               "config": SHIPPER_CONFIG, "log_file": SHIPPER_LOG}
    systemd = exists(cxn, "/run/systemd/system")
    if systemd:
        put(cxn, render(template(f"{SHIPPER}.service"), context), f"/etc/systemd/system/{SHIPPER}.service")
        sudo(cxn, "systemctl daemon-reload", hide=True)
    else:
        put(cxn, render(template(f"{SHIPPER}.init"), context), f"/etc/init.d/{SHIPPER}", mode="0755")
    system.service(cxn, SHIPPER, "stop", warn=True)
    once = sudo(cxn, join("/usr/bin/python3", SHIPPER_PROGRAM, "--once", SHIPPER_CONFIG), hide=True, warn=True)
    if not once.ok:
        last = (once.stderr.strip() or once.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise DeployError(f"{cxn.host}: cannot ship to CloudWatch Logs group {config['log_group']}: {last[0]} "
                          f"(credentials: {'awslogs_access_key_id' if settings.awslogs_access_key_id else 'the instance role'})")
    system.enable(cxn, SHIPPER)
    system.service(cxn, SHIPPER, "start")
    return f"{SHIPPER} ships {len(config['files'])} log paths to CloudWatch Logs group {config['log_group']}"


def _install(cxn: Connection, packages: list[str]) -> None:
    """apt-get install, after an update if the package lists are stale (a server created days ago)."""
    try:
        apt.install(cxn, packages)
    except Exception:  # noqa: BLE001 - retried once with fresh lists; a second failure goes up
        apt.update(cxn)
        apt.install(cxn, packages)


# --- new servers (servers/post_setup.py) --------------------------------------------------------------------------
def secrets_needed(settings: Settings) -> list[str]:
    """The secrets the installers read (loaded before any server is launched)."""
    return [SECRET_KEY] if settings.awslogs_access_key_id else []


def configured(settings: Settings) -> list[tuple[str, Callable[[Node], str]]]:
    """The shippers ``settings`` asks for, as 1.x's ``_new`` installed them on a new server: (name, step(node))."""
    steps: list[tuple[str, Callable[[Node], str]]] = []
    if settings.gelf_log_host or settings.syslog_server:
        names = " and ".join(n for n, v in (("GELF", settings.gelf_log_host), ("syslog", settings.syslog_server)) if v)
        steps.append((f"rsyslog ({names})", lambda node: install_rsyslog(
            node.cxn, node.settings, node.deployment, node.environment, node.role)))
    if cloudwatch(settings) is not None:
        steps.append(("CloudWatch Logs shipper", lambda node: install_awslogs(
            node.cxn, node.settings, node.deployment, node.environment, node.role, node.secret)))
    return steps


__all__ = ["configured", "install_awslogs", "install_rsyslog", "secrets_needed"]

"""Monitoring agents on any server: New Relic's infrastructure agent and munin-node.

Changes from 1.x, all deliberate:

* New Relic's apt key goes to ``/etc/apt/keyrings`` and only its own source
  trusts it (``signed-by=``); 1.x added it to apt's global keyring with
  ``apt-key``, which trusted it for every repository and is gone from current
  Debian and Ubuntu;
* ``/etc/newrelic-infra.yml`` holds the license key, so it is root's, mode
  0600, and travels over SFTP (1.x left it world-readable);
* munin-node answers only the environment's own networks (its VPC's CIDR
  blocks), not every private range as 1.x allowed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...errors import DeployError
from ...remote.commands import join, sudo
from ...remote.files import put
from .. import apt
from ..system import await_listening, enable, service

if TYPE_CHECKING:
    from fabric import Connection

NEWRELIC = apt.SignedRepository(
    name="newrelic-infra", title="New Relic",
    key_url="https://download.newrelic.com/infrastructure_agent/gpg/newrelic-infra.gpg",
    url="https://download.newrelic.com/infrastructure_agent/linux/apt/",
)
NEWRELIC_KEYRING = NEWRELIC.keyring
NEWRELIC_SOURCE = NEWRELIC.source
NEWRELIC_CONF = "/etc/newrelic-infra.yml"
NEWRELIC_SERVICE = "newrelic-infra"

MUNIN_PACKAGES = ("munin-node", "munin-plugins-extra", "libdbd-pg-perl")
MUNIN_CONF = "/etc/munin/munin-node.conf"
MUNIN_PORT = 4949
MUNIN_START_TIMEOUT = 120  # seconds munin-node may take to listen after its start (it loads every plugin first)
MUNIN_MARKER = "# FabulAWS: the networks munin-node answers (install_munin)"
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")  # what 1.x allowed, the fallback


# --- New Relic infrastructure agent ---------------------------------------------------------------------
def newrelic_source_line(codename: str, architecture: str) -> str:
    """The apt source for New Relic's repository, trusting its key for that source only."""
    return NEWRELIC.source_line(codename, architecture)


def camel(value: str) -> str:
    """1.x's custom attribute form: title-cased, hyphens removed (``db-primary`` -> ``DbPrimary``)."""
    return value.title().replace("-", "").replace("_", "")


def newrelic_infra_yml(license_key: str, deployment: str, environment: str, role: str) -> str:
    """The agent's configuration: the license key and 1.x's custom attributes."""
    return (
        "# Managed by FabulAWS (upload_newrelic_infrastructure_conf).\n"
        f"license_key: {_yaml_string(license_key)}\n"
        "custom_attributes:\n"
        f"  environment: {_yaml_string(environment.title())}\n"
        f"  role: {_yaml_string(camel(role))}\n"
        f"  deployment: {_yaml_string(camel(deployment))}\n"
    )


def _yaml_string(value: str) -> str:
    """A double-quoted YAML scalar (any license key or name stays intact)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def newrelic_installed(cxn: Connection) -> bool:
    status = sudo(cxn, join("dpkg-query", "-W", "-f=${Status}", "newrelic-infra"), hide=True, warn=True)
    return status.ok and "install ok installed" in status.stdout


def upload_newrelic_infra_conf(cxn: Connection, text: str) -> str:
    """Write /etc/newrelic-infra.yml (root, 0600); restart the agent if it is installed and the file changed."""
    changed = put(cxn, text, NEWRELIC_CONF, owner="root", mode="0600")
    if not newrelic_installed(cxn):
        return f"{NEWRELIC_CONF} {'written' if changed else 'unchanged'} (agent not installed: nothing restarted)"
    if changed:
        service(cxn, NEWRELIC_SERVICE, "restart")
    return f"{NEWRELIC_CONF} {'written, agent restarted' if changed else 'unchanged'}"


def add_newrelic_repository(cxn: Connection) -> str:
    """New Relic's key into /etc/apt/keyrings, then its source (key first: a failed download leaves apt as it was)."""
    return apt.add_signed_repository(cxn, NEWRELIC)


def install_newrelic_infra(cxn: Connection, conf_text: str) -> str:
    """The agent from New Relic's repository, then its configuration (1.x install_newrelic_infrastructure_agent)."""
    add_newrelic_repository(cxn)
    apt.update(cxn)
    apt.install(cxn, ["newrelic-infra"])
    enable(cxn, NEWRELIC_SERVICE)
    return upload_newrelic_infra_conf(cxn, conf_text)


# --- munin-node ---------------------------------------------------------------------------------------------
def munin_node_conf(current: str, networks: list[str]) -> str:
    """``current`` with FabulAWS's ``cidr_allow`` lines replaced by one per network (re-running changes nothing)."""
    kept = [line for line in current.splitlines() if not line.startswith("cidr_allow ") and line != MUNIN_MARKER]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept + ["", MUNIN_MARKER] + [f"cidr_allow {network}" for network in networks]) + "\n"


def install_munin(cxn: Connection, networks: list[str]) -> str:
    """Debian's munin-node answering only ``networks`` (and localhost), restarted (1.x install_munin)."""
    if not networks:
        raise DeployError(f"{cxn.host}: install_munin: no network to allow")
    apt.install(cxn, list(MUNIN_PACKAGES))
    current = sudo(cxn, join("cat", MUNIN_CONF), hide=True).stdout
    put(cxn, munin_node_conf(current, networks), MUNIN_CONF)
    enable(cxn, "munin-node")
    # its init script gives up after 15 s on a busy server while the daemon still comes up: judge by the port
    service(cxn, "munin-node", "restart", warn=True)
    await_listening(cxn, "munin-node", "", MUNIN_PORT, timeout=MUNIN_START_TIMEOUT)
    return f"munin-node answers {', '.join(networks)} on port {MUNIN_PORT}"

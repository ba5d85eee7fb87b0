"""The provisioning digest: what shapes a server before the application's code, as one hash.

An image baked from the base image records it (image tags); the next deploy may start from that image instead of
the base image only while the digest is the same (deploy/bake.py decides). Anything ``NewServer.create`` reads
belongs here; what a deploy redoes on every server (code, requirements, local settings, supervisor and nginx
configuration, static files) does not.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ....ubuntu import users
from . import roles

if TYPE_CHECKING:
    from fabulaws.config import Settings

# Bump when a provisioning step (servers/provision.py, ubuntu/, servers/post_setup.py, bootstrap) changes what it
# does to a server: every image baked before is then rebuilt from the base image once.
PROVISION_VERSION = 1

# Settings read while a server is provisioned (users, Node.js, post-setup steps), by name.
SERVER_KEYS = ("python", "deploy_user", "webserver_user", "home", "node_version", "less_version", "munin_node",
               "newrelic_infrastructure_agent", "syslog_server", "gelf_log_host", "cloudwatch_logs",
               "awslogs_access_key_id", "extra_log_files")
ROLE_KEYS = ("instance_types", "volume_sizes", "volume_types")  # memory sizes swap; the data volume is in the image


def provision_inputs(settings: Settings, environment: str, role: str = "web",
                     post_bootstrap: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The provisioning inputs of a ``role`` server of ``environment``, as plain JSON-able data. Read-only."""
    instance = settings.instance_settings.model_dump(mode="json", exclude={"key_prefix"})
    return {
        "provisioning": PROVISION_VERSION,
        "role": role,
        "packages": {c.name: list(c.package_list(settings)) for c in roles.components(role)},
        **{key: _plain(getattr(settings, key)) for key in SERVER_KEYS},
        **{key: _plain(settings.role_setting(key, environment, role)) for key in ROLE_KEYS},
        "instance_settings": instance,
        "newrelic_license": "newrelic_license_key" in settings.password_names,
        "sysadmins": _sysadmins(settings),
        "post_bootstrap": _source_hash(post_bootstrap),
    }


def provision_digest(settings: Settings, environment: str, role: str = "web",
                     post_bootstrap: Callable[..., Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(digest, inputs): the sha256 of the inputs' canonical JSON, and the inputs themselves (readable)."""
    inputs = provision_inputs(settings, environment, role, post_bootstrap)
    return hash_of(inputs), inputs


def hash_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _plain(value: Any) -> Any:
    """Settings values as JSON data (pydantic models dumped, paths as strings)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str))


def _sysadmins(settings: Settings) -> str | None:
    """A hash of the sysadmins' names, keys and GECOS (their accounts are made once, in the image)."""
    if settings.ssh_keys is None or not settings.ssh_keys.is_dir():
        return None
    return hash_of([[a.name, a.keys, a.gecos] for a in users.read_sysadmins(settings.ssh_keys)])


def _source_hash(hook: Callable[..., Any] | None) -> str | None:
    """The fabfile's post_bootstrap hook by its source (it runs once, on a server baked from the base image)."""
    if hook is None:
        return None
    target = getattr(hook, "body", hook)  # an invoke Task wraps the function
    try:
        return hash_of(inspect.getsource(target))
    except (OSError, TypeError):
        return hash_of(getattr(target, "__qualname__", repr(target)))

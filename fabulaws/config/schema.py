"""The shape of fabulaws-config.yml: every key 1.x read, with its type and default.

Types and unknown keys are checked here (pydantic); names that refer to other
keys (environments, roles, deployments) are checked in ``references.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from ..errors import ConfigError
from .maps import find
from .yamlsource import YamlSource

# Keys the 1.x sample carried that 1.x never read (or that we no longer honour):
# removed before validation, with a one-line warning, so 1.x files keep loading.
DEPRECATED_TOP_LEVEL = {
    "database_host": "1.x never used it; remove it",
    "logstash_config": "1.x never used it; remove it",
    "disable_known_hosts": "host keys are always verified now (recorded on first contact); remove it",
    "log_host": "use gelf_log_host instead (its value is used for gelf_log_host)",
}
DEPRECATED_INSTANCE_SETTINGS = {
    "secure_root": "1.x never used it; remove it (the data volume mounts at app_root)",
    "secure_home": "1.x never used it; remove it",
    "run_upgrade": "1.x never used it; remove it",
}
# instance_settings keys that collided with role settings in 1.x (a TypeError there).
MISPLACED_INSTANCE_SETTINGS = {
    "instance_type": "instance_types",
    "volume_size": "volume_sizes",
    "volume_type": "volume_types",
    "security_groups": "security_groups",
    "deploy_user": "deploy_user",
    "deploy_user_home": "home",
}

SSH_ATTRIBUTES = {
    # 1.x (boto 2) attribute name -> boto3 DescribeInstances field
    "public_dns_name": "PublicDnsName",
    "dns_name": "PublicDnsName",
    "private_dns_name": "PrivateDnsName",
    "ip_address": "PublicIpAddress",
    "public_ip_address": "PublicIpAddress",
    "private_ip_address": "PrivateIpAddress",
}


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a TCP port from 1 to 65535, got {value}")
    return value


def _scalar(value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
        raise ValueError(f"expected a string, number or boolean, got {kind}")
    return value


Port = Annotated[int, AfterValidator(_port)]
Scalar = Annotated[str | int | float | bool, BeforeValidator(_scalar)]


class Model(BaseModel):
    """Strict about unknown keys; lax about YAML scalars ('80' is a fine port)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class InstanceSettings(Model):
    """Settings every role's EC2 instance is built with (1.x ``instance_settings``)."""

    ami: str
    key_prefix: str = ""
    admin_groups: list[str] = ["sudo"]
    app_root: str = "/secure"
    fs_type: str = "ext4"
    fs_encrypt: bool = False
    ebs_encrypt: bool = False
    ubuntu_mirror: str | None = None
    swap_multiplier: float | None = Field(default=None, ge=0)


class DbSettings(Model):
    """PostgreSQL server settings (1.x ``db_settings``), defaulted before any use."""

    postgresql_packages: list[str] = ["postgresql", "libpq-dev"]
    postgresql_tune: bool = False
    postgresql_tune_type: str = "Web"
    postgresql_shmmax: int = Field(default=107374182400, ge=0)
    postgresql_shmall: int = Field(default=26214400, ge=0)
    postgresql_networks: list[str] = ["10.0.0.0/8", "172.16.0.0/12"]
    postgresql_disable_oom: bool = False
    postgresql_settings: dict[str, Scalar] = {}

    @field_validator("postgresql_networks")
    @classmethod
    def _networks_are_cidrs(cls, networks: list[str]) -> list[str]:
        import ipaddress

        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"expected a network in CIDR form such as 10.0.0.0/8, got {network!r}") from None
        return networks


class SecretsSettings(Model):
    """Where secrets come from: fabsecrets_<env>.py files, environment variables, or SSM Parameter Store."""

    store: Literal["file", "environment", "ssm"] = "file"
    ssm_prefix: str = "/fabulaws/{deployment}/{environment}/"


class ExtraLogFile(Model):
    tag: str
    date_format: str | None = None


class Settings(Model):
    """A validated fabulaws-config.yml. Read-only by convention; tasks never mutate it."""

    # --- environments, roles, deployments -------------------------------------------
    valid_roles: list[str] = Field(min_length=1)
    default_deployment: str
    deployments: list[str] = Field(min_length=1)
    environments: list[str] = Field(min_length=1)
    production_environments: list[str] = ["production"]

    # --- AWS -------------------------------------------------------------------------
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    aws_profile: str | None = None
    avail_zones: list[str] = Field(min_length=1)
    subnets: dict[str, str] | None = None
    ec2_attr_for_ssh: Literal[tuple(SSH_ATTRIBUTES)] = "public_dns_name"  # type: ignore[valid-type]
    security_groups: dict[str, Any]
    instance_types: dict[str, Any]
    volume_sizes: dict[str, Any]
    volume_types: dict[str, Any]
    load_balancers: dict[str, Any] = {}
    target_groups: dict[str, Any] = {}
    auto_scaling_groups: dict[str, Any] = {}
    cloudfront_distribution_ids: dict[str, Any] = {}
    newrelic_deployments_url: str = "https://api.newrelic.com/deployments.xml"
    instance_settings: InstanceSettings

    # --- servers and the application --------------------------------------------------
    deploy_user: str
    webserver_user: str
    home: str
    python: str = "/usr/bin/python3"
    project: str
    wsgi_app: str
    celery_application: str | None = None
    celery_workers: dict[str, str] = {}
    settings_managepy: str | None = None
    requirements_file: str = "requirements.txt"
    requirements_sdists: str | None = None
    repo: str
    vcs_cmd: str = "git"
    latest_changeset_cmd: str = "git rev-parse HEAD"
    branches: dict[str, Any]
    server_ports: dict[str, Port]
    site_domains_map: dict[str, list[str]]
    password_names: list[str] = []
    secrets: SecretsSettings = SecretsSettings()
    ssh_keys: Path | None = None
    localsettings_template: Path | None = None
    local_settings_py_relative_path: str = "local_settings.py"
    static_html: dict[str, Path] | None = None
    app_server_packages: list[str] = []
    pgbouncer_port: Port = 5432
    db_settings: DbSettings = DbSettings()
    database_user: str
    backup_key_fingerprint: str | None = None
    gunicorn_timeout: int = Field(default=30, ge=1)
    gunicorn_worker_class: str = "sync"
    gunicorn_worker_multiplier: int = Field(default=4, ge=1)
    node_version: str | None = None
    less_version: str | None = None
    static_hosting: Literal["local", "remote"] = "remote"
    use_basic_auth: dict[str, bool] = {}
    extra_log_files: dict[str, ExtraLogFile] = {}
    gelf_log_host: str | None = None
    syslog_server: str | None = None
    awslogs_access_key_id: str | None = None

    _source: Path = PrivateAttr(default=Path("fabulaws-config.yml"))
    _origin: YamlSource | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("gelf_log_host", "syslog_server", "awslogs_access_key_id", mode="before")
    @classmethod
    def _false_means_unset(cls, value: Any) -> Any:
        # 1.x documented `false` as "not configured" for these.
        return None if value is False else value

    @property
    def source(self) -> Path:
        """The file these settings were read from (its directory anchors relative paths)."""
        return self._source

    @property
    def origin(self) -> YamlSource:
        """The parsed file, for error messages that cite a line."""
        return self._origin or YamlSource(self._source, None)

    @property
    def warnings(self) -> list[str]:
        """Deprecation warnings found while loading, one line each."""
        return list(self._warnings)

    @property
    def ssh_attribute(self) -> str:
        """The DescribeInstances field used as the SSH host (``ec2_attr_for_ssh``)."""
        return SSH_ATTRIBUTES[self.ec2_attr_for_ssh]

    def is_production(self, environment: str) -> bool:
        return environment in self.production_environments

    def error(self, path: tuple, message: str) -> ConfigError:
        """A ConfigError pointing at ``path`` in this file (with its line when known)."""
        return self.origin.error(path, message)

    def role_setting(self, key: str, environment: str, role: str) -> Any:
        """``instance_types`` & co. for (environment, role), by the 1.x lookup rule."""
        return find(self.origin, getattr(self, key), key, environment, role)

    def deployment_setting(self, key: str, deployment: str, environment: str, default: Any = ...) -> Any:
        """``branches`` & co. for (deployment, environment); ``default`` if the map has neither key."""
        mapping = getattr(self, key)
        if default is not ... and deployment not in mapping and environment not in mapping:
            return default
        return find(self.origin, mapping, key, deployment, environment)

    def environment_setting(self, key: str, environment: str, default: Any = ...) -> Any:
        """``server_ports`` & co.: a map keyed by environment name."""
        mapping = getattr(self, key)
        if environment in mapping:
            return mapping[environment]
        if default is not ...:
            return default
        raise self.error((key,), f"no entry for environment {environment!r} (expected {key}.{environment})")

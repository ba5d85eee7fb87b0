"""The shape of fabulaws-config.yml: every key 1.x read, with its type and default.

Types and unknown keys are checked here (pydantic); names that refer to other
keys (environments, roles, deployments) are checked in ``checks.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import WithJsonSchema

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
# A key still read, with a warning: access keys on every server, where an instance role needs none.
AWSLOGS_KEYS = ("give the servers an instance role allowed to write CloudWatch Logs and set cloudwatch_logs: true "
                "instead (the key pair is written to every server; docs/migration.rst)")
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


def _scalar(value: object) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else repr(value)
        raise ValueError(f"expected a string, number or boolean, got {kind}")
    return value


Port = Annotated[int, AfterValidator(_port), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")]
Scalar = Annotated[str | int | float | bool, BeforeValidator(_scalar)]


class Model(BaseModel):
    """Strict about unknown keys; lax about YAML scalars ('80' is a fine port)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def doc(text: str) -> str:
    """A key's description: shown by editors (``fabulaws schema``) and in docs/configuration.rst."""
    return " ".join(text.split())


class InstanceSettings(Model):
    """Settings every server's EC2 instance is built with (1.x ``instance_settings``)."""

    ami: str = Field(description=doc("Image (ami-...) new servers boot from. Required."))
    key_prefix: str = Field(default="", description=doc("Prefix of the temporary key pairs used while creating servers."))
    admin_groups: list[str] = Field(default=["sudo"], description=doc("Unix groups every sysadmin user joins."))
    app_root: str = Field(default="/secure", description=doc("Mount point of the data volume."))
    fs_type: str = Field(default="ext4", description=doc("File system of the data volume."))
    fs_encrypt: bool | Literal["ebs", "luks"] = Field(
        default=False,
        description=doc(
            "How the data volume is encrypted. false: not at all; true or ebs: EBS encryption (AWS encrypts the "
            "volume with a KMS key; nothing to unlock at boot); luks: 1.x's LUKS inside the volume (passphrase: "
            "the luks_passphrase secret; after a reboot mount_encrypted unlocks it). 1.x's true meant LUKS: a "
            "configuration saying true gets a warning."
        ),
    )
    ebs_encrypt: bool = Field(
        default=False,
        description=doc("Ask EBS to encrypt the data volume (implied by fs_encrypt: true or ebs; with luks: both)."),
    )
    ebs_kms_key_id: str | None = Field(
        default=None,
        description=doc(
            "KMS key (key id, key ARN, alias/<name> or alias ARN) EBS encrypts the data volume with; setting it "
            "implies EBS encryption. Default: the account's default EBS key (aws/ebs)."
        ),
    )
    ubuntu_mirror: str | None = Field(
        default=None,
        description=doc("apt mirror replacing <region>.ec2.archive.ubuntu.com; may contain {region}. Default: none."),
    )
    swap_multiplier: float | None = Field(
        default=None, ge=0,
        description=doc("Swap size as a multiple of RAM. Default: the role's own (worker 4, web 0, others 1)."),
    )

    @field_validator("fs_encrypt", mode="before")
    @classmethod
    def _true_is_ebs(cls, value: object) -> bool | str:
        """true is EBS encryption now (the loader warns about it): one spelling per meaning after loading."""
        if value is True or value == "ebs":
            return "ebs"
        if value is False or value == "luks":
            return value
        raise ValueError(f"expected false, true, ebs or luks, got {value!r}")

    @property
    def luks(self) -> bool:
        """The data volume is LUKS-encrypted (a passphrase at format time and after every boot)."""
        return self.fs_encrypt == "luks"

    @property
    def ebs_encrypted(self) -> bool:
        """CreateVolume asks for EBS encryption (fs_encrypt: ebs, ebs_encrypt or a KMS key id)."""
        return self.fs_encrypt == "ebs" or self.ebs_encrypt or bool(self.ebs_kms_key_id)


class DbSettings(Model):
    """PostgreSQL server settings (1.x ``db_settings``), defaulted before any use."""

    postgresql_packages: list[str] = Field(
        default=["postgresql", "libpq-dev"], description=doc("apt packages installed on database servers.")
    )
    postgresql_tune: bool = Field(
        default=False,
        description=doc(
            "Size connections and memory as pgtune did for postgresql_tune_type (computed here: pgtune is no "
            "longer packaged); false: FabulAWS's memory-derived defaults."
        ),
    )
    postgresql_tune_type: Literal["Web", "OLTP", "DW", "Mixed", "Desktop"] = Field(
        default="Web",
        description=doc("pgtune's workload type for postgresql_tune: connections and memory are sized for it."),
    )
    postgresql_shmmax: int = Field(default=107374182400, ge=0, description=doc("kernel.shmmax (bytes) on database servers."))
    postgresql_shmall: int = Field(default=26214400, ge=0, description=doc("kernel.shmall (pages) on database servers."))
    postgresql_networks: list[str] | None = Field(
        default=None,
        description=doc(
            "Networks (CIDR) whose clients may connect to PostgreSQL and replicate (TLS and a password). Default: "
            "the CIDR blocks of the database server's VPC, discovered (1.x: 10.0.0.0/8 and 172.16.0.0/12)."
        ),
    )
    postgresql_disable_oom: bool = Field(
        default=False, description=doc("Set vm.overcommit_memory = 2 (no overcommit, so no OOM killer) on database servers.")
    )
    postgresql_settings: dict[str, Scalar] = Field(
        default={}, description=doc("Any postgresql.conf setting, merged over FabulAWS's defaults.")
    )

    @field_validator("postgresql_networks")
    @classmethod
    def _networks_are_cidrs(cls, networks: list[str] | None) -> list[str] | None:
        import ipaddress

        for network in networks or []:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"expected a network in CIDR form such as 10.0.0.0/8, got {network!r}") from None
        return networks


class SecretsSettings(Model):
    """Where secrets come from: fabsecrets_<env>.py files, environment variables, or SSM Parameter Store."""

    store: Literal["file", "environment", "ssm"] = Field(
        default="file",
        description=doc(
            "file: fabsecrets_<environment>.py beside the configuration file; environment: variables "
            "FABULAWS_SECRET_<NAME>; ssm: SSM Parameter Store SecureString parameters <ssm_prefix><name>."
        ),
    )
    ssm_prefix: str = Field(
        default="/fabulaws/{deployment}/{environment}/",
        description=doc("Prefix of the SSM parameter names; {deployment} and {environment} are filled in."),
    )


class ExtraLogFile(Model):
    """One extra log file shipped to the log host."""

    tag: str = Field(description=doc("Tag of the file's lines at the log host (syslog tag, CloudWatch stream). Required."))
    date_format: str | None = Field(
        default=None,
        description=doc("strftime format of the date a line starts with: CloudWatch Logs files the line at that date "
                        "(else at the time it is read). Default: none."),
    )


# syslog_server / gelf_log_host: "host", "host:port", "udp://host:port" or "tcp://host:port" (servers/logs.py)
LOG_ENDPOINT = r"^(?:(?:udp|tcp)://)?[A-Za-z0-9_.-]+(?::\d{1,5})?$"


def _log_endpoint(value: str | None, raw_allowed: bool = False) -> str | None:
    import re

    if value is None or (raw_allowed and "@" in value) or re.match(LOG_ENDPOINT, value.strip()):
        return value
    raise ValueError("expected host, host:port, udp://host:port or tcp://host:port"
                     + (", or an rsyslog block containing @" if raw_allowed else ""))


class CloudWatchLogs(Model):
    """Where install_awslogs ships the servers' logs (1.x's awslogs agent's successor)."""

    endpoint_url: str | None = Field(
        default=None,
        description=doc("CloudWatch Logs endpoint the servers use (a VPC endpoint without private DNS, a local "
                        "emulator). Default: the region's."),
    )
    stream: str = Field(
        default="{tag}",
        description=doc("Log stream name: {tag} (a file's tag, as 1.x), {instance_id} and {hostname} are filled in."),
    )


class RemoteTimeouts(Model):
    """How long a remote command may take (seconds), by kind, and how often SSH sends a keepalive."""

    command: float = Field(default=1800, gt=0, description=doc("Any remote command not listed below."))
    packages: float = Field(
        default=3600, gt=0, description=doc("Package installs: pip install, apt-get, npm install, python -m venv.")
    )
    migrate: float = Field(default=7200, gt=0, description=doc("manage.py migrate."))
    keepalive: float = Field(
        default=15, ge=0, description=doc("Seconds between SSH keepalive messages (0: none).")
    )


ROLE_MAP = "Role map (environment -> role -> value, or role -> value)"
DEPLOYMENT_MAP = "Deployment map (deployment -> environment -> value, or environment -> value)"


class Settings(Model):
    """A validated fabulaws-config.yml. Read-only by convention; tasks never mutate it."""

    # --- environments, roles, deployments -------------------------------------------
    valid_roles: list[str] = Field(
        min_length=1,
        description=doc(
            "Server roles (the role tag). Required. Known roles: cache, db-primary, db-replica, web, worker "
            "and combo (db-primary + web + worker on one server)."
        ),
    )
    default_deployment: str = Field(
        description=doc("Deployment used by environment tasks when none is given (fabulaws testing ...). Required.")
    )
    deployments: list[str] = Field(
        min_length=1, description=doc("Every deployment (the deployment tag on servers). Required, non-empty.")
    )
    environments: list[str] = Field(
        min_length=1,
        description=doc("Every environment; each gets an environment task of the same name. Required, non-empty."),
    )
    production_environments: list[str] = Field(
        default=["production"], description=doc("Environments that ask for confirmation (answer=y skips it).")
    )

    # --- AWS -------------------------------------------------------------------------
    region: Region | None = Field(
        default=None,
        description=doc(
            "Region for every AWS call, unless --region, AWS_REGION or AWS_DEFAULT_REGION is given; "
            "without it, the AWS profile's region. Default: none."
        ),
    )
    aws_profile: str | None = Field(
        default=None,
        description=doc(
            "Named profile of ~/.aws/config, unless --profile or AWS_PROFILE is given. "
            "Default: none (boto3's standard credential chain)."
        ),
    )
    avail_zones: list[str] = Field(
        min_length=1, description=doc("Availability zones, by letter (a) or full name (us-east-1a). Required.")
    )
    subnets: dict[str, str] | None = Field(
        default=None,
        description=doc(
            "Subnets by zone letter or full zone name; a value is a subnet id or a subnet's Name tag. "
            "Default: the default subnet of each zone."
        ),
    )
    ec2_attr_for_ssh: Literal[tuple(SSH_ATTRIBUTES)] = Field(  # type: ignore[valid-type]
        default="public_dns_name", description=doc("Instance field used as the SSH host.")
    )
    security_groups: dict[str, Any] = Field(
        description=doc(f"{ROLE_MAP} of security groups (names or sg- ids). Required.")
    )
    instance_types: dict[str, Any] = Field(
        description=doc(f"{ROLE_MAP} of EC2 instance types. Required. The launch template uses the web type.")
    )
    volume_sizes: dict[str, Any] = Field(description=doc(f"{ROLE_MAP} of data volume sizes (GB). Required."))
    volume_types: dict[str, Any] = Field(description=doc(f"{ROLE_MAP} of data volume types (gp3...). Required."))
    load_balancers: dict[str, Any] = Field(
        default={}, description=doc(f"{DEPLOYMENT_MAP} of classic ELB names (lists). Default: none.")
    )
    target_groups: dict[str, Any] = Field(
        default={}, description=doc(f"{DEPLOYMENT_MAP} of ELBv2 target group names (lists). Default: none.")
    )
    auto_scaling_groups: dict[str, Any] = Field(
        default={}, description=doc(f"{DEPLOYMENT_MAP} of the web Auto Scaling group's name.")
    )
    cloudfront_distribution_ids: dict[str, Any] = Field(
        default={},
        description=doc(f"{DEPLOYMENT_MAP} of CloudFront distribution ids invalidated after collectstatic. Default: none."),
    )
    newrelic_deployments_url: str = Field(
        default="https://api.newrelic.com/deployments.xml",
        description=doc("Where flag_deployment posts New Relic deployment markers (with newrelic_api_key among password_names)."),
    )
    newrelic_infrastructure_agent: bool = Field(
        default=True,
        description=doc(
            "New servers get New Relic's infrastructure agent when newrelic_license_key is among password_names "
            "(as in 1.x); false: never."
        ),
    )
    munin_node: bool = Field(
        default=False,
        description=doc(
            "New servers get munin-node, answering the environment's VPC only (1.x always installed it). "
            "Default: false."
        ),
    )
    instance_settings: InstanceSettings = Field(description=doc("Settings for every server's EC2 instance. Required."))
    remote_timeouts: RemoteTimeouts = Field(
        default=RemoteTimeouts(),
        description=doc(
            "Deadlines of remote commands by kind, so a vanished server or a hung command fails the step "
            "(naming the server and the command) instead of blocking the run; and the SSH keepalive."
        ),
    )

    # --- servers and the application --------------------------------------------------
    deploy_user: str = Field(description=doc("Owner of the code, configuration and virtualenv. Required."))
    webserver_user: str = Field(description=doc("Runs gunicorn, celery, pgbouncer and manage.py. Required."))
    home: str = Field(description=doc("The deploy user's home: root of every derived path. Required."))
    python: str = Field(default="/usr/bin/python3", description=doc("Interpreter of the virtualenv."))
    project: str = Field(description=doc("Project name: paths, database name, vhost, file names. Required."))
    wsgi_app: str = Field(description=doc("Gunicorn application (module:callable). Required."))
    celery_application: str | None = Field(default=None, description=doc("Celery --app. Default: the project name."))
    celery_workers: dict[str, str] = Field(
        default={}, description=doc("Celery workers: name -> extra command-line options. Default: none.")
    )
    settings_managepy: str | None = Field(
        default=None, description=doc("DJANGO_SETTINGS_MODULE for manage.py and the services. Default: none.")
    )
    requirements_file: str = Field(
        default="requirements.txt", description=doc("Requirements file, relative to the checkout.")
    )
    requirements_sdists: str | None = Field(
        default=None, description=doc("Directory of source distributions installed with --no-index. Default: none.")
    )
    repo: str = Field(description=doc("Repository URL. Required."))
    vcs_cmd: str = Field(default="git", description=doc("The git command (Mercurial, which 1.x also ran, is refused)."))
    latest_changeset_cmd: str = Field(default="git rev-parse HEAD", description=doc("Prints the deployed changeset."))
    repo_deploy_key: str | None = Field(
        default=None,
        description=doc(
            "Name of the secret holding a private SSH key git uses to reach repo (a deploy key, e.g. for CI); it is on "
            "a server only while git runs. Default: none (the operator's SSH agent is forwarded to git)."
        ),
    )
    repo_host_keys: list[str] = Field(
        default=[],
        description=doc(
            "known_hosts lines of repo's SSH server (ssh-keyscan HOST, checked); git refuses any other key. "
            "Default: none (the deploy user's known_hosts)."
        ),
    )
    branches: dict[str, Any] = Field(description=doc(f"{DEPLOYMENT_MAP} of the branch each environment deploys. Required."))
    # Environment-keyed values are checked per environment (config/environments.py), not here: a bad value
    # under an environment nobody works on is a warning, so these are typed for editors only (json_schema_extra).
    server_ports: dict[str, Any] = Field(
        json_schema_extra={"additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535}},
        description=doc("Gunicorn port per environment. Required."),
    )
    site_domains_map: dict[str, Any] = Field(
        json_schema_extra={"additionalProperties": {"type": "array", "items": {"type": "string"}}},
        description=doc('Site domains per environment (at least one each); ".example.com" matches one label. Required.')
    )
    password_names: list[str] = Field(
        default=[],
        description=doc(
            "Names of the secrets (variables of fabsecrets_<env>.py, files on servers). Optional ones switch "
            "features on: newrelic_license_key, newrelic_api_key, basic_auth_username and basic_auth_password. "
            "Default: none."
        ),
    )
    secrets: SecretsSettings = Field(
        default=SecretsSettings(),
        description=doc("Where secrets come from (then the server's copy, then a prompt when there is a terminal)."),
    )
    ssh_keys: Path | None = Field(
        default=None,
        description=doc("Directory of sysadmin public keys: one file per user, optional <user>.gecos. Default: none."),
    )
    localsettings_template: Path | None = Field(
        default=None, description=doc("Jinja template rendered to the local settings. Default: none.")
    )
    local_settings_py_relative_path: str = Field(
        default="local_settings.py", description=doc("Local settings file, relative to the project directory.")
    )
    static_html: dict[str, Path] | None = Field(
        default=None,
        description=doc(
            "Maintenance files: upgrade_message (a file named 503.html) and healthcheck_override "
            "(a file named healthcheck.html). Default: none."
        ),
    )
    app_server_packages: list[str] = Field(
        default=[], description=doc("Extra apt packages for web and worker servers. Default: none.")
    )
    pgbouncer_port: Port = Field(default=5432, description=doc("pgbouncer's local port."))
    db_settings: DbSettings = Field(default=DbSettings(), description=doc("PostgreSQL servers. Every key is optional."))
    database_user: str = Field(description=doc("Owner of the application database. Required."))
    backup_key_fingerprint: str | None = Field(
        default=None,
        description=doc("GPG key (fingerprint) dbbackup encrypts backups to on the operator's machine, before upload; "
                        "dbrestore decrypts with the operator's own secret key. Default: none (S3 encryption only)."),
    )
    backup_bucket: str | None = Field(
        default=None,
        description=doc("S3 bucket for dbbackup, which must exist. Default: the state bucket (created on first use)."),
    )
    backup_kms_key_id: str | None = Field(
        default=None,
        description=doc("KMS key (id, ARN or alias) S3 encrypts backups with. Default: the account's aws/s3 key."),
    )
    gunicorn_timeout: int = Field(default=30, ge=1, description=doc("Gunicorn --timeout (seconds)."))
    gunicorn_worker_class: str = Field(default="sync", description=doc("Gunicorn --worker-class."))
    gunicorn_worker_multiplier: int = Field(default=4, ge=1, description=doc("Gunicorn workers per CPU."))
    node_version: str | None = Field(
        default=None,
        description=doc("Node.js major version for web and worker servers (20 or 20.x; 18 or later), from NodeSource's "
                        "signed apt repository. Default: none."),
    )
    less_version: str | None = Field(
        default=None, description=doc("Global npm less version (exact). Default: a pinned version (4.9.1).")
    )
    redis_tls: bool = Field(
        default=False,
        description=doc("Redis on the cache server speaks TLS only (port 6379), with a certificate from the environment's "
                        "CA; redis_url is then rediss:// and verifies it."),
    )
    static_hosting: Literal["local", "remote"] = Field(
        default="remote", description=doc("local: deploy_web also runs collectstatic and compress.")
    )
    use_basic_auth: dict[str, Any] = Field(
        default={}, json_schema_extra={"additionalProperties": {"type": "boolean"}},
        description=doc("Basic authentication per environment (secrets basic_auth_username/password). Default: none."),
    )
    extra_log_files: dict[str, ExtraLogFile] = Field(
        default={}, description=doc("Extra logs to ship: path -> tag and optional date_format. Default: none.")
    )
    gelf_log_host: str | None = Field(
        default=None,
        description=doc("GELF receiver (install_logstash; rsyslog sends GELF 1.1): host, host:port (UDP, port 12201 "
                        "by default) or tcp://host:port. Default: none (false too)."),
    )
    syslog_server: str | None = Field(
        default=None,
        description=doc('Syslog receiver (install_rsyslog): "host:port" (UDP, as 1.x), tcp://host:port, or a block '
                        'of rsyslog configuration containing "@", used as written. Default: none (false too).'),
    )
    cloudwatch_logs: bool | CloudWatchLogs = Field(
        default=False,
        description=doc("true (or a mapping): install_awslogs ships the servers' logs to CloudWatch Logs, group "
                        "<deployment>-<environment>-<role>, with the servers' instance role. Default: false."),
    )
    awslogs_access_key_id: str | None = Field(
        default=None,
        description=doc(
            "Deprecated: give the servers an instance role and set cloudwatch_logs instead. Access key id "
            "install_awslogs ships with (secret: awslogs_secret_access_key). Default: none (false too)."
        ),
    )

    _source: Path = PrivateAttr(default=Path("fabulaws-config.yml"))
    _origin: YamlSource | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _zone_region: str | None = PrivateAttr(default=None)
    _problems: list = PrivateAttr(default_factory=list)  # config.environments.Problem, in file order

    @field_validator("gelf_log_host", "syslog_server", "awslogs_access_key_id", mode="before")
    @classmethod
    def _false_means_unset(cls, value: object) -> Any:
        # 1.x documented `false` as "not configured" for these.
        return None if value is False else value

    @field_validator("syslog_server", "gelf_log_host")
    @classmethod
    def _log_endpoints(cls, value: str | None, info: Any) -> str | None:
        return _log_endpoint(value, raw_allowed=info.field_name == "syslog_server")

    @property
    def source(self) -> Path:
        """The file these settings were read from (its directory anchors relative paths)."""
        return self._source

    @field_validator("node_version", mode="before")
    @classmethod
    def _node_major(cls, value: object) -> Any:
        # 1.x's values (setup_<version>) were 20.x and the like; NodeSource signs node_<major>.x repositories
        text = str(value) if isinstance(value, int | float) else value
        if isinstance(text, str) and not (text.removesuffix(".x").isdigit() and int(text.removesuffix(".x")) >= 18):
            raise ValueError(f"expected a Node.js major version of 18 or later such as 20 or 20.x, got {text!r}")
        return text

    @property
    def origin(self) -> YamlSource:
        """The parsed file, for error messages that cite a line."""
        return self._origin or YamlSource(self._source, None)

    @property
    def warnings(self) -> list[str]:
        """Deprecation warnings found while loading, one line each."""
        return list(self._warnings)

    @property
    def zone_region(self) -> str | None:
        """The region that full zone names in ``avail_zones``/``subnets`` belong to (None if given by letter)."""
        return self._zone_region

    @property
    def ssh_attribute(self) -> str:
        """The DescribeInstances field used as the SSH host (``ec2_attr_for_ssh``)."""
        return SSH_ATTRIBUTES[self.ec2_attr_for_ssh]

    @property
    def environment_problems(self) -> list:
        """Gaps and bad values found at load, each belonging to one environment (config/environments.py)."""
        return list(self._problems)

    def check_environment(self, environment: str, deployment: str | None = None) -> list[str]:
        """Raise ConfigError for the first gap or bad value of ``environment`` (of ``deployment``); return the
        problems of the other environments as warning lines (the caller prints them)."""
        mine = [p for p in self._problems if p.concerns(environment, deployment)]
        if mine:
            more = f" (and {len(mine) - 1} more problem{'s' if len(mine) > 2 else ''} for {environment})" if len(mine) > 1 else ""
            raise ConfigError(f"{mine[0].error}{more}")
        return [p.warning() for p in self._problems if p.environment != environment]

    def is_production(self, environment: str) -> bool:
        return environment in self.production_environments

    def error(self, path: tuple, message: str) -> ConfigError:
        """A ConfigError pointing at ``path`` in this file (with its line when known)."""
        return self.origin.error(path, message)

    def _refuse_problem(self, key: str, environment: str, deployment: str | None = None) -> None:
        """A lookup for an environment whose entry in ``key`` was found bad at load raises that problem."""
        for problem in self._problems:
            if problem.key == key and problem.concerns(environment, deployment):
                raise problem.error

    def role_setting(self, key: str, environment: str, role: str) -> Any:
        """``instance_types`` & co. for (environment, role), by the 1.x lookup rule."""
        self._refuse_problem(key, environment)
        return find(self.origin, getattr(self, key), key, environment, role)

    def deployment_setting(self, key: str, deployment: str, environment: str, default: object = ...) -> Any:
        """``branches`` & co. for (deployment, environment); ``default`` if the map has neither key."""
        mapping = getattr(self, key)
        self._refuse_problem(key, environment, deployment)
        if default is not ... and deployment not in mapping and environment not in mapping:
            return default
        return find(self.origin, mapping, key, deployment, environment)

    def environment_setting(self, key: str, environment: str, default: object = ...) -> Any:
        """``server_ports`` & co.: a map keyed by environment name."""
        self._refuse_problem(key, environment)
        mapping = getattr(self, key)
        if environment in mapping:
            return mapping[environment]
        if default is not ...:
            return default
        raise self.error((key,), f"no entry for environment {environment!r} (expected {key}.{environment})")

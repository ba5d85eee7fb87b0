"""Where things live on the servers for one environment (1.x ``_setup_env`` derived values)."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fabulaws.config import Settings


@dataclass(frozen=True)
class Paths:
    """Remote paths and names derived from the configuration alone (no AWS call)."""

    home: str
    root: str
    log_dir: str  # the application's own logs (Django LOGGING, New Relic): the webserver user writes here
    server_log_dir: str  # what root-run daemons write (supervisord's program output, nginx): root's alone
    code_root: str
    project_root: str
    virtualenv_root: str
    media_root: str
    static_root: str
    services: str
    state_dir: str  # root-owned: the server's own names and the upgrade page
    own_hosts: str
    own_hosts_script: str
    supervisor_conf: str
    nginx_conf: str
    nginx_html: str
    local_settings_py: str
    database_name: str
    vhost: str
    staticfiles_s3_bucket: str
    gpg_dir: str
    pgpass_file: str

    @classmethod
    def for_environment(cls, settings: Settings, deployment: str, environment: str) -> Paths:
        home = settings.home.rstrip("/") or "/"
        root = posixpath.join(home, "www", environment)
        code_root = posixpath.join(root, "code_root")
        project_root = posixpath.join(code_root, settings.project)
        services = posixpath.join(home, "services")
        # Everything root reads, runs or writes lives outside the deploy user's home, in directories only root can
        # write (a root-owned file in a directory the deploy user owns can be renamed away and replaced).
        name = f"{settings.project}-{environment}"
        state_dir = posixpath.join("/var/lib/fabulaws", name)
        return cls(
            home=home,
            root=root,
            log_dir=posixpath.join(root, "log"),
            server_log_dir=posixpath.join("/var/log", settings.project, environment),
            code_root=code_root,
            project_root=project_root,
            virtualenv_root=posixpath.join(root, "env"),
            media_root=posixpath.join(root, "uploaded_media"),
            static_root=posixpath.join(root, "static_media"),
            services=services,
            state_dir=state_dir,
            own_hosts=posixpath.join(state_dir, "own-hosts"),
            own_hosts_script=posixpath.join("/usr/local/sbin", f"fabulaws-own-hosts-{name}"),
            supervisor_conf=posixpath.join("/etc/supervisor/conf.d", f"{name}.conf"),
            nginx_conf=posixpath.join("/etc/nginx/sites-available", f"{name}.conf"),
            nginx_html=posixpath.join(state_dir, "html"),
            local_settings_py=posixpath.join(project_root, settings.local_settings_py_relative_path),
            database_name=f"{settings.project}_{environment}",
            vhost=f"{settings.project}_{environment}",
            staticfiles_s3_bucket=f"{deployment}-{environment}-static-files",
            gpg_dir=posixpath.join(home, "backup-info", "gnupg"),
            pgpass_file=posixpath.join(home, "backup-info", "pgpass"),
        )

    def log_files(self, settings: Settings) -> list[tuple[str, str, str | None]]:
        """(tag, path, date format) of every log shipped by rsyslog/awslogs, in 1.x's order."""
        logs: list[tuple[str, str, str | None]] = [
            ("munin", "/var/log/munin/munin-node.log", None),
            ("postgresql", "/var/log/postgresql/postgresql-*.log", None),
            ("redis", "/var/log/redis/redis*.log", None),
            ("rabbitmq", "/var/log/rabbitmq/rabbit*.log", None),
            ("nginx", posixpath.join(self.server_log_dir, "error.log"), None),
            ("nginx", posixpath.join(self.server_log_dir, "access.log"), None),
            ("gunicorn", posixpath.join(self.server_log_dir, "gunicorn.log"), None),
            ("pgbouncer", posixpath.join(self.server_log_dir, "pgbouncer.log"), None),
            ("stunnel", posixpath.join(self.log_dir, "stunnel.log"), None),
            ("celery", posixpath.join(self.log_dir, "celerycam.log"), None),
            ("celery", posixpath.join(self.log_dir, "celerybeat.log"), None),
        ]
        logs += [("celery", posixpath.join(self.server_log_dir, f"celeryd-{name}.log"), None)
                 for name in settings.celery_workers]
        logs += [(extra.tag, path, extra.date_format) for path, extra in settings.extra_log_files.items()]
        return logs

"""Database tasks on the selected environment: ``fabulaws testing dbbackup``, ``dbrestore:latest``,
``reload_production_db:myproject,production``, ``reset_local_db:mydb`` (1.x's names and arguments)."""

from __future__ import annotations

from invoke import Context

from ....errors import UsageError
from ....prompts import confirm, confirm_production
from ....report import reporter
from ....secrets import Secrets
from ....ubuntu.packages.postgres import Postgres
from ..announce import announce_change
from ..app import APP_ROLES, ServerApp, services
from ..context import (
    aws_for,
    connections_for,
    environment_of,
    project_hook,
    selected_environment,
    settings_for,
)
from ..database import backups, local, replace, transfer
from ..environment import Environment
from ..servers import roles
from ..stack import Stack
from .app import app_servers
from .base import task
from .replicas import database
from .secrets import environment_secrets, write_server_passwords


def site_of(c: Context, env: Environment) -> replace.Site:
    """The environment's servers, all of them (``-H`` does not narrow a database task: every web server must
    show the maintenance page and every app server must stop for the swap)."""
    aws = aws_for(c)
    return replace.Site(connections_for(c), Stack.discover(env, aws.ec2), aws,
                        Secrets(env.settings, env.deployment, env.environment, aws), reporter())


@task
def dbbackup(c: Context) -> None:
    """Dump the environment's database (pg_dump on its primary) to S3, encrypted; print where it went."""
    env = selected_environment(c)
    announce_change(c, env)
    site = site_of(c, env)
    bucket = backups.bucket_for(env, site.aws, site.report.info)
    cxn = site.connections.open(site.primary)
    try:
        backup = backups.take(cxn, env, site.aws, bucket)
    finally:
        cxn.close()
    site.report.info(f"dbbackup: {backup.size} bytes")
    print(backup.where)


@task(help={
    "filepath": "latest, list, an S3 key or s3:// URL of a backup, or a dump file on this machine (default: list)",
    "answer": "y replaces the database without asking; n refuses (default: ask on the terminal)",
})
def dbrestore(c: Context, filepath: str = "list", answer: str | None = None) -> None:
    """Replace the environment's database with a backup (list them with ``dbrestore`` or ``dbrestore:list``)."""
    env = selected_environment(c)
    aws = aws_for(c)
    if filepath == "list":
        bucket = backups.bucket_for(env, aws)
        for backup in backups.listed(env, aws, bucket):
            print(f"{backup.where}  {backup.size} bytes  {backup.modified:%Y-%m-%d %H:%M:%S %Z}")
        return
    announce_change(c, env)
    site = site_of(c, env)
    found = backups.find(env, aws, backups.bucket_for(env, aws, site.report.info), filepath)
    where = getattr(found, "where", str(found))
    question = (f"Are you sure you want to DELETE and REPLACE the {env.environment.upper()} database with a copy of "
                f"{where}? THIS WILL COMPLETELY ERASE THE CURRENT DATABASE AND REPLACE IT WITH THE COPY OF THIS BACKUP "
                "(it is kept aside as <name>_previous_<time>).")
    if not confirm(question, answer):
        raise UsageError(f"dbrestore: not replacing the {env.environment} database")
    owner = env.settings.database_user
    with transfer.private_directory() as directory:
        path = backups.fetch(found, aws, directory)
        kept = replace.replace_database(site, lambda cxn, name: transfer.restore_file(cxn, path, name, owner), "dbrestore")
    site.report.info(f"dbrestore: {env.deployment}/{env.environment} now has the data of {where} (previous data: {kept})")


@task(help={
    "prod_env": "deployment of the database to copy (default: the config's default_deployment)",
    "src_env": "environment of the database to copy (default: production)",
    "answer": "y confirms when the selected environment is a production one; n refuses (default: ask)",
})
def reload_production_db(c: Context, prod_env: str | None = None, src_env: str = "production",
                         answer: str | None = None) -> None:
    """Replace the selected environment's database with a copy of another environment's (by default
    production's), then run the fabfile's ``post_reload_production_db`` task on the primary if it has one."""
    env = selected_environment(c)
    source = environment_of(c, prod_env or settings_for(c).default_deployment, src_env)
    if (source.deployment, source.environment) == (env.deployment, env.environment):
        raise UsageError(f"reload_production_db: the source {src_env} is the selected environment itself")
    if env.is_production:
        confirm_production("reload_production_db", env.environment, answer,
                           warning=f"Its database will be REPLACED with a copy of {source.deployment}/{src_env}'s.")
    announce_change(c, env)
    site = site_of(c, env)
    source_site = site_of(c, source)
    source_cxn = source_site.connections.open(source_site.primary)
    owner = env.settings.database_user

    def load(cxn, name: str) -> int:
        return transfer.copy_between(source_cxn, source.paths.database_name, cxn, name, owner)

    try:
        kept = replace.replace_database(site, load, "reload_production_db", after=project_hook(c, "post_reload_production_db"))
    finally:
        source_cxn.close()
    site.report.info(f"reload_production_db: {env.deployment}/{env.environment} now has a copy of "
                     f"{source.deployment}/{src_env}'s database (previous data: {kept})")


@task(help={
    "db_name": "local PostgreSQL database to replace (libpq's PGHOST, PGUSER... apply)",
    "answer": "y replaces it without asking; n refuses (default: ask on the terminal)",
})
def reset_local_db(c: Context, db_name: str, answer: str | None = None) -> None:
    """Replace a database on this machine with a copy of the selected environment's."""
    env = selected_environment(c)
    question = (f"Are you sure you want to reset the local database {db_name} with a copy of the {env.environment} "
                "database? YOUR DATABASE MUST BE RUNNING ON AN ENCRYPTED FILESYSTEM TO USE THIS FEATURE.")
    if not confirm(question, answer):
        raise UsageError(f"reset_local_db: not replacing {db_name}")
    site = site_of(c, env)
    cxn = site.connections.open(site.primary)
    try:
        copied = local.reset(cxn, env.paths.database_name, db_name)
    finally:
        cxn.close()
    site.report.info(f"reset_local_db: {db_name} now has a copy of {env.deployment}/{env.environment}'s database "
                     f"({copied} bytes)")


@task
def update_database_tls(c: Context) -> None:
    """Bring an environment created before it had its own CA to verified PostgreSQL: CA-signed certificates and
    TLS 1.2+ on every database server (reloaded, not restarted), the replication role's own password, replicas and
    pgbouncer verifying the server (verify-full). Changes nothing where all of it is already so."""
    env = selected_environment(c)
    announce_change(c, env)
    stack = Stack.discover(env, aws_for(c).ec2)
    primary = stack.primary_database
    if primary is None:
        raise UsageError(f"update_database_tls: there is no db-primary in {env.deployment} {env.environment}")
    secrets = environment_secrets(c, env)  # the servers' copies before a CA or password is made
    secrets.load(list(roles.ROLE_SECRETS["db-replica"]))
    write_server_passwords(c, env)  # what was made now goes to the servers that keep it
    replicas = [db.server for db in stack.replica_databases]
    for server in [primary.server, *replicas]:
        with database(c, env, server, secrets) as node:
            changed = Postgres(primary=server is primary.server).update_tls(node)
        reporter().info(f"{server.hostname or server.private_ip}: certificate and TLS settings "
                        f"{'updated, PostgreSQL reloaded' if changed else 'unchanged'}")
    with database(c, env, primary.server, secrets) as node:
        component = Postgres(primary=True)
        component.ensure_role(node, component.replication_user(node), secrets.get("database_replication_password"),
                              "LOGIN REPLICATION")
    for server in replicas:
        with database(c, env, server, secrets) as node:
            changed = Postgres(primary=False).follow_verified(node, primary.server.private_ip)
        reporter().info(f"{server.hostname or server.private_ip}: replication "
                        f"{'now verifies the primary (reloaded)' if changed else 'already verified'}")

    def pgbouncer(app: ServerApp) -> str:
        if not services.upload_pgbouncer_conf(app):
            return "pgbouncer unchanged"
        services.supervisor(app, "restart", "pgbouncer")
        return "pgbouncer verifies the database servers (restarted)"

    app_servers(c, env, APP_ROLES, pgbouncer, "update_database_tls", stack=stack)


TASKS = ("dbbackup", "dbrestore", "reload_production_db", "reset_local_db", "update_database_tls")

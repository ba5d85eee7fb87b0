"""recreate_servers: every server of an environment but its web servers replaced by fresh ones.

New servers are created in parallel while the site serves (the future primary as a streaming replica of the
old one; new workers bootstrapped); then, behind the upgrade page, the switch of promote_replica with the old
replicas, caches and workers retired with the old primary; the old servers are terminated once the site runs
on the new ones (``keep_old=yes`` leaves them running, tagged ``-OLD``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from invoke import Context

from ....aws import instances
from ....errors import DeployError
from ....prompts import confirm_production
from ....remote.commands import as_user
from ....secrets import Secrets
from ....waits import Polling
from ..announce import announce_change
from ..app import services
from ..app.release import bootstrap, deploy_worker_server
from ..context import aws_for, connections_for, environment_of, project_hook, select
from ..environment import Environment
from ..servers import replicas as db
from ..servers.recreate import plan_recreation
from ..stack import Server, Stack
from .app import app_servers, with_workers
from .base import flag, task
from .replicas import Switch, database, database_secrets, maintenance, report
from .secrets import write_server_passwords
from .servers import check_creation, create_servers


def worker_changeset(c: Context, env: Environment, workers: list[Server]) -> str | None:
    """The changeset the first worker runs (what the new workers get), or None without workers."""
    if not workers:
        return None
    cxn = connections_for(c).open(workers[0])
    try:
        return as_user(cxn, env.settings.deploy_user, env.settings.latest_changeset_cmd, cwd=env.paths.code_root,
                       hide=True).stdout.strip()
    finally:
        cxn.close()


def discard_new(c: Context, env: Environment, old: set[str], started: datetime) -> None:
    """After a failed creation: terminate the new non-web servers that did come up (they carry their roles)."""
    stack = Stack.discover(env, aws_for(c).ec2)
    made = [s.instance_id for s in stack.all_servers()
            if s.instance_id not in old and s.role != "web" and s.launch_time is not None and s.launch_time >= started]
    if made:
        report(f"terminating the new servers that were created: {', '.join(made)}")
        instances.terminate(aws_for(c).ec2, made, missing_ok=True)


def put_back(c: Context, env: Environment, switch: Switch, old: list[Server], new: list[Server],
             old_workers: list[Server], secrets: Secrets) -> None:
    """Undo of a switch that stopped before its retagging read back: old roles, old primary and workers running
    again, the upgrade page off, the new servers terminated. Every part is tried; what failed is reported."""
    aws = aws_for(c)
    def roles(servers: list[Server], role: Callable[[Server], str]) -> None:
        for server in servers:
            db.retag(aws, env, server, role(server))

    parts: list[tuple[str, Callable[[], object]]] = [
        ("old roles", lambda: roles(old, lambda s: s.role)),
        ("new servers' roles", lambda: roles(new, lambda s: db.retired(s.role))),
    ]
    for primary in switch.promotion.fenced:
        parts.append((f"PostgreSQL on {primary.private_ip}", partial(_unfence, c, env, primary, secrets)))
    stack = Stack.discover(env, aws.ec2)
    if old_workers:
        parts.append(("celery on the old workers", lambda: app_servers(
            c, env, ("worker",), lambda app: services.supervisor(app, "start", "celery"), "start celery", secrets=False,
            stack=with_workers(stack, old_workers))))
    parts.append(("the upgrade page", lambda: maintenance(c, env, stack, False)))
    parts.append(("the new servers", lambda: instances.terminate(aws.ec2, [s.instance_id for s in new], missing_ok=True)))
    for what, part in parts:
        try:
            part()
        except Exception as exc:  # noqa: BLE001 - the other parts still run; the operator is told
            report(f"warning: rolling back {what} failed: {exc}")


def _unfence(c: Context, env: Environment, server: Server, secrets: Secrets) -> None:
    with database(c, env, server, secrets) as node:
        db.unfence(node)


@task(types={"keep_old": "flag", "poll": "seconds", "timeout": "seconds"}, help={
    "deployment": "deployment to act on (a name in the config's deployments, e.g. myproject)",
    "environment": "environment to act on (a name in the config's environments, e.g. staging)",
    "wait": "accepted for 1.x compatibility (unused there too): every wait is on an observable condition",
    "keep_old": "yes: leave the old servers running, tagged -OLD; no: terminate them once the switch succeeded",
    "answer": "y confirms a production run without asking; n refuses (default: ask on the terminal)",
    "poll": "seconds between checks while waiting",
    "timeout": "seconds each wait (replay, promotion, tags, image) may take before giving up",
})
def recreate_servers(c: Context, deployment: str, environment: str, wait: str = "30", keep_old: str = "no",
                     answer: str | None = None, poll: float = 2, timeout: float = 1800) -> None:
    """Replace the database, cache and worker servers with new ones (data carried over), switch the environment
    to them behind the upgrade page, then terminate the old ones (1.x ``recreate_servers``)."""
    env = environment_of(c, deployment, environment)
    if env.is_production:
        confirm_production("recreate_servers", environment, answer, warning="This will cause downtime!")
    keep = flag(keep_old)
    select(c, env)
    aws = aws_for(c)
    stack = Stack.discover(env, aws.ec2)
    plan = plan_recreation(stack)
    checked = check_creation(c, env, plan.specs)
    checked.load(env.settings.password_names)
    secrets = database_secrets(c, env)
    old_workers = stack.by_role("worker")
    changeset = worker_changeset(c, env, old_workers)
    post_bootstrap = project_hook(c, "post_bootstrap")
    announce_change(c, env)
    old_ids = {s.instance_id for s in stack.all_servers()}
    started = datetime.now(UTC).replace(microsecond=0)
    report("Recreating servers for: " + ", ".join(f"{s.role} ({s.zone})" for s in plan.specs))
    try:
        outcomes = create_servers(c, env, plan.specs, checked=checked)
    except BaseException:
        discard_new(c, env, old_ids, started)
        raise
    new_ids = [str(o.instance_id) for o in outcomes]
    polling = Polling(delay=float(poll))
    stack = db.wait_roles(aws, env, {str(o.instance_id): o.spec.role for o in outcomes}, float(timeout), polling, report)
    new = {s.instance_id: s for s in stack.all_servers() if s.instance_id in new_ids}
    target = new[new_ids[0]]
    followers = [new[i] for i in new_ids[1:] if new[i].role in db.REPLICA_ROLES]
    new_workers = [s for s in stack.by_role("worker") if s.instance_id in new]
    write_server_passwords(c, env)
    if new_workers:
        app_servers(c, env, ("worker",), lambda app: bootstrap(app, post_bootstrap), "bootstrap",
                    stack=with_workers(stack, new_workers))

    def stop_old_workers() -> None:
        if old_workers:
            app_servers(c, env, ("worker",), lambda app: services.supervisor(app, "stop", "celery"), "stop celery",
                        secrets=False, stack=with_workers(stack, old_workers))

    def deploy_new_workers(switched: Stack) -> None:
        if switched.by_role("worker"):
            app_servers(c, env, ("worker",), lambda app: deploy_worker_server(app, changeset, run_migrations=False),
                        "deploy_worker", stack=switched)

    promotion = db.Promotion(target, plan.primaries, followers)
    switch = Switch(c, env, promotion, secrets, polling, float(timeout), retire=plan.retired,
                    before=stop_old_workers, after_retag=deploy_new_workers, stack=stack,
                    again=f"fabulaws recreate_servers:{deployment},{environment}",
                    after_hint=f"`fabulaws {environment} deploy_worker:{changeset}`")
    try:
        switch.run()
    except DeployError as exc:
        if switch.reached >= Switch.RETAGGED:
            raise
        put_back(c, env, switch, plan.old, list(new.values()), old_workers, secrets)
        raise DeployError(f"recreate_servers {exc}\n  rolled back: the old servers serve again; the new ones were "
                          "terminated") from exc
    old = [s.instance_id for s in plan.old]
    if keep:
        report(f"The old servers are left running, tagged -OLD: {', '.join(old)}; terminate them when done with them.")
    else:
        instances.terminate(aws.ec2, old)
        instances.wait_terminated(aws.ec2, old, timeout=float(timeout), delay=float(poll))
        report(f"Terminated the old servers (their data volumes with them): {', '.join(old)}")
    report(f"The {environment} environment of {deployment} runs on new database, cache and worker servers.")

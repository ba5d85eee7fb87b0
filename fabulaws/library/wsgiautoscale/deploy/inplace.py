"""Deploys for environments whose web servers are in no Auto Scaling group: the new code goes onto the servers
that run (1.x's deploy_full_without_autoscaling and deploy_serial_without_autoscaling).

No image, no new servers, no group to put back: a failed run is finished by running it again (each step is a
deploy of code that can be repeated). The environment's lease (deploy/lease.py) is held for the whole run, so
it cannot overlap a deploy_full, deploy_serial or another in-place deploy. Corrected from 1.x: the serial deploy
waits for each server to be healthy in its load balancers again before the next leaves them, and waits for the
requests in flight to end (bounded by ``wait``) instead of sleeping ``wait`` seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ....aws import Aws
from ....aws import balancers as lb
from ....errors import ConfigError, DeployError, UsageError
from ....remote.commands import sudo
from ....report import warn
from ....secrets import Secrets
from ....ubuntu.system import await_listening
from ....waits import Polling, Wait, WaitTimedOut, wait_for
from ..app import ServerApp, newrelic, on_app_servers
from ..app.release import deploy_web_server, deploy_worker_server
from ..app.services import begin_upgrade, end_upgrade
from ..environment import Environment
from ..servers.each import Connections
from ..stack import Server, Stack
from .fleet import healthy_everywhere
from .lease import Lease

WEB_PORTS = (80, 443)  # nginx's (app/templates/nginx.conf): what a load balancer sends requests to


def configured_group(env: Environment) -> str | None:
    """The environment's web Auto Scaling group, if fabulaws-config.yml names one."""
    try:
        return env.settings.deployment_setting("auto_scaling_groups", env.deployment, env.environment, default=None)
    except ConfigError:
        return None


def refuse_group(env: Environment, task: str, instead: str) -> None:
    """The in-place deploys are for web servers outside Auto Scaling: with a group, its launch would go on
    starting servers with the old code (UsageError, nothing changed)."""
    group = configured_group(env)
    if group:
        raise UsageError(f"{task}: {env.deployment} {env.environment} has the Auto Scaling group {group} "
                         f"(auto_scaling_groups); use {instead}:{env.deployment},{env.environment}")


@dataclass
class InPlace:
    """One in-place deploy of an environment: what every step works with."""

    aws: Aws
    env: Environment
    connections: Connections
    report: Callable[[str], None]
    polling: Polling = field(default_factory=Polling)
    timeout: float = 600.0  # seconds each wait for load balancer health may take
    lease: Lease | None = None
    _secrets: Secrets | None = None

    @property
    def secrets(self) -> Secrets:
        if self._secrets is None:
            self._secrets = Secrets(self.env.settings, self.env.deployment, self.env.environment, self.aws)
            self._secrets.load(self.env.settings.password_names)  # a missing one fails before anything changed
        return self._secrets

    def stack(self) -> Stack:
        return Stack.discover(self.env, self.aws.ec2)

    def on(self, servers: list[Server], action: Callable[[ServerApp], object], what: str,
           stack: Stack | None = None) -> None:
        if servers:
            on_app_servers(self.connections, servers, action, what, self.env.settings, stack or self.stack(),
                           self.secrets, self.aws, self.report)

    def check_lease(self) -> None:
        if self.lease is not None:
            self.lease.check()


def web_servers(run: InPlace, stack: Stack) -> list[Server]:
    webs = stack.by_role("web")
    if not webs:
        raise DeployError(f"no running web servers in {run.env.deployment} {run.env.environment} "
                          f"(servers created with `new:{run.env.deployment},{run.env.environment},web`)")
    return webs


def deploy_workers(run: InPlace, stack: Stack, changeset: str | None) -> str:
    """Every worker at ``changeset`` (the first migrates and collects static files); the changeset deployed.
    Without a worker nothing migrates: refused (the web servers would run code the database is not ready for)."""
    workers = stack.by_role("worker")
    if not workers:
        raise DeployError(f"no worker server in {run.env.deployment} {run.env.environment}: nothing could migrate the "
                          f"database; create one with `new:{run.env.deployment},{run.env.environment},worker`")
    deployed: list[str] = []

    def first(app: ServerApp) -> str:
        deployed.append(deploy_worker_server(app, changeset))
        return deployed[-1]

    run.on(workers[:1], first, "deploy_worker", stack)
    run.on(workers[1:], lambda app: deploy_worker_server(app, deployed[0], run_migrations=False), "deploy_worker", stack)
    try:
        newrelic.flag_if_configured(run.env.settings, run.env.deployment, run.env.environment, deployed[0],
                                    run.secrets, run.report)
    except DeployError as exc:  # optional notice: the database is migrated by now
        warn(run.report, f"{exc}; run `fabulaws {run.env.environment} flag_deployment` later")
    return deployed[0]


# --- deploy_full_without_autoscaling ----------------------------------------------------------------------
def full(run: InPlace, changeset: str | None) -> str:
    """Maintenance page on every web server, the workers (migrations), every web server, maintenance page off.

    A failure after the maintenance page went up leaves it up (the web servers may run old code on a migrated
    database): the error says so and what finishes the run."""
    stack = run.stack()
    webs = web_servers(run, stack)
    run.secrets  # noqa: B018 - loaded before the site goes down
    run.on(webs, begin_upgrade, "begin_upgrade", stack)
    run.check_lease()
    try:
        changeset = deploy_workers(run, stack, changeset)
        run.check_lease()
        deployed = changeset
        run.on(webs, lambda app: deploy_web_server(app, deployed), "deploy_web", stack)
    except BaseException as exc:
        raise DeployError(
            f"deploy_full_without_autoscaling stopped: {exc}; the web servers still show the maintenance page. "
            f"Run deploy_full_without_autoscaling:{run.env.deployment},{run.env.environment} again once fixed "
            f"(or `fabulaws {run.env.environment} end_upgrade` to serve what they run)") from exc
    run.on(webs, end_upgrade, "end_upgrade", stack)
    return changeset


# --- deploy_serial_without_autoscaling --------------------------------------------------------------------
def serving_in(health: dict[str, dict[str, str]], balancers: list[lb.Balancer], instance_id: str) -> list[lb.Balancer]:
    """The balancers where the server is healthy (it goes back into exactly these)."""
    return [b for b in balancers if health[instance_id].get(str(b)) in lb.HEALTHY]


def check_capacity(health: dict[str, dict[str, str]], balancers: list[lb.Balancer]) -> None:
    """1.x's rule, per load balancer: at least 2 servers in service, so one can leave at a time."""
    counts = {str(b): sum(1 for per in health.values() if per.get(str(b)) in lb.HEALTHY) for b in balancers}
    short = [f"{name}: {count}" for name, count in counts.items() if count < 2]
    if short:
        raise DeployError("Need 2 or more instances per load balancer in service to run "
                          f"deploy_serial_without_autoscaling (in service now: {'; '.join(short)})")


def serial(run: InPlace, changeset: str | None, wait: float) -> str:
    """The workers, then each web server in turn: out of its load balancers, drained, deployed, back in and
    healthy before the next one leaves."""
    env = run.env
    stack = run.stack()
    webs = web_servers(run, stack)
    balancers = lb.find_balancers(run.aws, env.load_balancer_names, env.target_group_names)
    if not balancers:
        raise ConfigError(f"load_balancers / target_groups: none configured for {env.deployment} {env.environment}")
    health = lb.health(run.aws, balancers, [w.instance_id for w in webs])
    check_capacity(health, balancers)
    run.secrets  # noqa: B018 - loaded before anything changes
    changeset = deploy_workers(run, stack, changeset)
    done: list[str] = []
    for server in webs:
        run.check_lease()  # between servers: every one done is back in service
        serving = serving_in(health, balancers, server.instance_id)
        try:
            one_server(run, stack, server, serving, changeset, wait)
        except BaseException as exc:
            state = after_failure(run, server, serving)
            left = [w.instance_id for w in webs if w.instance_id not in done and w is not server]
            raise DeployError(
                f"deploy_serial_without_autoscaling stopped at {server.instance_id}: {exc}. The workers and the "
                f"database are at {changeset[:12]}; web servers deployed: {', '.join(done) or 'none'}; not yet: "
                f"{', '.join(left) or 'none'}; {server.instance_id} {state}. Run it again once fixed.") from exc
        done.append(server.instance_id)
    return changeset


def one_server(run: InPlace, stack: Stack, server: Server, serving: list[lb.Balancer], changeset: str,
               wait: float) -> None:
    instance_id = server.instance_id
    if serving:
        others_in_service(run, stack, server, serving)
        for balancer in serving:
            run.report(f"Removing instance {instance_id} from {balancer}")
            lb.deregister(run.aws, balancer, [instance_id])
        wait_unrouted(run, instance_id, serving)
    else:
        run.report(f"{instance_id} is in service in no load balancer: deployed, and left out of them")

    def deploy(app: ServerApp) -> str:
        if serving:
            wait_idle(app, wait, run.polling, run.report)
        begin_upgrade(app, stay_healthy=False)
        deployed = deploy_web_server(app, changeset)
        await_listening(app.cxn, "gunicorn", "127.0.0.1", app.stack.server_port, timeout=run.timeout)  # then back in
        end_upgrade(app)
        return deployed

    run.on([server], deploy, "deploy_web", stack)
    if serving:
        put_back(run, instance_id, serving)


def others_in_service(run: InPlace, stack: Stack, server: Server, serving: list[lb.Balancer]) -> None:
    """Never leave a load balancer with nobody: another server must be healthy in each one this one leaves."""
    others = [w.instance_id for w in stack.by_role("web") if w.instance_id != server.instance_id]
    now = lb.health(run.aws, serving, others)
    empty = [str(b) for b in serving if not any(per.get(str(b)) in lb.HEALTHY for per in now.values())]
    if empty:
        raise DeployError(f"{server.instance_id} is the only server in service in {', '.join(empty)}: not taken out")


def wait_unrouted(run: InPlace, instance_id: str, balancers: list[lb.Balancer]) -> None:
    """Until the balancers report it out (classic ELB OutOfService, target group ``unused``: drained)."""
    def look() -> dict[str, dict[str, str]]:
        return lb.health(run.aws, balancers, [instance_id])

    wait_for(Wait(
        what=f"{instance_id} out of {len(balancers)} load balancer(s)",
        look=look,
        done=lambda seen: all(s in ("OutOfService", "unused") for s in seen[instance_id].values()),
        progress=lb.describe_health,
        deadline=run.timeout,
    ), run.polling, run.report)


def open_requests(app: ServerApp) -> int:
    """Established connections to nginx's ports: requests a load balancer still has in flight (or keeps open)."""
    ports = " or ".join(f"sport = :{port}" for port in WEB_PORTS)
    out = sudo(app.cxn, f"ss -Htn state established '( {ports} )'", hide=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def wait_idle(app: ServerApp, wait: float, polling: Polling, report: Callable[[str], None]) -> None:
    """Up to ``wait`` seconds for the requests in flight to end (1.x slept ``wait`` seconds); past it, the deploy
    goes on (as 1.x did) and says so."""
    report(f"{app.host}: waiting up to {wait:g} s for requests in flight to finish")
    try:
        wait_for(Wait(what=f"{app.host}: requests in flight", look=lambda: open_requests(app),
                      done=lambda count: count == 0, progress=lambda count: f"{count} connection(s) open",
                      deadline=float(wait)), polling, report)
    except WaitTimedOut as exc:
        warn(report, f"{exc}; deploying anyway (wait= bounds this)")


def put_back(run: InPlace, instance_id: str, balancers: list[lb.Balancer]) -> None:
    """Registered where it served before, and healthy there (bounded) before the run goes on."""
    for balancer in balancers:
        run.report(f"Adding instance {instance_id} to {balancer}")
        lb.register(run.aws, balancer, [instance_id])
    wait_healthy(run, instance_id, balancers)


def wait_healthy(run: InPlace, instance_id: str, balancers: list[lb.Balancer]) -> None:
    def look() -> tuple[dict[str, dict[str, str]], list[str]]:
        return lb.health(run.aws, balancers, [instance_id]), []

    wait_for(healthy_everywhere(f"{instance_id} healthy in {len(balancers)} load balancer(s)", look, "",
                                run.timeout), run.polling, run.report)


def after_failure(run: InPlace, server: Server, serving: list[lb.Balancer]) -> str:
    """The failed server goes back only if it is healthy in its load balancers within the timeout; else it is
    left out of them. Returns its state, for the error."""
    if not serving:
        return "was in no load balancer and stays out of them"
    instance_id = server.instance_id
    try:
        put_back(run, instance_id, serving)
        return f"passes the health checks and is back in {', '.join(map(str, serving))} (check what it runs)"
    except Exception as exc:  # noqa: BLE001 - not healthy (or AWS failing): it must not serve
        run.report(f"{instance_id}: not healthy ({exc}); taking it out again")
    try:
        for balancer in serving:
            lb.deregister(run.aws, balancer, [instance_id])
    except Exception as exc:  # noqa: BLE001 - said in the error
        return f"could not be taken out again ({exc}): deregister it from {', '.join(map(str, serving))} by hand"
    return f"is out of {', '.join(map(str, serving))} (add it back with add_to_elb once it works)"

"""The application's code on a server: directories, clone, update, virtualenv, requirements."""

from __future__ import annotations

import posixpath
from typing import Any

from ....errors import DeployError
from ....remote import nolink
from ....remote.commands import join, sudo
from ....remote.files import exists
from ....remote.gitauth import GitAccess, operator_has_agent, run_git, uses_ssh
from ....report import warn
from ....secrets import MissingSecret
from . import ServerApp

SERVICE_DIRS = ("pgbouncer",)  # under ~/services: what the deploy user's programs read (root's files are elsewhere)

def through_no_link(app: ServerApp, *arguments: str) -> Any:
    """Root acts on a directory under the deploy user's home through no symbolic link (remote/nolink.py)."""
    return nolink.as_root(app.cxn, *arguments)


def own_directory(app: ServerApp, path: str, owner: str, group: str, mode: str) -> bool:
    """Give ``path`` (made by the deploy user) to ``owner``:``group`` with ``mode``, as root but never through a
    symbolic link. A path through a link (a 1.x site's own arrangement, or a planted one) is left as it is, with a
    warning; returns whether it was set."""
    result = through_no_link(app, "own", path, owner, group, mode)
    if not result.ok:
        lines = result.stderr.strip().splitlines()
        warn(app.report, f"{app.host}: {lines[-1] if lines else path}; left as it is")
    return result.ok


def remove_tree(app: ServerApp, path: str) -> None:
    """``rm -rf`` a directory under the deploy user's home as root, reached through no symbolic link
    (``bootstrap:purge``); DeployError naming the link otherwise."""
    result = through_no_link(app, "remove", path)
    if not result.ok:
        raise DeployError(f"{app.host}: cannot delete {path}: {result.stderr.strip()}")


def setup_dirs(app: ServerApp) -> None:
    """Log, service, media and static directories. The application's log directory belongs to the webserver user
    (Django's LOGGING, New Relic) with the deploy user's group (setgid, group-writable), and is never
    world-writable; supervisord's and nginx's logs go to root's ``server_log_dir`` (app/services.py)."""
    paths, settings = app.paths, app.settings
    sudo(app.cxn, join("chmod", "0711", paths.home), hide=True)  # services may pass through, not list it
    app.as_deploy_user(join("mkdir", "-p", paths.log_dir, paths.media_root, paths.static_root,
                            *[posixpath.join(paths.services, d) for d in SERVICE_DIRS]))
    own_directory(app, paths.log_dir, settings.webserver_user, settings.deploy_user, "2770")
    for directory in (paths.media_root, paths.static_root):
        own_directory(app, directory, settings.webserver_user, settings.webserver_user, "0755")


def git_access(app: ServerApp) -> GitAccess:
    """How git reaches ``repo``: the deploy key of ``repo_deploy_key`` if set, else the operator's SSH agent
    (forwarded only to an SSH repository, when the agent holds a key), with ``repo_host_keys``."""
    settings = app.settings
    key = None
    if settings.repo_deploy_key:
        key = app.secrets.local_only([settings.repo_deploy_key])[settings.repo_deploy_key]  # never a prompt
        if not key:
            raise MissingSecret(f"repo_deploy_key: secret {settings.repo_deploy_key!r} of {app.deployment} "
                                f"{app.environment} is not in {app.secrets.describe_store()}")
    agent = key is None and uses_ssh(settings.repo) and operator_has_agent()
    return GitAccess(settings.deploy_user, key, tuple(settings.repo_host_keys), agent)


def clone_repo(app: ServerApp) -> None:
    """Clone ``repo`` into code_root (once) and check out the environment's branch.

    Host keys of the repository's server are checked (``repo_host_keys``): unlike 1.x,
    nothing turns StrictHostKeyChecking off.
    """
    paths = app.paths
    app.as_deploy_user(join("mkdir", "-p", paths.root))
    if not exists(app.cxn, posixpath.join(paths.code_root, ".git")):
        run_git(app.cxn, git_access(app), join(app.settings.vcs_cmd, "clone", "--quiet", app.settings.repo, paths.code_root),
                cwd=paths.root)
    app.as_deploy_user(join(app.settings.vcs_cmd, "checkout", "--quiet", app.stack.branch), cwd=paths.code_root)


def update_source(app: ServerApp, changeset: str | None = None) -> str:
    """Fetch ``repo`` (origin follows the configuration) and reset to ``changeset`` (default: the branch's head);
    returns the changeset now checked out."""
    code_root = app.paths.code_root
    vcs = app.settings.vcs_cmd
    # as the deploy user, whose tree it is (root would follow whatever links the tree holds)
    app.as_deploy_user("find . -name '*.pyc' -delete", cwd=code_root, warn=True)
    app.as_deploy_user(join(vcs, "remote", "set-url", "origin", app.settings.repo), cwd=code_root)  # the configured repo
    run_git(app.cxn, git_access(app), join(vcs, "fetch", "--quiet", "origin"), cwd=code_root)
    target = changeset or (app.stack.branch if app.stack.branch.startswith("origin/") else f"origin/{app.stack.branch}")
    result = app.as_deploy_user(join(vcs, "reset", "--quiet", "--hard", target), cwd=code_root, warn=True)
    if not result.ok:
        raise DeployError(f"{app.host}: cannot check out {target!r}: {result.stderr.strip() or result.stdout.strip()}")
    return current_changeset(app)


def current_changeset(app: ServerApp) -> str:
    return app.as_deploy_user(app.settings.latest_changeset_cmd, cwd=app.paths.code_root).stdout.strip()


def create_virtualenv(app: ServerApp) -> None:
    """A fresh virtualenv with the configured Python (``python3 -m venv``; 1.x needed the virtualenv package)."""
    app.as_deploy_user(join(app.settings.python, "-m", "venv", "--clear", app.paths.virtualenv_root))
    app.as_deploy_user(join(posixpath.join(app.paths.virtualenv_root, "bin", "pip"), "install", "-q", "--upgrade", "pip"))


def update_requirements(app: ServerApp) -> None:
    """pip install the requirements file (from ``requirements_sdists`` only, when that is set)."""
    settings, paths = app.settings, app.paths
    command = [posixpath.join(paths.virtualenv_root, "bin", "pip"), "install", "-q"]
    if settings.requirements_sdists:
        command += ["--no-index", f"--find-links=file://{posixpath.join(paths.code_root, settings.requirements_sdists)}"]
    command += ["--requirement", posixpath.join(paths.code_root, settings.requirements_file)]
    result = app.as_deploy_user(join(*command), cwd=paths.code_root, warn=True)
    if not result.ok:
        raise DeployError(f"{app.host}: pip install failed:\n{(result.stderr or result.stdout).strip()[-2000:]}")

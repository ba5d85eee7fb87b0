"""New Relic: the agent's files on web and worker servers, and deployment markers (1.x upload_newrelic_conf and
flag_deployment).

Both are opt-in through ``password_names``: ``newrelic_license_key`` for the agent, ``newrelic_api_key`` for
markers. Markers are posted from the operator's machine with the key in a header, never on a command line.
A marker is a notice to an outside service: it waits at most MARKER_TIMEOUT seconds, and every way it can fail
(no such host, refused, timed out, a broken answer, a bad URL, a missing key) is one DeployError, which a deploy
turns into a warning (app/steps.py ``flag_optional``), never a rollback.
"""

from __future__ import annotations

import getpass
import posixpath
import urllib.error
import urllib.parse
import urllib.request

from ....errors import ConfigError, DeployError
from ....remote.files import exists, put, render
from ....report import say, warn
from . import ServerApp, template

LICENSE_KEY = "newrelic_license_key"
API_KEY = "newrelic_api_key"
APP_TYPES = ("web", "celery")
MARKER_TIMEOUT = 10  # seconds per marker: New Relic answers in well under a second when it is up


def agent_configured(settings) -> bool:
    return LICENSE_KEY in settings.password_names


def markers_configured(settings) -> bool:
    return API_KEY in settings.password_names


def infrastructure_wanted(settings) -> bool:
    """New servers get the infrastructure agent: the license key is configured and
    ``newrelic_infrastructure_agent`` is not false."""
    return agent_configured(settings) and settings.newrelic_infrastructure_agent


def require_license(settings, task: str) -> None:
    """A task that needs the license key stops here, before any server is touched, when it is not configured."""
    if not agent_configured(settings):
        raise ConfigError(f"password_names: add {LICENSE_KEY} to run {task}")


def ini_path(app: ServerApp, app_type: str) -> str:
    return posixpath.join(app.paths.services, f"newrelic-{app.environment}-{app_type}.ini")


def app_name(deployment: str, environment: str, app_type: str) -> str:
    return f"{deployment} {environment} ({app_type})"


def upload_newrelic_conf(app: ServerApp) -> str:
    """One ini file per application type, readable by the programs' user only (it holds the license key)."""
    if not agent_configured(app.settings):
        return f"skipped ({LICENSE_KEY} is not among password_names)"
    for app_type in APP_TYPES:
        text = render(template("newrelic.ini"), {
            "deployment": app.deployment, "environment": app.environment, "app_type": app_type, "paths": app.paths,
            "license_key": app.secrets.get(LICENSE_KEY),
        })
        put(app.cxn, text, ini_path(app, app_type), owner=app.settings.deploy_user, group=app.settings.webserver_user,
            mode="0640")
    return f"{len(APP_TYPES)} files"


def agent_for_programs(app: ServerApp) -> dict | None:
    """What supervisor's programs run under the agent with, or None: not configured, or not installed (warned)."""
    if not agent_configured(app.settings):
        return None
    admin = posixpath.join(app.paths.virtualenv_root, "bin", "newrelic-admin")
    if not exists(app.cxn, admin):
        warn(app.report, f"{app.host}: {LICENSE_KEY} is set but the virtualenv has no newrelic-admin (add newrelic to the "
                   f"requirements): the programs run without the agent")
        return None
    return {"admin": admin, **{app_type: ini_path(app, app_type) for app_type in APP_TYPES}}


def flag_deployment(settings, deployment: str, environment: str, changeset: str, api_key: str,
                    report=None) -> list[str]:
    """Post a deployment marker per application type to ``newrelic_deployments_url``; returns what was flagged."""
    flagged = []
    for app_type in APP_TYPES:
        name = app_name(deployment, environment, app_type)
        form = urllib.parse.urlencode({
            "deployment[app_name]": name, "deployment[revision]": changeset, "deployment[user]": getpass.getuser(),
        }).encode()
        try:
            request = urllib.request.Request(settings.newrelic_deployments_url, data=form, method="POST",
                                             headers={"x-api-key": api_key})
            with urllib.request.urlopen(request, timeout=MARKER_TIMEOUT) as response:
                response.read()
        except Exception as exc:  # noqa: BLE001 - any failure of an optional notice is reported, never raised raw
            plain = isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError)
            reason = exc.reason if plain and isinstance(exc, urllib.error.URLError) else exc  # "gaierror: ... Name or service not known", "HTTPError: 403 ..."
            raise DeployError(f"flag_deployment: {settings.newrelic_deployments_url} refused the marker for {name}: "
                              f"{type(reason).__name__}: {reason}") from None
        say(report, f"Flagged deployment of {changeset[:12]} for {name}")
        flagged.append(name)
    return flagged


def flag_if_configured(settings, deployment: str, environment: str, changeset: str, secrets, report=None) -> bool:
    """flag_deployment when ``newrelic_api_key`` is among password_names; whether it was."""
    if not markers_configured(settings):
        return False
    try:
        api_key = secrets.get(API_KEY)
    except DeployError:
        raise  # MissingSecret: already one line naming the secret and where it was looked for
    except Exception as exc:  # noqa: BLE001 - e.g. SSM unreachable: still only a missing marker
        raise DeployError(f"flag_deployment: cannot read {API_KEY}: {type(exc).__name__}: {exc}") from None
    flag_deployment(settings, deployment, environment, changeset, api_key, report)
    return True

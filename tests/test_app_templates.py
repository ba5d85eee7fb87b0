"""Our server templates render to files their programs accept (supervisor's ini syntax, sh syntax)."""

from __future__ import annotations

import configparser
import subprocess

import pytest
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.app import template
from fabulaws.library.wsgiautoscale.paths import Paths
from fabulaws.remote.commands import join
from fabulaws.remote.files import render

from conftest import EXAMPLE


@pytest.fixture
def context():
    settings = load_settings(EXAMPLE / "fabulaws-config.yml")
    paths = Paths.for_environment(settings, "myproject", "testing")
    return {
        "deployment": "myproject", "environment": "testing", "roles": ["web", "worker"], "paths": paths,
        "deploy_user": "myproject", "webserver_user": "www-data", "pgbouncer_ini": "/srv/pgbouncer.ini",
        "wsgi_app": "myproject.wsgi:application", "server_port": 8002, "worker_count": 4, "worker_class": "sync",
        "timeout": 30, "settings_module": "myproject.local_settings", "celery_application": "myproject",
        "celery_workers": {"main": "--concurrency 2"}, "newrelic": None,
    }


def programs(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_supervisor_programs_run_plain_without_the_new_relic_agent(context):
    parsed = programs(render(template("supervisor.conf"), context))
    gunicorn = parsed["program:testing-gunicorn"]
    assert gunicorn["command"].startswith(context["paths"].virtualenv_root + "/bin/gunicorn ")
    assert "NEW_RELIC" not in gunicorn["environment"]
    assert parsed["program:testing-celeryd-main"]["command"].startswith(context["paths"].virtualenv_root + "/bin/celery ")


def test_supervisor_programs_run_under_newrelic_admin_with_their_own_ini(context):
    context["newrelic"] = {"admin": "/venv/bin/newrelic-admin", "web": "/srv/nr-web.ini", "celery": "/srv/nr-celery.ini"}
    parsed = programs(render(template("supervisor.conf"), context))
    gunicorn, celery = parsed["program:testing-gunicorn"], parsed["program:testing-celeryd-main"]
    assert gunicorn["command"].startswith("/venv/bin/newrelic-admin run-program ")
    assert 'NEW_RELIC_CONFIG_FILE="/srv/nr-web.ini"' in gunicorn["environment"]
    assert celery["command"].startswith("/venv/bin/newrelic-admin run-program ")
    assert 'NEW_RELIC_CONFIG_FILE="/srv/nr-celery.ini"' in celery["environment"]


@pytest.mark.parametrize("name", ["own-hosts.sh", "own-hosts.init"])
def test_boot_scripts_are_valid_sh_with_quoted_paths(context, name, tmp_path):
    paths = context["paths"]
    text = render(template(name), {**context, "own_hosts": join("/srv/my services/own-hosts"),
                                   "own_hosts_script": join(paths.own_hosts_script)})
    script = tmp_path / name
    script.write_text(text)
    checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    expected = {"own-hosts.sh": "'/srv/my services/own-hosts'", "own-hosts.init": paths.own_hosts_script}[name]
    assert expected in text

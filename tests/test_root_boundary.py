"""The root boundary without servers: what root reads, runs or writes lies outside the deploy user's home; the
deploy user's sudo is exactly supervisorctl for its groups; local logs are private from creation.

(On sandbox hosts: tests/test_environment_hardened_files.py.)
"""

from __future__ import annotations

import configparser
import grp
import os
import posixpath
import pwd
import re
import stat
import subprocess
import sys

import pytest
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.app import template
from fabulaws.library.wsgiautoscale.app.services import supervisor_targets
from fabulaws.library.wsgiautoscale.paths import Paths
from fabulaws.remote.files import render
from fabulaws.remote.nolink import SCRIPT as THROUGH_NO_LINK
from fabulaws.report import open_log, private_dir
from fabulaws.ubuntu.users import deploy_sudoers_file, deploy_user_sudoers, sudoers_word

from conftest import EXAMPLE


@pytest.fixture
def settings():
    return load_settings(EXAMPLE / "fabulaws-config.yml")


@pytest.fixture
def paths(settings):
    return Paths.for_environment(settings, "myproject", "testing")


def test_what_root_reads_runs_or_writes_is_outside_the_deploy_users_home(paths):
    rooted = {"supervisor_conf": paths.supervisor_conf, "nginx_conf": paths.nginx_conf, "nginx_html": paths.nginx_html,
              "own_hosts_script": paths.own_hosts_script, "own_hosts": paths.own_hosts,
              "server_log_dir": paths.server_log_dir}
    inside = {name: path for name, path in rooted.items() if path.startswith(paths.home.rstrip("/") + "/")}
    assert inside == {}
    assert paths.supervisor_conf.startswith("/etc/supervisor/conf.d/")
    assert paths.nginx_conf.startswith("/etc/nginx/sites-available/")


def test_supervisord_and_nginx_write_logs_only_into_roots_directory(settings, paths):
    context = {
        "deployment": "myproject", "environment": "testing", "roles": ["web", "worker"], "paths": paths,
        "deploy_user": "myproject", "webserver_user": "myproject-web", "pgbouncer_ini": "/srv/pgbouncer.ini",
        "wsgi_app": "myproject.wsgi:application", "server_port": 8002, "worker_count": 4, "worker_class": "sync",
        "timeout": 30, "settings_module": "myproject.local_settings", "celery_application": "myproject",
        "celery_workers": {"main": "--concurrency 2"}, "newrelic": None,
    }
    parsed = configparser.ConfigParser(interpolation=None)
    parsed.read_string(render(template("supervisor.conf"), context))
    programs = [parsed[name] for name in parsed.sections() if name.startswith("program:")]
    assert programs and all(posixpath.dirname(p["stdout_logfile"]) == paths.server_log_dir for p in programs)
    assert "root" not in {p["user"] for p in programs}
    nginx = render(template("nginx.conf"), {**context, "html_dir": paths.nginx_html, "server_names": ["x"],
                                              "passwd_file": None})
    logs = re.findall(r"^\s*(?:access|error)_log (\S+);", nginx, re.M)
    assert len(logs) == 2 and all(posixpath.dirname(log) == paths.server_log_dir for log in logs)
    assert f"root {paths.nginx_html};" in nginx


def test_shipped_logs_are_where_their_writers_put_them(settings, paths):
    shipped = {posixpath.basename(path): posixpath.dirname(path) for _, path, _ in paths.log_files(settings)}
    for name in ("access.log", "error.log", "gunicorn.log", "pgbouncer.log",
                 *[f"celeryd-{worker}.log" for worker in settings.celery_workers]):
        assert shipped[name] == paths.server_log_dir, name
    assert shipped["celerybeat.log"] == paths.log_dir  # the application's own logs stay where 1.x had them


def test_the_deploy_user_may_run_exactly_supervisorctl_on_its_groups():
    text = deploy_user_sudoers("myproject", supervisor_targets("testing"))
    rule = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(rule) == 1 and rule[0].startswith("myproject ALL=(root) NOPASSWD: ")
    commands = rule[0].split("NOPASSWD: ", 1)[1].split(", ")
    expected = [f"/usr/bin/supervisorctl {action} testing-{group}\\:\\*"
                for group in ("web", "celery", "pgbouncer") for action in ("start", "stop", "restart", "status")]
    assert commands == expected  # '*' escaped: a literal star, never a wildcard (no "all", no extra arguments)
    assert "ALL" not in rule[0].split("NOPASSWD:", 1)[1]
    assert sudoers_word("a,b=c d#e?[f]\\") == "a\\,b\\=c\\ d\\#e\\?\\[f\\]\\\\"
    assert deploy_sudoers_file("myproject", "te.st") == "/etc/sudoers.d/60-fabulaws-myproject-te-st"  # sudo skips dots


def test_local_log_directories_are_0700_and_files_0600_from_creation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, handle = open_log(tmp_path / ".fabulaws" / "logs", "deploy", "10.0.0.5")
    handle.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700


def test_an_older_wider_log_directory_is_narrowed(tmp_path):
    old = tmp_path / "logs"
    old.mkdir(mode=0o755)
    old.chmod(0o755)
    assert private_dir(old) == old
    assert stat.S_IMODE(old.stat().st_mode) == 0o700


def run_through_no_link(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", THROUGH_NO_LINK, *arguments], capture_output=True, text=True)


def test_root_acts_under_the_deploy_users_home_through_no_symbolic_link(tmp_path):
    real = tmp_path / "www" / "testing"
    (real / "log").mkdir(parents=True)
    (tmp_path / "planted").symlink_to(tmp_path / "www")  # what the deploy user could put in the way
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    assert run_through_no_link("own", str(real / "log"), user, group, "2770").returncode == 0
    assert stat.S_IMODE((real / "log").stat().st_mode) == 0o2770
    refused = run_through_no_link("own", str(tmp_path / "planted" / "testing" / "log"), user, group, "0777")
    assert refused.returncode != 0 and "planted: " in refused.stderr and "refused" in refused.stderr
    assert stat.S_IMODE((real / "log").stat().st_mode) == 0o2770
    assert run_through_no_link("remove", str(tmp_path / "planted" / "testing")).returncode != 0
    assert real.is_dir()
    assert run_through_no_link("remove", str(real)).returncode == 0
    assert not real.exists() and (tmp_path / "www").is_dir()


def test_root_writes_a_file_through_no_symbolic_link(tmp_path):
    """put()'s install step: a link another account put on the path is refused and nothing is written through it;
    the real path gets the content, owner, group and mode, atomically (no temporary file left beside it)."""
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    source = tmp_path / "upload"
    source.write_text("[databases]\n")
    services = tmp_path / "home" / "services"
    services.mkdir(parents=True)
    target = tmp_path / "etc"
    target.mkdir()
    (services / "pgbouncer").symlink_to(target)  # ~/services/pgbouncer -> /etc
    refused = run_through_no_link("install", str(source), str(services / "pgbouncer" / "x.ini"), user, group, "0640", "0")
    assert refused.returncode != 0 and "pgbouncer: " in refused.stderr and "refused" in refused.stderr
    assert list(target.iterdir()) == []
    (services / "pgbouncer").unlink()
    made = run_through_no_link("install", str(source), str(services / "pgbouncer" / "x.ini"), user, group, "0640", "1")
    assert made.returncode == 0, made.stderr
    written = services / "pgbouncer" / "x.ini"
    assert written.read_text() == "[databases]\n" and stat.S_IMODE(written.stat().st_mode) == 0o640
    assert stat.S_IMODE((services / "pgbouncer").stat().st_mode) == 0o755
    source.write_text("changed\n")
    assert run_through_no_link("install", str(source), str(written), user, group, "0600", "0").returncode == 0
    assert written.read_text() == "changed\n" and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert [p.name for p in written.parent.iterdir()] == ["x.ini"]

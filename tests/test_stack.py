"""Stack: servers by role, the combo rule, databases, -H narrowing and derived paths (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.stack import Server, Stack

BASE = Path(__file__).parent / "configs" / "base.yml"


@pytest.fixture(scope="module")
def settings():
    return load_settings(BASE)


def server(instance_id: str, role: str, minute: int = 0, host: str | None = None) -> Server:
    return Server(
        instance_id=instance_id,
        role=role,
        hostname=host or f"{instance_id}.internal",
        private_ip=f"10.0.0.{minute + 10}",
        private_dns="",
        public_ip="",
        public_dns="",
        availability_zone="us-east-1a",
        launch_time=datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
    )


def test_roles_outside_valid_roles_are_ignored(settings):
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [server("i-1", "web-PENDING"), server("i-2", "cache-OLD")])
    assert stack.all_servers() == []


def test_combo_servers_also_serve_db_primary_web_and_worker(settings):
    combo = server("i-c", "combo")
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [combo, server("i-w", "web")])
    assert stack.by_role("web") == [server("i-w", "web"), combo]
    assert stack.by_role("worker") == [combo]
    assert stack.primary_database.server == combo
    assert stack.roles_of(combo) == ["db-primary", "web", "worker", "combo"]
    assert len(stack.all_servers()) == 2


def test_database_keys_names_and_stunnel_ports_are_stable(settings):
    servers = [server("i-9", "db-replica", minute=1), server("i-1", "db-replica", minute=2), server("i-5", "db-primary")]
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), list(reversed(servers)))
    assert [(db.key, db.name, db.server.instance_id, db.stunnel_port) for db in stack.all_databases] == [
        ("default", "myproject_testing", "i-5", 7432),
        ("replica0", "myproject_testing_replica0", "i-9", 7433),  # oldest replica first, not describe order
        ("replica1", "myproject_testing_replica1", "i-1", 7434),
    ]
    assert [db.key for db in stack.replica_databases] == ["replica0", "replica1"]


def test_replicas_launched_together_are_ordered_by_instance_id(settings):
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [server("i-b", "db-replica"), server("i-a", "db-replica")])
    assert [db.server.instance_id for db in stack.replica_databases] == ["i-a", "i-b"]


def test_no_database_servers(settings):
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [])
    assert stack.primary_database is None
    assert stack.all_databases == []
    assert stack.cache_server is None


def test_dash_h_narrows_only_the_roles_it_names(settings):
    webs = [server("i-1", "web", host="h1"), server("i-2", "web", host="h2")]
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [*webs, server("i-3", "worker", host="h3")])
    narrowed = stack.narrowed(["h2"])
    assert [s.hostname for s in narrowed.by_role("web")] == ["h2"]
    assert [s.hostname for s in narrowed.by_role("worker")] == ["h3"]
    assert stack.narrowed([]) is stack


def test_derived_paths_and_names(settings):
    stack = Stack.from_servers(Environment(settings, "myproject", "testing"), [])
    paths = stack.paths
    assert paths.root == "/home/myproject/www/testing"
    assert paths.log_dir == "/home/myproject/www/testing/log"
    assert paths.code_root == "/home/myproject/www/testing/code_root"
    assert paths.project_root == "/home/myproject/www/testing/code_root/myproject"
    assert paths.virtualenv_root == "/home/myproject/www/testing/env"
    assert paths.media_root == "/home/myproject/www/testing/uploaded_media"
    assert paths.static_root == "/home/myproject/www/testing/static_media"
    assert paths.services == "/home/myproject/services"
    assert paths.nginx_conf == "/etc/nginx/sites-available/myproject-testing.conf"
    assert paths.supervisor_conf == "/etc/supervisor/conf.d/myproject-testing.conf"
    assert paths.server_log_dir == "/var/log/myproject/testing"
    assert paths.own_hosts == "/var/lib/fabulaws/myproject-testing/own-hosts"
    assert paths.local_settings_py == "/home/myproject/www/testing/code_root/myproject/local_settings.py"
    assert (paths.database_name, paths.vhost) == ("myproject_testing", "myproject_testing")
    assert paths.staticfiles_s3_bucket == "myproject-testing-static-files"
    assert paths.gpg_dir == "/home/myproject/backup-info/gnupg"
    assert paths.pgpass_file == "/home/myproject/backup-info/pgpass"
    assert stack.group_name == "myproject-testing-ag"
    assert stack.load_balancer_names == [] and stack.target_group_names == []
    assert (stack.branch, stack.server_port, stack.site_domains) == ("main", 8002, ["testing.example.com"])


def test_log_files_follow_1x_order_then_workers_then_extras(tmp_path):
    text = BASE.read_text() + "celery_workers:\n  main: -c 2\nextra_log_files:\n  /var/log/app.log:\n    tag: app\n    date_format: '%Y'\n"
    (tmp_path / "fabulaws-config.yml").write_text(text)
    stack = Stack.from_servers(Environment(load_settings(tmp_path / "fabulaws-config.yml"), "myproject", "testing"), [])
    logs = stack.log_files
    assert logs[0] == ("munin", "/var/log/munin/munin-node.log", None)
    assert logs[-2] == ("celery", "/var/log/myproject/testing/celeryd-main.log", None)  # supervisord (root) writes it
    assert logs[-1] == ("app", "/var/log/app.log", "%Y")
    assert len(logs) == 13

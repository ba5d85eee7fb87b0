"""PostgreSQL's TLS settings, who may connect, and how its clients verify it (the pure parts; the hosts part is
tests/test_environment_hardened_db.py)."""

from __future__ import annotations

from pathlib import Path

from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.app import template
from fabulaws.remote.files import render
from fabulaws.ubuntu.packages import Node
from fabulaws.ubuntu.packages.postgres import Postgres, replication_conninfo
from fabulaws.ubuntu.tls import CA_CERTIFICATE

BASE = Path(__file__).with_name("configs") / "base.yml"


def node(asked: list[str], **db) -> Node:
    settings = load_settings(BASE)
    settings = settings.model_copy(update={"db_settings": settings.db_settings.model_copy(update=db)})
    return Node(cxn=None, settings=settings, deployment="myproject", environment="testing", role="db-primary",
                address="10.0.1.4", memory_mb=2048, secret=lambda name: "", paths=None,
                networks=lambda: asked.append("vpc") or ["10.7.0.0/16"])


def test_who_may_connect_is_the_vpc_unless_postgresql_networks_says_otherwise():
    asked: list[str] = []
    assert Postgres.networks(node(asked)) == ["10.7.0.0/16"] and asked == ["vpc"]
    assert Postgres.networks(node(asked, postgresql_networks=["10.0.0.0/8"])) == ["10.0.0.0/8"] and asked == ["vpc"]
    assert Postgres.networks(node(asked, postgresql_networks=[])) == []  # explicitly nobody: not the default


def test_tls_settings_name_the_environments_certificate_and_mozillas_intermediate():
    tls = Postgres.tls_settings()
    assert tls["ssl_cert_file"] == "/etc/ssl/fabulaws/postgresql.crt"
    assert tls["ssl_key_file"] == "/etc/ssl/fabulaws/postgresql.key"
    assert tls["ssl_min_protocol_version"] == "TLSv1.2"
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in str(tls["ssl_ciphers"]) and "CBC" not in str(tls["ssl_ciphers"])
    assert "snakeoil" not in str(Postgres(primary=True).wanted_settings(node([])))


def test_replicas_and_pgbouncer_verify_the_server():
    assert replication_conninfo() == f"passfile=/var/lib/postgresql/.pgpass sslmode=verify-full sslrootcert={CA_CERTIFICATE}"
    ini = render(template("pgbouncer.ini"), {
        "deployment": "myproject", "environment": "testing", "pgbouncer_port": 6432, "users_file": "/srv/users.txt",
        "ca_file": CA_CERTIFICATE, "databases": [{"pool": "myproject_testing", "host": "10.0.1.4", "name": "myproject_testing"}],
    })
    assert "server_tls_sslmode = verify-full\n" in ini and f"server_tls_ca_file = {CA_CERTIFICATE}\n" in ini
    assert "require" not in ini

"""The cache role's services without hosts: Redis's one ACL user (its password hashed, the default user off),
memcached's SASL password on stdin only, RabbitMQ's epmd and distribution on localhost, and what the local settings
template gets to reach them. tests/test_environment_hardened_cache.py checks the same on sandbox hosts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.app import ServerApp, django
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.servers import roles
from fabulaws.library.wsgiautoscale.stack import Server, Stack
from fabulaws.secrets import Secrets
from fabulaws.ubuntu.packages import Node, cache

from recording_host import Recorder

BASE = Path(__file__).parent / "configs" / "base.yml"
PASSWORD = 'r3d "is" p@ss/word:#1'


@pytest.fixture(scope="module")
def settings():
    return load_settings(BASE)


def test_redis_has_one_user_with_a_hashed_password_and_no_default_user():
    text = cache.redis_conf("10.0.1.7", "myproject", PASSWORD)
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    assert "user default off" in text.splitlines()
    assert f'user "myproject" on "#{digest}" ~* &* +@all -@admin' in text.splitlines()
    assert PASSWORD not in text and "requirepass" not in text
    assert "bind 10.0.1.7 127.0.0.1" in text.splitlines()


def test_memcached_gets_a_fresh_sasldb_with_the_password_in_a_root_only_file_never_a_command_line(settings):
    host = Recorder()
    node = Node(host, settings, "myproject", "testing", "cache", host.host, 2048, lambda name: PASSWORD, None)
    cache.set_sasl_password(node, "myproject", PASSWORD)
    assert host.files == {cache.MEMCACHED_SASLDB: ("0640", "sasldb: myproject")}, "nothing else left behind"
    assert host.ran("install", "-o", "root", "-g", "memcache", "-m", "0640", cache.MEMCACHED_SASLDB + ".new", cache.MEMCACHED_SASLDB)
    assert not any(PASSWORD in command for command in host.commands)
    secret = cache.MEMCACHED_SASLDB + ".password"
    assert (secret, "root", "root", "0600") in host.written
    assert list(host.uploads.values()) == [PASSWORD + "\n"]
    assert host.ran("saslpasswd2", "-p", "-c", "-a", "memcached", "-f", cache.MEMCACHED_SASLDB + ".new", "myproject", "<", secret)


def test_rabbitmq_keeps_epmd_and_the_distribution_on_localhost():
    env = dict(line.split("=", 1) for line in cache.RABBITMQ_ENV_TEXT.splitlines() if "=" in line and not line.startswith("#"))
    assert env["NODENAME"] == "rabbit@localhost"
    assert env["export ERL_EPMD_ADDRESS"] == "127.0.0.1"
    assert "inet_dist_use_interface {127,0,0,1}" in env["SERVER_ADDITIONAL_ERL_ARGS"]
    assert "inet_dist_use_interface {127,0,0,1}" in env["CTL_ERL_ARGS"]
    assert cache.EPMD_SOCKET_TEXT.splitlines()[-2:] == ["ListenStream=", "ListenStream=127.0.0.1:4369"]


def test_each_cache_service_has_its_own_secret_and_the_application_servers_get_them():
    assert {"broker_password", "redis_password", "memcached_password"} <= set(roles.secrets_needed("cache", False))
    for role in ("web", "worker", "combo"):
        assert {"redis_password", "memcached_password"} <= set(roles.secrets_needed(role, False)), role


def test_the_local_settings_reach_redis_and_memcached_with_their_own_credentials(settings, monkeypatch):
    monkeypatch.setenv("FABULAWS_SECRET_REDIS_PASSWORD", PASSWORD)
    monkeypatch.setenv("FABULAWS_SECRET_MEMCACHED_PASSWORD", "mc pass")
    monkeypatch.setenv("FABULAWS_SECRET_BROKER_PASSWORD", "amqp pass")
    configured = settings.model_copy(update={"secrets": settings.secrets.model_copy(update={"store": "environment"})})
    env = Environment(configured, "myproject", "testing")
    cache_server = Server(instance_id="i-c", role="cache", hostname="i-c.example", private_ip="10.0.1.7",
                          private_dns="ip-10-0-1-7.ec2.internal", public_ip="", public_dns="",
                          availability_zone="us-east-1a", launch_time=datetime(2026, 1, 1, tzinfo=UTC))
    app = ServerApp(Recorder(), configured, Stack.from_servers(env, [cache_server]), ["web"],
                    Secrets(configured, "myproject", "testing"), None)
    url = urlsplit(django.redis_url(app))
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", "10.0.1.7", 6379, "/0")
    assert (unquote(url.username), unquote(url.password)) == ("myproject", PASSWORD)
    assert django.memcached(app) == {"location": "10.0.1.7:11211", "username": "myproject", "password": "mc pass",
                                     "binary": True}
    assert "amqp%20pass" in django.broker_url(app) and PASSWORD not in django.broker_url(app)

    tls = settings.model_copy(update={"secrets": configured.secrets, "redis_tls": True})
    app = ServerApp(Recorder(), tls, Stack.from_servers(Environment(tls, "myproject", "testing"), [cache_server]), ["web"],
                    Secrets(tls, "myproject", "testing"), None)
    url = urlsplit(django.redis_url(app))
    assert (url.scheme, url.hostname, url.port, url.path) == ("rediss", "10.0.1.7", 6379, "/0")
    assert url.query == "ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/fabulaws/ca.crt"


def test_with_redis_tls_redis_speaks_only_tls_with_the_environments_certificate():
    lines = cache.redis_conf("10.0.1.7", "myproject", PASSWORD, tls=True).splitlines()
    assert {"port 0", "tls-port 6379", "tls-cert-file /etc/ssl/fabulaws/redis.crt",
            "tls-key-file /etc/ssl/fabulaws/redis.key", "tls-ca-cert-file /etc/ssl/fabulaws/ca.crt"} <= set(lines)
    assert "port 0" not in cache.redis_conf("10.0.1.7", "myproject", PASSWORD).splitlines()

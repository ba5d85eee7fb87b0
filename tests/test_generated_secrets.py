"""Secrets the tool makes (GENERATED): made once per environment, written to the store, never asked for.

The store first, then the servers' copies: a second operator with a fresh secrets file gets the
environment's CA, not a second one.
"""

from __future__ import annotations

import logging
import os
import stat

import pytest
from fabulaws.aws import Aws
from fabulaws.certificates import CertificateAuthority
from fabulaws.secrets import GENERATED, MissingSecret, Secrets, read_secrets_file

from test_secrets import settings_with


def NONE(name: str) -> None:
    """A server reader for an environment without servers yet."""
    return None


def test_a_file_store_gets_a_new_file_0600_with_the_generated_values(example_project, caplog):
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False, server_reader=NONE)
    with caplog.at_level(logging.DEBUG, logger="fabulaws"):
        password = secrets.get("redis_password")
        ca = secrets.get("tls_ca")
    path = example_project / "fabsecrets_testing.py"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_secrets_file(path) == {"redis_password": password, "tls_ca": ca}
    assert len(password) >= 40 and password not in caplog.text and "PRIVATE KEY" not in caplog.text
    authority = CertificateAuthority.from_pem(ca)
    assert authority.certificate.subject.rfc4514_string() == "CN=FabulAWS myproject testing CA"
    again = Secrets(settings_with(example_project), "myproject", "testing", interactive=False, server_reader=NONE)
    assert again.get("tls_ca") == ca and again.get("redis_password") == password  # read back, not made again


def test_an_existing_file_is_appended_to_and_keeps_its_values(example_project):
    path = example_project / "fabsecrets_testing.py"
    path.write_text("database_password = 'kept'")  # no final newline
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False, server_reader=NONE)
    made = secrets.get("database_replication_password")
    assert read_secrets_file(path) == {"database_password": "kept", "database_replication_password": made}
    assert made != "kept"


def test_the_servers_copy_wins_over_a_new_value_and_is_kept_locally(example_project):
    """A second operator with a fresh file: the environment's CA comes from its servers, no second CA."""
    (example_project / "fabsecrets_testing.py").write_text("database_password = 'x'\n")
    existing = CertificateAuthority.create("theirs").pem
    asked = []
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False,
                      server_reader=lambda name: asked.append(name) or existing)
    assert secrets.get("tls_ca") == existing and asked == ["tls_ca"]
    assert read_secrets_file(example_project / "fabsecrets_testing.py")["tls_ca"] == existing


def test_the_deprecated_shared_file_is_never_written(example_project):
    (example_project / "fabsecrets.py").write_text("database_password = 'shared'\n")
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False, server_reader=NONE)
    with pytest.raises(MissingSecret, match=r"fabsecrets\.py is shared by every environment: move this environment's "
                                            r"secrets to fabsecrets_testing\.py"):
        secrets.get("tls_ca")
    assert (example_project / "fabsecrets.py").read_text() == "database_password = 'shared'\n"
    assert not (example_project / "fabsecrets_testing.py").exists()


def test_the_environment_store_names_the_variable_to_set(example_project, monkeypatch):
    secrets = Secrets(settings_with(example_project, "environment"), "myproject", "testing", interactive=True, server_reader=NONE)
    with pytest.raises(MissingSecret, match=r"secret 'memcached_password' of myproject testing is missing: set "
                                            r"FABULAWS_SECRET_MEMCACHED_PASSWORD"):
        secrets.get("memcached_password")
    monkeypatch.setenv("FABULAWS_SECRET_MEMCACHED_PASSWORD", "set by the operator")
    assert Secrets(secrets.settings, "myproject", "testing").get("memcached_password") == "set by the operator"


def test_ssm_gets_a_secure_string_and_a_second_operator_reads_it_back(example_project, aws_env):
    settings = settings_with(example_project, "ssm")
    first = Secrets(settings, "myproject", "testing", Aws.from_settings(settings), interactive=False, server_reader=NONE)
    made = first.load(["tls_ca", "redis_password"])
    ssm = Aws.from_settings(settings).ssm
    parameter = ssm.get_parameter(Name="/fabulaws/myproject/testing/tls_ca", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == made["tls_ca"]
    second = Secrets(settings, "myproject", "testing", Aws.from_settings(settings), interactive=False, server_reader=NONE)
    assert second.load(["tls_ca", "redis_password"]) == made


def test_ssm_two_operators_at_once_end_with_one_value(example_project, aws_env):
    """The second writer's PutParameter (no overwrite) fails: it reads back and uses the first's value."""
    settings = settings_with(example_project, "ssm")
    late = Secrets(settings, "myproject", "testing", Aws.from_settings(settings), interactive=False, server_reader=NONE)
    assert late.local_only(["redis_password"]) == {"redis_password": None}  # it looked: nothing yet
    early = Secrets(settings, "myproject", "testing", Aws.from_settings(settings), interactive=False, server_reader=NONE)
    value = early.get("redis_password")
    assert late.generate("redis_password") == value


def test_every_generated_name_makes_a_distinct_value():
    values = [GENERATED[name].make("myproject", "testing") for name in sorted(GENERATED)]
    assert len(set(values)) == len(values)
    assert {"database_replication_password", "redis_password", "memcached_password", "tls_ca"} <= set(GENERATED)


def test_without_the_servers_copies_nothing_is_made(example_project):
    """A run that cannot look at the servers (a deploy, say) must not make a second CA for a live environment."""
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=True)
    with pytest.raises(MissingSecret, match=r"secret 'tls_ca' of myproject testing is missing: not in .*"
                                            r"fabsecrets_testing.py \(not found\); update_local_fabsecrets copies it from the servers; where "
                                            r"they have none, update_database_tls \(or creating servers\) makes it"):
        secrets.get("tls_ca")
    assert not (example_project / "fabsecrets_testing.py").exists()


def test_the_ca_key_stays_on_the_database_servers_the_passwords_go_everywhere(example_project):
    from fabulaws.config import load_settings
    from fabulaws.library.wsgiautoscale.environment import Environment
    from fabulaws.library.wsgiautoscale.stack import Server, Stack
    from fabulaws.library.wsgiautoscale.tasks.secrets import holders, travelling_names

    settings = load_settings(example_project / "fabulaws-config.yml")
    found = [Server(f"i-{role}", role, role, f"10.0.0.{n}", "", "", "", "us-east-1a")
             for n, role in enumerate(["db-primary", "db-replica", "cache", "worker", "web"])]
    stack = Stack.from_servers(Environment.of(settings, "myproject", "testing"), found)
    assert sorted(s.role for s in holders(stack, "tls_ca")) == ["db-primary", "db-replica"]
    assert sorted(s.role for s in holders(stack, "database_replication_password")) == ["db-primary", "db-replica"]
    assert len(holders(stack, "redis_password")) == len(holders(stack, "secret_key")) == 5
    names = travelling_names(settings)
    assert names[:len(settings.password_names)] == list(settings.password_names) and set(GENERATED) <= set(names)

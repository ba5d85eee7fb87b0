"""Where secrets come from: fabsecrets_<env>.py (then the deprecated fabsecrets.py), the environment, SSM.

A missing secret without a terminal is one error naming it, never a prompt that hangs.
"""

from __future__ import annotations

import logging

import boto3
import pytest
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.secrets import MissingSecret, Secrets


def settings_with(project, store: str | None = None):
    config = project / "fabulaws-config.yml"
    if store:
        config.write_text(config.read_text() + f"\nsecrets:\n  store: {store}\n")
    return load_settings(config)


def test_the_environment_file_wins_over_the_deprecated_shared_one(example_project, caplog):
    (example_project / "fabsecrets.py").write_text("database_password = 'shared'\nbroker_password = 'shared'\n")
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False)
    with caplog.at_level(logging.WARNING, logger="fabulaws.secrets"):
        assert secrets.get("database_password") == "shared"
    assert "fabsecrets.py is deprecated: put the testing secrets in fabsecrets_testing.py" in caplog.text
    (example_project / "fabsecrets_testing.py").write_text("database_password = 'it\\'s \"$ours\"'\n__private = 'x'\n")
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False)
    assert secrets.get("database_password") == "it's \"$ours\""
    with pytest.raises(MissingSecret, match="secret 'broker_password' of myproject testing is missing: not in .*"
                       "fabsecrets_testing.py; there is no terminal to ask for it"):
        secrets.get("broker_password")


def test_values_from_the_environment(example_project, monkeypatch):
    monkeypatch.setenv("FABULAWS_SECRET_DATABASE_PASSWORD", "from the environment")
    secrets = Secrets(settings_with(example_project, "environment"), "myproject", "testing", interactive=False)
    assert secrets.load(["database_password"]) == {"database_password": "from the environment"}
    with pytest.raises(MissingSecret, match=r"not in the environment \(FABULAWS_SECRET_<NAME>\)"):
        secrets.get("secret_key")


def test_values_from_ssm_parameter_store(example_project, sandbox):
    ssm = boto3.client("ssm", endpoint_url=sandbox.endpoint, region_name="us-east-1")
    for index in range(12):  # more than one GetParameters call (10 names at most each)
        ssm.put_parameter(Name=f"/fabulaws/myproject/testing/name{index}", Value=f"value {index}", Type="SecureString")
    settings = settings_with(example_project, "ssm")
    secrets = Secrets(settings, "myproject", "testing", Aws.from_settings(settings), interactive=False)
    names = [f"name{index}" for index in range(12)]
    assert secrets.load(names) == {f"name{index}": f"value {index}" for index in range(12)}
    with pytest.raises(MissingSecret, match="not in SSM Parameter Store under /fabulaws/myproject/testing/"):
        secrets.get("absent")


def test_a_server_copy_is_used_when_the_store_has_none(example_project):
    asked = []
    secrets = Secrets(settings_with(example_project), "myproject", "testing", interactive=False,
                      server_reader=lambda name: asked.append(name) or "on the server")
    assert secrets.get("secret_key") == "on the server" and asked == ["secret_key"]

"""``fabulaws init [DIR]``: a starter configuration that loads, a 1.x-style fabfile, and no overwriting."""

from __future__ import annotations

import pytest
from fabulaws.config import load_settings
from fabulaws.config.jsonschema import settings_schema

from conftest import run_cli


def test_init_writes_a_configuration_that_loads_and_a_1x_fabfile(tmp_path):
    result = run_cli(["init", "my-site"], tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "my-site"
    settings = load_settings(project / "fabulaws-config.yml")
    assert (settings.project, settings.default_deployment, settings.warnings) == ("my_site", "my_site", [])
    assert "from fabulaws.library.wsgiautoscale.api import *" in (project / "fabfile.py").read_text()
    # the program accepts both: the fabfile's tasks, with one environment task per environment
    listed = run_cli(["--list"], project)
    assert listed.returncode == 0, listed.stderr
    assert {"staging", "production", "deploy-full"} <= {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()}
    selected = run_cli(["staging"], project)  # validates the file, changes nothing
    assert selected.returncode == 0, selected.stderr


def test_init_defaults_to_the_working_directory_and_takes_a_project_name(tmp_path):
    result = run_cli(["init", "--project", "shop"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert load_settings(tmp_path / "fabulaws-config.yml").deployments == ["shop"]


def test_the_starter_satisfies_the_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    assert run_cli(["init"], tmp_path).returncode == 0
    data = yaml.safe_load((tmp_path / "fabulaws-config.yml").read_text())
    assert list(jsonschema.Draft202012Validator(settings_schema()).iter_errors(data)) == []


@pytest.mark.parametrize("existing", ["fabulaws-config.yml", "fabfile.py", "fabulaws-config.yaml"])
def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path, existing):
    (tmp_path / existing).write_text("mine\n")
    result = run_cli(["init"], tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"fabulaws init: {existing} already exists; nothing written (move it away or pick another directory)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert (tmp_path / existing).read_text() == "mine\n"

"""Environment-keyed maps are checked for every configured environment at load (issue 11, part 7): a gap or a
bad value of the environment being worked on is one line (file:line and key) before any AWS call; the same in
another environment is a warning, so a real 1.x file with a half-filled entry for an unused environment loads."""

from __future__ import annotations

import pytest
from fabulaws.config import load_settings

from conftest import run_cli

NO_AWS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}


def half_filled(project):
    """production as 1.x files often have it: an empty domain list and no branch (nobody deploys it from here)."""
    config = project / "fabulaws-config.yml"
    text = config.read_text()
    for old, new in (("  production: [myproject.sandbox.test]", "  production: []"),
                     ("    staging: main\n    production: main", "    staging: main")):
        assert old in text
        text = text.replace(old, new)
    config.write_text(text)
    return config


def line_of(config, needle: str, after: int = 0) -> int:
    return next(n for n, line in enumerate(config.read_text().splitlines(), 1) if n > after and line.startswith(needle))


def branches_line(config) -> int:
    return line_of(config, "  myproject:", after=line_of(config, "branches:"))


@pytest.mark.parametrize("command", [
    ["deploy_serial:myproject,production,answer=y"],
    ["deploy_full:myproject,production,answer=y,num_web=1"],
    ["suspend_autoscaling_processes:myproject,production"],
    ["production:answer=y", "deploy_worker"],
])
def test_a_gap_in_the_selected_environment_is_one_line_before_any_aws_call(example_project, command):
    config = half_filled(example_project)
    result = run_cli(command, example_project, env=NO_AWS)
    branches = branches_line(config)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == (
        f"fabulaws: fabulaws-config.yml:{branches}: branches.myproject: no entry for environment 'production' "
        "(expected branches.myproject.production) (and 1 more problem for production)\n")
    assert not (example_project / ".fabulaws").exists()


def test_the_same_gap_in_another_environment_is_a_warning(example_project, aws_env):
    config = half_filled(example_project)
    result = run_cli(["describe:myproject,testing"], example_project, env=aws_env)
    assert result.returncode == 0, result.stderr
    domains = line_of(config, "site_domains_map:") + 3
    assert result.stderr.splitlines() == [
        f"fabulaws-config.yml:{branches_line(config)}: warning: branches.myproject: no entry for environment "
        "'production' (expected branches.myproject.production) (only a problem when working on production)",
        f"fabulaws-config.yml:{domains}: warning: site_domains_map.production: expected at least one site domain for "
        "this environment (only a problem when working on production)",
    ]


def test_a_bad_port_of_the_selected_environment_names_file_line_and_key(example_project):
    config = example_project / "fabulaws-config.yml"
    config.write_text(config.read_text().replace("  staging: 8000", "  staging: eighty"))
    result = run_cli(["staging", "deploy_web"], example_project, env=NO_AWS)
    assert (result.returncode, result.stderr) == (
        2, f"fabulaws: fabulaws-config.yml:{line_of(config, '  staging: eighty')}: server_ports.staging: expected an "
           "integer, got 'eighty'\n")


def test_a_lookup_of_a_bad_value_raises_it_too(example_project):
    """1.x fabfiles read settings through the api without a task: the lookup itself refuses the bad value."""
    config = half_filled(example_project)
    settings = load_settings(config)
    with pytest.raises(Exception, match="site_domains_map.production: expected at least one site domain"):
        settings.environment_setting("site_domains_map", "production")
    assert settings.environment_setting("site_domains_map", "testing") == ["myproject-testing.sandbox.test"]

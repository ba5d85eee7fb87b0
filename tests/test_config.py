"""fabulaws-config.yml: the 1.x sample, the example project, lookups, and the bad-config corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError

HERE = Path(__file__).parent
BASE = (HERE / "configs" / "base.yml").read_text()
BAD_CASES = yaml.safe_load((HERE / "configs" / "bad_cases.yml").read_text())
SAMPLE_1X = HERE / "data" / "fabulaws-1x-sample" / "fabulaws-config.yaml"
EXAMPLE = HERE.parent / "examples" / "myproject" / "fabulaws-config.yml"


def write_config(directory: Path, text: str, name: str = "fabulaws-config.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_the_1x_sample_loads_as_it_is_with_one_warning_per_unused_key():
    settings = load_settings(SAMPLE_1X)
    assert settings.warnings == [
        "fabulaws-config.yaml:6: warning: instance_settings.run_upgrade is deprecated: 1.x never used it; remove it",
        "fabulaws-config.yaml:8: warning: instance_settings.secure_root is deprecated: 1.x never used it; "
        "remove it (the data volume mounts at app_root)",
        "fabulaws-config.yaml:9: warning: instance_settings.secure_home is deprecated: 1.x never used it; remove it",
        "fabulaws-config.yaml:19: warning: database_host is deprecated: 1.x never used it; remove it",
        "fabulaws-config.yaml:25: warning: disable_known_hosts is deprecated: host keys are always verified now "
        "(recorded on first contact); remove it",
        "fabulaws-config.yaml:39: warning: logstash_config is deprecated: 1.x never used it; remove it",
    ]
    assert settings.valid_roles == ["cache", "db-master", "db-slave", "web", "worker"]
    assert settings.role_setting("instance_types", "production", "db-master") == "m3.xlarge"
    assert settings.role_setting("volume_types", "staging", "web") == "gp2"  # flat role map
    assert settings.deployment_setting("auto_scaling_groups", "myproject", "testing") == "myproject-testing-ag"
    assert settings.db_settings.postgresql_settings["max_connections"] == "80"
    assert settings.static_html["upgrade_message"] == SAMPLE_1X.parent / "deployment/templates/html/503.html"
    assert settings.ssh_keys == SAMPLE_1X.parent / "deployment/users"


def test_the_example_project_loads_without_warnings():
    settings = load_settings(EXAMPLE)
    assert settings.warnings == []
    assert settings.subnets == {"a": "myproject-a", "b": "myproject-b"}
    assert settings.deployment_setting("target_groups", "myproject", "staging") == ["myproject-staging-tg"]


def test_yaml_extension_and_working_directory_discovery(tmp_path, monkeypatch):
    from fabulaws.config import find_config_file

    write_config(tmp_path, BASE, "fabulaws-config.yaml")
    monkeypatch.chdir(tmp_path)
    assert find_config_file() == tmp_path / "fabulaws-config.yaml"
    assert load_settings().project == "myproject"


def test_no_config_file_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no fabulaws-config.yml .or fabulaws-config.yaml. found"):
        load_settings()


def test_subnets_accept_zone_letters_and_full_zone_names(tmp_path):
    path = write_config(tmp_path, BASE + "subnets:\n  a: subnet-0aaa\n  us-east-1b: subnet-0bbb\n")
    assert load_settings(path).subnets == {"a": "subnet-0aaa", "b": "subnet-0bbb"}


def test_full_zone_names_in_avail_zones_become_letters(tmp_path):
    path = write_config(tmp_path, BASE.replace("avail_zones: [a, b]", "avail_zones: [us-east-1a, b]"))
    assert load_settings(path).avail_zones == ["a", "b"]


def test_db_settings_are_defaulted_before_use(tmp_path):
    settings = load_settings(write_config(tmp_path, BASE))
    assert settings.db_settings.postgresql_packages == ["postgresql", "libpq-dev"]
    assert settings.db_settings.postgresql_networks is None  # the VPC's CIDR blocks, discovered on the server
    assert settings.production_environments == ["production"]
    assert settings.gunicorn_worker_multiplier == 4


def test_false_means_unset_for_optional_log_hosts(tmp_path):
    assert load_settings(write_config(tmp_path, BASE + "gelf_log_host: false\n")).gelf_log_host is None
    settings = load_settings(write_config(tmp_path, BASE + "gelf_log_host: gelf.example.com\nlog_host: old.example.com\n"))
    assert settings.gelf_log_host == "gelf.example.com"  # an explicit gelf_log_host wins over the deprecated log_host
    settings = load_settings(write_config(tmp_path, BASE + "log_host: logs.example.com\n"))
    assert settings.gelf_log_host == "logs.example.com"
    assert settings.warnings == [
        "fabulaws-config.yml:44: warning: log_host is deprecated: use gelf_log_host instead (its value is used for gelf_log_host)"
    ]


@pytest.mark.parametrize(
    ("key", "key1", "key2", "expected"),
    [
        ("instance_types", "production", "web", "c5.large"),  # nested env -> role
        ("instance_types", "testing", "web", "t3.small"),  # env not nested: flat role map
        ("security_groups", "testing", "web", ["myproject-sg", "myproject-web-sg"]),
        ("branches", "myproject", "testing", "main"),
    ],
)
def test_the_1x_lookup_rule(tmp_path, key, key1, key2, expected):
    settings = load_settings(write_config(tmp_path, BASE))
    getter = settings.role_setting if key in ("instance_types", "security_groups") else settings.deployment_setting
    assert getter(key, key1, key2) == expected


def test_a_nested_map_without_the_inner_key_does_not_fall_back(tmp_path):
    settings = load_settings(write_config(tmp_path, BASE))
    with pytest.raises(ConfigError) as caught:
        settings.role_setting("instance_types", "production", "worker")
    assert str(caught.value) == (
        "fabulaws-config.yml:30: instance_types.production: no entry for role 'worker' "
        "(expected instance_types.production.worker)"
    )


def test_a_value_applying_to_every_inner_key(tmp_path):
    text = BASE.replace("  myproject:\n    testing: main\n    production: main", "  myproject: develop")
    settings = load_settings(write_config(tmp_path, text))
    assert settings.deployment_setting("branches", "myproject", "production") == "develop"


def test_missing_entries_name_the_key_to_add(tmp_path):
    settings = load_settings(write_config(tmp_path, BASE))
    with pytest.raises(ConfigError) as caught:
        settings.role_setting("volume_sizes", "testing", "cache")
    assert str(caught.value) == (
        "fabulaws-config.yml:34: volume_sizes: no value for environment 'testing' and role 'cache' "
        "(expected volume_sizes.testing.cache or volume_sizes.cache)"
    )
    assert settings.deployment_setting("target_groups", "myproject", "testing", default=[]) == []


def build_case(case: dict) -> str:
    text = case.get("text", BASE)
    for old, new in case.get("replace", []):
        assert old in text, f"case {case['name']}: {old!r} is not in base.yml"
        text = text.replace(old, new, 1)
    return text + case.get("append", "")


def test_the_corpus_is_large_and_every_case_distinct():
    assert len(BAD_CASES) >= 30
    assert len({case["name"] for case in BAD_CASES}) == len(BAD_CASES)
    assert len({case["expect"] for case in BAD_CASES}) == len(BAD_CASES)


@pytest.mark.parametrize("case", BAD_CASES, ids=[case["name"] for case in BAD_CASES])
def test_bad_config_gets_its_exact_one_line_error(tmp_path, case):
    path = write_config(tmp_path, build_case(case))
    with pytest.raises(ConfigError) as caught:
        settings = load_settings(path)
        if "environment" in case:  # loads: the problem is that environment's, found when it is selected
            other = next(env for env in settings.environments if env != case["environment"])
            location, rest = case["expect"].split(": ", 1)
            assert settings.check_environment(other) == [
                f"{location}: warning: {rest} (only a problem when working on {case['environment']})"]
            settings.check_environment(case["environment"])
    message = str(caught.value)
    assert message == case["expect"]
    assert "\n" not in message
    assert message.startswith("fabulaws-config.yml")


def test_the_annotated_example_loads_and_mentions_every_key():
    from fabulaws.config import DbSettings, InstanceSettings, Settings
    from fabulaws.config.schema import SecretsSettings

    example = HERE.parent / "fabulaws-config.yml.example"
    load_settings(example)
    text = example.read_text()
    for model in (Settings, InstanceSettings, DbSettings, SecretsSettings):
        for key in model.model_fields:
            assert f"{key}:" in text, f"{key} is not documented in fabulaws-config.yml.example"

"""Monitoring without hosts: New Relic's apt source and configuration, munin-node's allowed networks and the master's
node list, what a new server installs after setup (and in which order), and pgtune's sizing for postgresql_tune."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
import yaml
from fabulaws.aws.network import vpc_networks
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError, DeployError
from fabulaws.library.wsgiautoscale.app import newrelic
from fabulaws.library.wsgiautoscale.environment import Environment
from fabulaws.library.wsgiautoscale.servers import post_setup
from fabulaws.library.wsgiautoscale.stack import Server, Stack
from fabulaws.library.wsgiautoscale.tasks.monitoring import munin_master_conf
from fabulaws.ubuntu.packages import Node, monitoring
from fabulaws.ubuntu.packages.postgres import Postgres, tuned_settings

from recording_host import Recorder

BASE = Path(__file__).parent / "configs" / "base.yml"
LICENSE = "nr-license-$(id) \"quoted\""


@pytest.fixture(scope="module")
def settings():
    return load_settings(BASE)


def configured(settings, **changes):
    return settings.model_copy(update=changes)


# --- New Relic ---------------------------------------------------------------------------------------------
def test_the_source_trusts_new_relics_key_for_its_own_repository_only():
    line = monitoring.newrelic_source_line("bookworm", "amd64")
    assert line == ("deb [arch=amd64 signed-by=/etc/apt/keyrings/newrelic-infra.asc] "
                    "https://download.newrelic.com/infrastructure_agent/linux/apt/ bookworm main\n")


def test_the_infrastructure_conf_has_the_key_and_1x_custom_attributes():
    text = monitoring.newrelic_infra_yml(LICENSE, "my-project", "staging", "db-primary")
    assert yaml.safe_load(text) == {
        "license_key": LICENSE,
        "custom_attributes": {"environment": "Staging", "role": "DbPrimary", "deployment": "MyProject"},
    }


def test_the_repository_is_added_with_its_key_in_etc_apt_keyrings_and_no_apt_key():
    host = Recorder()
    assert monitoring.add_newrelic_repository(host) == "bookworm"
    assert host.files[monitoring.NEWRELIC_KEYRING][0] == "0644"
    assert host.files[monitoring.NEWRELIC_SOURCE] == ("0644", monitoring.newrelic_source_line("bookworm", "amd64"))
    assert not any("apt-key" in command or "| bash" in command or "|bash" in command for command in host.commands)


def test_a_key_that_cannot_be_downloaded_is_one_line_and_apt_is_left_as_it_was():
    host = Recorder(key_download_fails=True)
    with pytest.raises(DeployError, match="cannot download New Relic's apt key from https://download.newrelic.com/.*"
                                          "Could not resolve host") as error:
        monitoring.add_newrelic_repository(host)
    assert "\n" not in str(error.value)
    assert monitoring.NEWRELIC_SOURCE not in host.files and monitoring.NEWRELIC_KEYRING not in host.files


def test_tasks_that_need_the_license_key_say_so_in_one_line(settings):
    with pytest.raises(ConfigError, match="^password_names: add newrelic_license_key to run update_newrelic_keys$"):
        newrelic.require_license(configured(settings, password_names=[]), "update_newrelic_keys")


# --- munin ---------------------------------------------------------------------------------------------------
DEBIAN_MUNIN_CONF = "log_level 4\nallow ^127\\.0\\.0\\.1$\nallow ^::1$\n\nhost *\nport 4949\n"


def test_munin_node_answers_only_the_networks_given_and_rerunning_changes_nothing():
    once = monitoring.munin_node_conf(DEBIAN_MUNIN_CONF, ["10.3.0.0/16"])
    assert once.endswith(f"port 4949\n\n{monitoring.MUNIN_MARKER}\ncidr_allow 10.3.0.0/16\n")
    assert monitoring.munin_node_conf(once, ["10.3.0.0/16"]) == once
    moved = monitoring.munin_node_conf(once, ["10.4.0.0/16", "10.5.0.0/16"])
    assert [line for line in moved.splitlines() if line.startswith("cidr_allow")] == [
        "cidr_allow 10.4.0.0/16", "cidr_allow 10.5.0.0/16"]


def test_munin_allows_the_servers_vpc(aws_env):
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    warnings: list[str] = []
    assert post_setup.munin_networks(ec2, [instance], warnings.append) == ["10.7.0.0/16"]
    assert warnings == []
    assert vpc_networks(ec2, []) == []


def test_without_a_vpc_munin_allows_1x_private_networks_with_a_warning(aws_env):
    warnings: list[str] = []
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert post_setup.munin_networks(ec2, [], warnings.append) == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert len(warnings) == 1 and "allowing every private network as 1.x did" in warnings[0]


def server(instance_id: str, role: str, ip: str) -> Server:
    return Server(instance_id=instance_id, role=role, hostname=f"{instance_id}.example", private_ip=ip,
                  private_dns=f"ip-{ip.replace('.', '-')}.ec2.internal", public_ip="", public_dns="",
                  availability_zone="us-east-1a", launch_time=datetime(2026, 1, 1, tzinfo=UTC))


def test_the_master_conf_lists_every_server_by_role(settings):
    servers = [server("i-w1", "worker", "10.0.1.9"), server("i-c", "cache", "10.0.1.7"), server("i-w2", "web", "10.0.1.8")]
    text = munin_master_conf(Stack.from_servers(Environment(settings, "myproject", "testing"), servers))
    assert text.splitlines()[:5] == [
        "# cache", "[myproject_testing;cache;ip-10-0-1-7.ec2.internal]", "    address 10.0.1.7", "    use_node_name yes", ""]
    for s in servers:
        assert f"[myproject_testing;{s.role};{s.private_dns}]\n    address {s.private_ip}\n" in text
    assert text.index("# web") < text.index("# worker")


# --- what a new server installs after setup --------------------------------------------------------------------
def names(settings) -> list[str]:
    return [name for name, _ in post_setup.steps(settings, lambda: ["10.0.0.0/16"])]


def test_post_setup_runs_new_relic_then_munin_as_1x_did(settings):
    both = configured(settings, password_names=["database_password", "newrelic_license_key"], munin_node=True)
    assert names(both) == ["New Relic infrastructure agent", "munin-node"]
    assert post_setup.secrets_needed(both) == ["newrelic_license_key"]
    logging_too = configured(both, syslog_server="10.0.0.9:514")
    assert names(logging_too) == ["New Relic infrastructure agent", "munin-node", "rsyslog (syslog)"]


def test_post_setup_installs_nothing_unless_configured(settings):
    bare = configured(settings, password_names=["database_password"])
    assert names(bare) == [] and post_setup.secrets_needed(bare) == []
    assert names(configured(bare, munin_node=True)) == ["munin-node"]
    opted_out = configured(bare, password_names=["newrelic_license_key"], newrelic_infrastructure_agent=False)
    assert names(opted_out) == [] and post_setup.secrets_needed(opted_out) == []


# --- postgresql_tune -------------------------------------------------------------------------------------------
def wanted(settings, memory_mb: int, **db) -> dict:
    db_settings = settings.db_settings.model_copy(update=db)
    node = Node(cxn=None, settings=configured(settings, db_settings=db_settings), deployment="myproject",
                environment="testing", role="db-primary", address="10.0.1.4", memory_mb=memory_mb,
                secret=lambda name: "", paths=None)
    return Postgres(primary=True).wanted_settings(node)


def test_pgtune_workload_types_size_connections_and_memory():
    web, dw, desktop = tuned_settings(4096, "Web"), tuned_settings(4096, "DW"), tuned_settings(4096, "Desktop")
    assert web["max_connections"] == 200 and web["shared_buffers"] == "1024MB" and web["effective_cache_size"] == "3072MB"
    assert web["work_mem"] == "5242kB"  # (4096 - 1024) MiB / (200 x 3)
    assert dw["max_connections"] == 40 and dw["maintenance_work_mem"] == "512MB" and dw["default_statistics_target"] == 500
    assert desktop["effective_cache_size"] == "1024MB" and desktop["shared_buffers"] == "256MB"


def test_postgresql_tune_type_is_used_only_with_postgresql_tune_and_explicit_settings_win(settings):
    assert wanted(settings, 4096, postgresql_tune_type="OLTP")["max_connections"] == 80  # tune off: as before
    tuned = wanted(settings, 4096, postgresql_tune=True, postgresql_tune_type="OLTP",
                   postgresql_settings={"work_mem": "8MB"})
    assert tuned["max_connections"] == 300 and tuned["work_mem"] == "8MB"


def test_an_unknown_workload_type_is_refused_at_load(tmp_path):
    text = BASE.read_text() + "\ndb_settings:\n  postgresql_tune_type: Gaming\n"
    if "\ndb_settings:" in BASE.read_text():
        pytest.skip("base.yml already has db_settings")
    path = tmp_path / "fabulaws-config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="postgresql_tune_type"):
        load_settings(path)


def test_without_an_upload_munin_conf_task_the_node_list_goes_to_a_local_file(aws_env, example_project):
    from fabulaws.aws import Aws
    from fabulaws.sandbox.seed import seed

    from conftest import run_cli
    from test_describe import launch_role

    settings = load_settings(example_project / "fabulaws-config.yml")
    aws = Aws.from_settings(settings)
    seed(aws, settings)
    ids = [launch_role(aws, settings, role, "a") for role in ("cache", "worker")]
    result = run_cli(["generate_and_upload_munin_conf:myproject,testing"], example_project)
    assert result.returncode == 0, result.stderr
    path = example_project / ".fabulaws" / "munin-myproject-testing.conf"
    assert f"is in {path.relative_to(example_project)}" in result.stdout + result.stderr
    text = path.read_text()
    instances = aws.ec2.describe_instances(InstanceIds=ids)["Reservations"]
    for instance in (i for r in instances for i in r["Instances"]):
        assert f"    address {instance['PrivateIpAddress']}\n" in text
    assert text.count("    address ") == 2 and "# cache" in text and "# worker" in text

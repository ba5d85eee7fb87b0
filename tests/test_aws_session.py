"""Which profile, region and retry settings the clients use: the AWS CLI's order, with the project file
between the environment and the profile. Real HTTP to moto; a temporary AWS config file per test."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError, UsageError

from conftest import EXAMPLE, run_cli

AWS_CONFIG = """\
[default]
region = ap-south-1

[profile fromfile]
region = eu-north-1
aws_access_key_id = AKIDFROMFILE
aws_secret_access_key = secret

[profile fromenv]
region = eu-central-1
aws_access_key_id = AKIDFROMENV
aws_secret_access_key = secret

[profile fromflag]
region = ca-central-1
aws_access_key_id = AKIDFROMFLAG
aws_secret_access_key = secret

[profile retries]
retry_mode = adaptive
max_attempts = 4
"""


@pytest.fixture
def aws_config(aws_env, tmp_path, monkeypatch) -> Path:
    """moto, plus a config file with profiles; no region or profile in the environment."""
    path = tmp_path / "aws-config"
    path.write_text(AWS_CONFIG)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_RETRY_MODE",
                     "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(variable, raising=False)
    return path


def access_key(aws: Aws) -> str:
    return aws.session.get_credentials().access_key


# --- region -----------------------------------------------------------------------------------------------
def test_the_profiles_region_when_nothing_else_names_one(aws_config):
    assert Aws().region == "ap-south-1"


def test_the_project_file_beats_the_profiles_region(aws_config):
    assert Aws(project_region="us-east-1").region == "us-east-1"


def test_aws_default_region_beats_the_project_file(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws = Aws.from_settings(load_settings(EXAMPLE / "fabulaws-config.yml"))  # region: us-east-1
    assert aws.ec2.meta.region_name == "eu-west-1"
    assert aws.region_source == "AWS_DEFAULT_REGION"


def test_aws_region_beats_aws_default_region(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert Aws(project_region="us-east-1").region == "eu-west-3"


def test_the_flag_beats_the_environment(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    aws = Aws(region="sa-east-1", project_region="us-east-1")
    assert (aws.region, aws.region_source) == ("sa-east-1", "--region")


def test_calls_go_to_the_chosen_region(aws_config, monkeypatch):
    """Observable in AWS: a security group created through our client exists in that region only."""
    import boto3

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    Aws(project_region="us-east-1").ec2.create_security_group(GroupName="chosen", Description="d")
    names = {region: [g["GroupName"] for g in boto3.client("ec2", region_name=region).describe_security_groups()["SecurityGroups"]]
             for region in ("eu-west-1", "us-east-1")}
    assert "chosen" in names["eu-west-1"] and "chosen" not in names["us-east-1"]


def test_no_region_anywhere_is_one_line(aws_env, monkeypatch):
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError) as caught:
        Aws()
    assert str(caught.value) == (
        "no AWS region: pass --region, set AWS_REGION, add region: to fabulaws-config.yml, "
        "or set region for the profile in ~/.aws/config"
    )


# --- profile ----------------------------------------------------------------------------------------------
def test_the_project_files_profile_when_the_environment_names_none(aws_config):
    aws = Aws(project_profile="fromfile")
    assert (access_key(aws), aws.region) == ("AKIDFROMFILE", "eu-north-1")


def test_aws_profile_beats_the_project_files_profile(aws_config, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_PROFILE", "fromenv")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    aws = Aws.from_settings(example_settings(tmp_path, "region: us-east-1\n", "aws_profile: fromfile\n"))
    assert access_key(aws) == "AKIDFROMENV"
    assert aws.profile.source == "AWS_PROFILE"


def test_the_flag_beats_aws_profile(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "fromenv")
    aws = Aws(profile="fromflag", project_profile="fromfile")
    assert (access_key(aws), aws.region) == ("AKIDFROMFLAG", "ca-central-1")


def test_the_project_files_region_beats_the_chosen_profiles_region(aws_config):
    assert Aws(project_profile="fromfile", project_region="us-east-2").region == "us-east-2"


def test_a_missing_profile_is_one_line_naming_where_it_came_from(aws_config):
    with pytest.raises(ConfigError, match=r"^AWS profile 'nope' \(from aws_profile in fabulaws-config.yml\) is not in "):
        Aws(project_profile="nope")
    with pytest.raises(UsageError, match=r"^AWS profile 'typo' \(from --profile\) is not in "):
        Aws(profile="typo")


def test_account_is_the_callers(aws_config):
    assert Aws(project_region="us-east-1").account == "123456789012"  # moto's default account


# --- retries ----------------------------------------------------------------------------------------------
def test_retries_default_to_standard_mode_and_10_attempts(aws_config):
    aws = Aws.from_settings(load_settings(EXAMPLE / "fabulaws-config.yml"))
    assert aws.ec2.meta.config.retries == {"mode": "standard", "total_max_attempts": 10}


def test_retry_settings_from_the_environment_win(aws_config, monkeypatch):
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    aws = Aws.from_settings(load_settings(EXAMPLE / "fabulaws-config.yml"))
    assert aws.ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 3}


def test_retry_settings_from_the_profile_win(aws_config):
    aws = Aws(profile="retries", project_region="us-east-1")
    assert aws.ec2.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 4}


class _Failing(http.server.BaseHTTPRequestHandler):
    """An endpoint that always answers 503 (retryable) and counts the requests."""

    count = 0

    def do_POST(self):  # noqa: N802 - http.server's naming
        type(self).count += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<Response><Errors><Error><Code>ServiceUnavailable</Code></Error></Errors></Response>"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_aws_max_attempts_is_the_number_of_requests_sent(aws_config, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        _Failing.count = 0
        with pytest.raises(ClientError):
            Aws(project_region="us-east-1").ec2.describe_regions()
        assert _Failing.count == 2
    finally:
        server.shutdown()
        server.server_close()


# --- the project file and the command line ----------------------------------------------------------------
def without_region(directory: Path) -> Path:
    text = (EXAMPLE / "fabulaws-config.yml").read_text().replace("region: us-east-1\n", "")
    path = directory / "fabulaws-config.yml"
    path.write_text(text)
    return path


def example_settings(directory: Path, old: str, new: str):
    """The example project's settings with one line replaced."""
    text = (EXAMPLE / "fabulaws-config.yml").read_text()
    assert old in text
    path = directory / "fabulaws-config.yml"
    path.write_text(text.replace(old, new))
    return load_settings(path)


def test_region_may_be_left_out_of_the_project_file(aws_config, tmp_path):
    settings = load_settings(without_region(tmp_path))
    assert settings.region is None
    assert Aws.from_settings(settings).region == "ap-south-1"  # the default profile's


def test_full_zone_names_without_a_region_must_share_one(tmp_path):
    path = without_region(tmp_path)
    path.write_text(path.read_text().replace("avail_zones: [a, b]", "avail_zones: [eu-west-1a, us-east-1b]"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == (
        "fabulaws-config.yml:13: avail_zones[1]: expected a zone of eu-west-1 like the zones before it "
        "(or a letter such as 'a'), got 'us-east-1b'"
    )


def make_group(region: str) -> None:
    """The example's testing group, in ``region`` (so a task there gets as far as changing it)."""
    import boto3

    boto3.client("ec2", region_name=region).create_launch_template(
        LaunchTemplateName="myproject-testing-ag", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    boto3.client("autoscaling", region_name=region).create_auto_scaling_group(
        AutoScalingGroupName="myproject-testing-ag", LaunchTemplate={"LaunchTemplateName": "myproject-testing-ag"},
        MinSize=0, MaxSize=0, AvailabilityZones=[region + "a"],
    )


def suspended(region: str) -> list[str]:
    import boto3

    group = boto3.client("autoscaling", region_name=region).describe_auto_scaling_groups(
        AutoScalingGroupNames=["myproject-testing-ag"])["AutoScalingGroups"][0]
    return [process["ProcessName"] for process in group["SuspendedProcesses"]]


SUSPEND = "suspend_autoscaling_processes:myproject,testing,Launch"


@pytest.mark.parametrize(
    "args, env, region",
    [
        ([], {}, "us-east-1"),  # the project file
        ([], {"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ([], {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-3"}, "eu-west-3"),
        (["--region", "sa-east-1"], {"AWS_REGION": "eu-west-3"}, "sa-east-1"),
    ],
    ids=["file", "AWS_DEFAULT_REGION", "AWS_REGION", "--region"],
)
def test_the_command_line_run_uses_the_same_order(aws_config, example_project, args, env, region):
    """The group of every candidate region exists; only the chosen one is changed, and the run says which."""
    candidates = ("us-east-1", "eu-west-1", "eu-west-3", "sa-east-1")
    for candidate in candidates:
        make_group(candidate)
    result = run_cli([*args, SUSPEND], example_project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"fabulaws: account 123456789012, region {region}, myproject/testing"]
    assert {candidate: suspended(candidate) for candidate in candidates} == {
        candidate: ["Launch"] if candidate == region else [] for candidate in candidates
    }


def test_the_profile_flag_beats_aws_profile_on_the_command_line(aws_config, tmp_path):
    """Without region in the file, the region used is the chosen profile's."""
    without_region(tmp_path)
    make_group("eu-central-1")  # fromenv's region
    make_group("ca-central-1")  # fromflag's region
    result = run_cli([SUSPEND], tmp_path, env={"AWS_PROFILE": "fromenv"})
    assert result.stderr.splitlines() == ["fabulaws: account 123456789012, region eu-central-1, myproject/testing"]
    result = run_cli(["--profile", "fromflag", SUSPEND], tmp_path, env={"AWS_PROFILE": "fromenv"})
    assert result.stderr.splitlines() == ["fabulaws: account 123456789012, region ca-central-1, myproject/testing"]
    assert (suspended("eu-central-1"), suspended("ca-central-1")) == (["Launch"], ["Launch"])


def test_a_mistyped_profile_flag_is_one_line_and_exit_2(aws_config, example_project):
    result = run_cli(["--profile", "typo", SUSPEND], example_project)
    assert result.returncode == 2
    assert result.stderr.startswith("fabulaws: AWS profile 'typo' (from --profile) is not in ")
    assert len(result.stderr.splitlines()) == 1

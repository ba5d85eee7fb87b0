"""Log shipping without hosts: the configuration keys, what rsyslog and the CloudWatch Logs shipper are given, and
the shipper itself against moto (real HTTP), including credentials from an instance metadata endpoint.

The hosts test (test_environment_logs.py) runs all of it on a sandbox server with real receivers.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import yaml
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError
from fabulaws.library.wsgiautoscale.servers import logs
from fabulaws.ubuntu import logshipper

from conftest import run_cli
from test_arguments import NO_AWS


def settings_with(project, **values):
    path = project / "fabulaws-config.yml"
    config = yaml.safe_load(path.read_text())
    config.update(values)
    path.write_text(yaml.safe_dump(config))
    return load_settings(path)


# --- configuration ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("logs.example.com", logs.Endpoint("logs.example.com", 514, "udp")),
    ("logs.example.com:1514", logs.Endpoint("logs.example.com", 1514, "udp")),
    ("udp://10.0.0.1:99", logs.Endpoint("10.0.0.1", 99, "udp")),
    ("tcp://10.0.0.1", logs.Endpoint("10.0.0.1", 514, "tcp")),
])
def test_a_receiver_is_host_port_over_udp_as_1x_or_tcp(value, expected):
    assert logs.endpoint(value, 514) == expected


@pytest.mark.parametrize("key,value", [
    ("syslog_server", "logs.example.com:port"),
    ("syslog_server", "http://logs.example.com"),
    ("gelf_log_host", "*.* @@logs.example.com:514"),  # raw rsyslog configuration is for syslog_server only
])
def test_a_bad_receiver_is_one_line_naming_the_key(example_project, key, value):
    with pytest.raises(ConfigError) as caught:
        settings_with(example_project, **{key: value})
    message = str(caught.value)
    assert "\n" not in message and key in message and "expected host, host:port" in message


def test_awslogs_access_key_id_still_works_with_a_warning_naming_its_replacement(example_project):
    settings = settings_with(example_project, awslogs_access_key_id="AKIAEXAMPLE")
    assert any("awslogs_access_key_id is deprecated" in w and "cloudwatch_logs" in w for w in settings.warnings)
    assert logs.cloudwatch(settings) is not None
    assert logs.secrets_needed(settings) == ["awslogs_secret_access_key"]
    assert logs.shipper_config(settings, "myproject", "testing", "web", "us-east-1")["credentials_file"] == logs.SHIPPER_CREDENTIALS


def test_nothing_is_shipped_unless_configured(example_project):
    settings = settings_with(example_project)
    assert (logs.configured(settings), logs.cloudwatch(settings), logs.secrets_needed(settings)) == ([], None, [])


def test_new_servers_get_what_is_configured_as_1x(example_project):
    settings = settings_with(example_project, syslog_server="logs:514", gelf_log_host="graylog", cloudwatch_logs=True)
    assert [name for name, _ in logs.configured(settings)] == ["rsyslog (GELF and syslog)", "CloudWatch Logs shipper"]
    assert logs.secrets_needed(settings) == []  # the instance role: no key pair
    config = logs.shipper_config(settings, "myproject", "testing", "web", None)
    assert config["credentials_file"] is None and config["region"] == settings.region  # None: the instance's own


# --- rsyslog ------------------------------------------------------------------------------------------------------
def test_the_rsyslog_file_reads_every_log_file_extra_log_files_included(example_project):
    settings = settings_with(example_project, syslog_server="10.0.0.1:5140",
                             extra_log_files={"/srv/app/audit.log": {"tag": "audit"}})
    text = logs.rsyslog_conf(settings, "myproject", "testing", "worker")
    inputs = re.findall(r'input\(type="imfile" File="([^"]+)" Tag="([^"]+)"\)', text)
    assert ("/srv/app/audit.log", "audit:") in inputs  # 1.x computed it and never applied it
    assert ("/home/myproject/www/testing/log/celerybeat.log", "celery:") in inputs
    assert len(inputs) == len(settings.extra_log_files) + 11 + len(settings.celery_workers)
    assert '*.* action(type="omfwd" target="10.0.0.1" port="5140" protocol="udp"' in text
    assert "GELF" not in text and text.rstrip().endswith('if $inputname == "imfile" then stop')


def test_a_syslog_server_containing_an_at_sign_is_rsyslog_configuration_used_as_written(example_project):
    raw = "$ActionSendStreamDriverMode 1\n*.* @@logs.example.com:6514"
    text = logs.rsyslog_conf(settings_with(example_project, syslog_server=raw), "myproject", "testing", "web")
    assert raw in text and "omfwd" not in text


@pytest.mark.parametrize("value,framing", [("graylog.example.com", False), ("tcp://graylog.example.com:12202", True)])
def test_gelf_is_json_with_the_environment_deployment_and_role(example_project, value, framing):
    text = logs.rsyslog_conf(settings_with(example_project, gelf_log_host=value), "myproject", "testing", "db-primary")
    assert ('TCP_FrameDelimiter="0"' in text) is framing
    assert f'port="{12202 if framing else 12201}" protocol="{"tcp" if framing else "udp"}"' in text
    # What rsyslog writes for one message: the constants (unescaped) around example property values.
    constants = [json.loads(c) for c in re.findall(r'constant\(value=("(?:[^"\\]|\\.)*")\)', text)]
    values = ["ip-10-0-1-4", "hello \\\"world\\\"", "1796170000", "6", "myapp", "local0"]
    message = "".join(part for pair in zip(constants, [*values, ""], strict=True) for part in pair)
    assert json.loads(message) == {"version": "1.1", "host": "ip-10-0-1-4", "short_message": 'hello "world"',
                                   "timestamp": 1796170000, "level": 6, "_tag": "myapp", "_facility": "local0",
                                   "_environment": "testing", "_deployment": "myproject", "_role": "db-primary"}


def test_a_task_refuses_when_its_receiver_is_not_configured(example_project):
    result = run_cli(["testing", "install_awslogs"], example_project, env=NO_AWS)  # AWS unreachable: not asked
    assert (result.returncode, result.stderr) == (2, "fabulaws: fabulaws-config.yml: cloudwatch_logs is not set (nor "
                                                     "awslogs_access_key_id): install_awslogs has nowhere to send the logs\n")


# --- the CloudWatch Logs shipper ----------------------------------------------------------------------------------
@pytest.fixture
def logs_client(aws_env):
    return boto3.client("logs", region_name="us-east-1")


def shipper_config(tmp_path, endpoint, **extra):
    config = {"log_group": "myproject-testing-web", "stream": "{tag}", "region": "us-east-1", "endpoint_url": endpoint,
              "credentials_file": None, "state_file": str(tmp_path / "state" / "positions.json"), "interval": 1,
              "files": [{"path": str(tmp_path / "*.log"), "tag": "app", "date_format": None}], **extra}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def events(client, stream="app"):
    return [e["message"] for e in client.get_log_events(logGroupName="myproject-testing-web", logStreamName=stream,
                                                         startFromHead=True)["events"]]


def test_the_shipper_sends_new_complete_lines_once(tmp_path, aws_env, logs_client):
    config = shipper_config(tmp_path, aws_env["AWS_ENDPOINT_URL"])
    log = tmp_path / "app.log"
    log.write_text("one\ntwo\nthree without its newline yet")
    assert logshipper.main([str(config), "--once"]) == 0
    assert events(logs_client) == ["one", "two"]  # the group and stream were created
    with log.open("a") as handle:
        handle.write(", now complete\nfour\n")
    assert logshipper.main([str(config), "--once"]) == 0
    assert logshipper.main([str(config), "--once"]) == 0  # nothing new: nothing sent again
    assert events(logs_client) == ["one", "two", "three without its newline yet, now complete", "four"]
    log.write_text("after truncation\n")  # logrotate's copytruncate
    assert logshipper.main([str(config), "--once"]) == 0
    assert events(logs_client)[-1] == "after truncation"


def test_the_shipper_files_a_line_at_its_own_date_with_date_format(tmp_path, aws_env, logs_client):
    config = shipper_config(tmp_path, aws_env["AWS_ENDPOINT_URL"], files=[
        {"path": str(tmp_path / "dated.log"), "tag": "dated", "date_format": "%Y-%m-%d %H:%M:%S"}])
    earlier = (datetime.now() - timedelta(hours=3)).replace(microsecond=0)  # CloudWatch refuses lines 14 days old
    line = f"{earlier:%Y-%m-%d %H:%M:%S} started"
    (tmp_path / "dated.log").write_text(f"{line}\nno date here\n")
    assert logshipper.main([str(config), "--once"]) == 0
    found = logs_client.get_log_events(logGroupName="myproject-testing-web", logStreamName="dated", startFromHead=True)
    stamps = {e["message"]: e["timestamp"] for e in found["events"]}
    assert stamps[line] == int(earlier.timestamp() * 1000)
    assert stamps["no date here"] > stamps[line] + 3 * 3600 * 1000 - 60_000  # read now


def test_batches_stay_within_put_log_events_limits():
    big = "x" * 300_000
    cut = logshipper.batches([{"timestamp": 3, "message": "late"}, {"timestamp": 1, "message": big}]
                             + [{"timestamp": 2, "message": "y" * 1000}] * 1500)
    assert [e["timestamp"] for batch in cut for e in batch] == sorted(e["timestamp"] for batch in cut for e in batch)
    assert all(sum(len(e["message"]) + 26 for e in batch) <= logshipper.MAX_BATCH_BYTES for batch in cut)
    assert len(cut[0][0]["message"]) == logshipper.MAX_EVENT_BYTES  # an oversized line is cut, not dropped
    spans = logshipper.batches([{"timestamp": 0, "message": "a"}, {"timestamp": logshipper.MAX_SPAN_MS, "message": "b"}])
    assert len(spans) == 2


class InstanceMetadata(ThreadingHTTPServer):
    """An IMDSv2 endpoint with an instance role's credentials, as EC2 serves them."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:  # noqa: N802
                self.reply("token")

            def do_GET(self) -> None:  # noqa: N802
                if self.headers.get("X-aws-ec2-metadata-token") != "token":
                    return self.reply("", 401)
                base = "/latest/meta-data/iam/security-credentials/"
                if self.path.rstrip("/") == base.rstrip("/"):
                    return self.reply("myproject-logs")
                if self.path == base + "myproject-logs":
                    return self.reply(json.dumps({"Code": "Success", "AccessKeyId": "ASIAROLE", "SecretAccessKey": "s",
                                                  "Token": "t", "Expiration": "2099-01-01T00:00:00Z"}))
                if self.path == "/latest/meta-data/placement/region":
                    return self.reply("us-east-1")
                self.reply("", 404)

            def reply(self, body: str, code: int = 200) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_the_shipper_uses_the_instance_role_and_region_when_given_no_keys(tmp_path, aws_env, logs_client, monkeypatch):
    imds = InstanceMetadata()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{imds.server_address[1]}")
    monkeypatch.setattr(logshipper, "IMDS", f"http://127.0.0.1:{imds.server_address[1]}")
    config = shipper_config(tmp_path, aws_env["AWS_ENDPOINT_URL"], region=None)
    (tmp_path / "app.log").write_text("from the role\n")
    try:
        shipper = logshipper.Shipper(json.loads(config.read_text()))
        assert shipper.destination.client.meta.region_name == "us-east-1"
        assert shipper.destination.client._request_signer._credentials.access_key == "ASIAROLE"
        assert shipper.run_once() == 1
    finally:
        imds.shutdown()
    assert events(boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")) == [
        "from the role"]

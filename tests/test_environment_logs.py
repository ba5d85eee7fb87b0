"""Log shipping on the shared environment's worker (environment_support.py): install_rsyslog, install_logstash and
install_awslogs (1.x's names, with 1.x's roles=), then a line written to the server's logs arrives at a syslog
receiver, a GELF receiver (both on the sandbox network, at 10.0.0.1) and in the sandbox's CloudWatch Logs.

The shippers are taken off again at the end (the receivers go away with the test); the configuration and secrets
file are put back as they were.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid

import pytest
import yaml
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.paths import Paths
from fabulaws.sandbox.hosts.receivers import Forwarder, Receiver

from conftest import sandbox_network
from hosts_support import ProcessWatch, Shell, aws_client, fabulaws

pytestmark = pytest.mark.hosts

EXTRA = "/var/tmp/fabulaws-extra.log"
LOGS_SECRET = "logs 'secret' $(id)"
DEADLINE = 90  # seconds for a line to arrive (rsyslog at once; the CloudWatch shipper every 5 s)
UNDO = ("service fabulaws-awslogs stop; update-rc.d -f fabulaws-awslogs remove; "
        "rm -f /etc/init.d/fabulaws-awslogs /etc/rsyslog.d/40-myproject-testing.conf; service rsyslog restart")


def worker(environment) -> str:
    found = aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:role", "Values": ["worker"]}, {"Name": "tag:environment", "Values": ["testing"]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    return [i["PrivateIpAddress"] for r in found["Reservations"] for i in r["Instances"]][0]


def cloudwatch_messages(environment, group: str) -> list[tuple[str, str]]:
    """(stream, message) of every event in ``group`` (none yet: empty)."""
    client = aws_client(environment, "logs")
    if not client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        return []
    events = []
    for page in client.get_paginator("filter_log_events").paginate(logGroupName=group):
        events += [(e["logStreamName"], e["message"]) for e in page["events"]]
    return events


def test_a_line_written_on_the_worker_reaches_syslog_gelf_and_cloudwatch(environment):
    namespace = f"fabsbx{sandbox_network(environment['endpoint'])['slot']}"
    syslog, gelf = Receiver(namespace), Receiver(namespace, delimiter=b"\0")
    endpoint = urllib.parse.urlsplit(environment["endpoint"])
    forward = Forwarder(namespace, (endpoint.hostname, endpoint.port))
    config_path, secrets_path = environment["dir"] / "fabulaws-config.yml", environment["dir"] / "fabsecrets_testing.py"
    config_before, secrets_before = config_path.read_text(), secrets_path.read_text()
    config = yaml.safe_load(config_before)
    config.update(syslog_server=f"{syslog.address}:{syslog.port}", gelf_log_host=f"tcp://{gelf.address}:{gelf.port}",
                  cloudwatch_logs={"endpoint_url": forward.url}, awslogs_access_key_id="sandbox-logs",
                  extra_log_files={EXTRA: {"tag": "extra"}})
    config_path.write_text(yaml.safe_dump(config))
    secrets_path.write_text(secrets_before + f"awslogs_secret_access_key = {LOGS_SECRET!r}\n")
    shell = Shell(environment, worker(environment))
    try:
        log_dir = Paths.for_environment(load_settings(config_path), "myproject", "testing").log_dir
        shell.ok(f"echo before the install | sudo -n tee -a {EXTRA}")
        watch = ProcessWatch([LOGS_SECRET])
        watch.start()
        started = time.monotonic()
        result = fabulaws(environment, "testing", "install_rsyslog:roles=worker", "install_logstash:roles=worker",
                          "install_awslogs:roles=worker", timeout=600)
        print(f"install_rsyslog, install_logstash, install_awslogs on the worker: {time.monotonic() - started:.0f} s")
        watch.stopped.set()
        watch.join()
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "awslogs_access_key_id is deprecated" in output
        assert watch.seen == set(), "the CloudWatch secret never on a command line"
        assert shell.ok("sudo -n stat -c '%a %U' /etc/fabulaws-awslogs/credentials").split() == ["600", "root"]

        marker = uuid.uuid4().hex
        shell.ok(f"logger -t fabtest {marker}-syslog")
        shell.ok(f"echo {marker}-extra | sudo -n tee -a {EXTRA}")
        shell.ok(f"echo {marker}-celery | sudo -n tee -a {log_dir}/celerybeat.log")

        for line, tag in ((f"{marker}-syslog", b"fabtest:"), (f"{marker}-extra", b"extra:"), (f"{marker}-celery", b"celery:")):
            found = syslog.wait_for(lambda protocol, message, line=line: line.encode() in message, DEADLINE)
            assert found is not None and found[0] == "udp" and tag in found[1], (line, syslog.messages[-5:])
        for line, tag in ((f"{marker}-syslog", "fabtest"), (f"{marker}-extra", "extra")):
            found = gelf.wait_for(lambda protocol, message, line=line: line.encode() in message, DEADLINE)
            assert found is not None and found[0] == "tcp", (line, gelf.messages[-5:])
            message = json.loads(found[1])
            assert message["version"] == "1.1" and message["short_message"] == line and message["_tag"] == tag
            assert (message["_environment"], message["_deployment"], message["_role"]) == ("testing", "myproject", "worker")
            assert message["host"] and isinstance(message["level"], int) and isinstance(message["timestamp"], int)

        # the stream is the tag; /var/log/syslog's lines are whole syslog lines, the others the lines as written
        wanted = {("syslog", f"fabtest: {marker}-syslog"), ("extra", f"{marker}-extra"), ("celery", f"{marker}-celery")}
        end = time.monotonic() + DEADLINE
        while True:
            shipped = [(stream, message) for stream, message in cloudwatch_messages(environment, "myproject-testing-worker")
                       if marker in message]
            missing = {(stream, text) for stream, text in wanted if not any(s == stream and text in m for s, m in shipped)}
            if not missing or time.monotonic() > end:
                break
            time.sleep(2)
        assert not missing, f"in CloudWatch Logs: {shipped}"
        assert (("extra", f"{marker}-extra") in shipped and ("celery", f"{marker}-celery") in shipped), shipped
        before = [m for s, m in cloudwatch_messages(environment, "myproject-testing-worker") if s == "extra"]
        assert "before the install" in before, "a file is read from its start, as 1.x's agent did"
    finally:
        shell.run(f"sudo -n sh -c '{UNDO}'")
        shell.client.close()
        config_path.write_text(config_before)
        secrets_path.write_text(secrets_before)
        for receiver in (syslog, gelf, forward):
            receiver.close()

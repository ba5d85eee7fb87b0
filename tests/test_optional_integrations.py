"""Optional integrations never decide a deploy (issue 11, part 4): a New Relic marker or a CloudFront
invalidation that fails, whatever the way, is one DeployError or a warning, within a short timeout; never a raw
exception that a deploy would treat as a failure (and roll back)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fabulaws.aws import Aws
from fabulaws.config import load_settings
from fabulaws.errors import DeployError
from fabulaws.library.wsgiautoscale.app import cdn, newrelic
from fabulaws.report import Reporter
from fabulaws.secrets import Secrets


def serve(answer: bytes | None) -> tuple[str, socket.socket]:
    """A TCP server on 127.0.0.1 that reads a request, then sends ``answer`` and closes (None: says nothing)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []

    def loop():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.recv(65536)
            if answer is None:
                held.append(client)  # an outside service that accepted and hangs
                continue
            client.sendall(answer)
            client.close()

    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/deployments.xml", listener


def marker_settings(project, url: str, api_key: str | None = "k"):
    config = project / "fabulaws-config.yml"
    config.write_text(config.read_text().replace(
        "password_names: [database_password, broker_password, secret_key]",
        "password_names: [database_password, broker_password, secret_key, newrelic_api_key]",
    ) + f"\nnewrelic_deployments_url: {url!r}\n")
    (project / "fabsecrets_testing.py").write_text("database_password = 'd'\n" + (
        f"newrelic_api_key = {api_key!r}\n" if api_key else ""))
    settings = load_settings(config)
    assert newrelic.markers_configured(settings)
    return settings, Secrets(settings, "myproject", "testing", interactive=False)


def flag(settings, secrets) -> str:
    with pytest.raises(DeployError) as caught:
        newrelic.flag_if_configured(settings, "myproject", "testing", "c0ffee", secrets, lambda line: None)
    return str(caught.value)


@pytest.mark.parametrize("answer,expected", [
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "HTTPError: HTTP Error 403: Forbidden"),
    (b"garbage\r\n\r\n", "BadStatusLine"),  # not an OSError: it escaped as a raw exception
    (b"", "RemoteDisconnected"),
])
def test_a_broken_answer_is_one_deploy_error(example_project, answer, expected):
    url, listener = serve(answer)
    try:
        message = flag(*marker_settings(example_project, url))
    finally:
        listener.close()
    assert message.startswith(f"flag_deployment: {url} refused the marker for myproject testing (web): ")
    assert expected in message


def test_a_service_that_hangs_times_out_soon(example_project, monkeypatch):
    monkeypatch.setattr(newrelic, "MARKER_TIMEOUT", 1)
    url, listener = serve(None)
    started = time.monotonic()
    try:
        message = flag(*marker_settings(example_project, url))
    finally:
        listener.close()
    assert "timed out" in message
    assert time.monotonic() - started < 30  # not the 30 s per marker (twice) of before; generous for a busy machine


def test_a_refused_connection(example_project):
    assert "ConnectionRefusedError" in flag(*marker_settings(example_project, "http://127.0.0.1:9/deployments.xml"))


def test_an_unknown_host(example_project):
    message = flag(*marker_settings(example_project, "http://newrelic.invalid/deployments.xml"))
    assert message.startswith("flag_deployment: http://newrelic.invalid/deployments.xml refused the marker")


def test_a_bad_url_is_one_deploy_error(example_project):
    assert "ValueError: unknown url type" in flag(*marker_settings(example_project, "api.newrelic.com/deployments"))


def test_a_missing_api_key_is_one_deploy_error(example_project):
    message = flag(*marker_settings(example_project, "http://127.0.0.1:9/x", api_key=None))
    assert message.startswith("secret 'newrelic_api_key' of myproject testing is missing")


def test_a_failed_cloudfront_invalidation_is_a_warning(aws_env):
    reporter = Reporter()
    assert cdn.invalidate(Aws(region="us-east-1"), "EDFDVBD6EXAMPLE", reporter) is False
    assert len(reporter.warnings) == 1
    assert reporter.warnings[0].startswith("CloudFront invalidation of EDFDVBD6EXAMPLE failed (NoSuchDistribution")


def test_an_unreachable_cloudfront_is_a_warning_soon(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    reporter = Reporter()
    assert cdn.invalidate(Aws(region="us-east-1"), "EDFDVBD6EXAMPLE", reporter) is False
    assert "EndpointConnectionError" in reporter.warnings[0]


def test_a_cloudfront_invalidation_that_works(aws_env):
    aws = Aws(region="us-east-1")
    cloudfront = aws.client("cloudfront")
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "t", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "example.com",
                                              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                                     "OriginProtocolPolicy": "http-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "allow-all",
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "MinTTL": 0, "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    })["Distribution"]["Id"]
    reporter = Reporter()
    assert cdn.invalidate(aws, distribution, reporter) is True
    assert reporter.warnings == []
    assert cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Quantity"] == 1

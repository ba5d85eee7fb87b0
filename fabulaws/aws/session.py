"""boto3 clients built from the configuration and the standard credential chain.

``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) are honoured by botocore
itself; that is how the sandbox is reached, with no code path of our own.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

# Throttling and transient errors are retried with backoff by botocore itself.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, user_agent_extra="fabulaws/2")


class Aws:
    """One boto3 session per (region, profile); one client per service, shared by threads."""

    def __init__(self, region: str, profile: str | None = None) -> None:
        self.region = region
        self.session = boto3.Session(region_name=region, profile_name=profile)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> "Aws":
        return cls(settings.region, settings.aws_profile)

    def client(self, service: str) -> Any:
        """The shared client for ``service`` (boto3 clients are thread-safe; sessions are not)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service, config=CLIENT_CONFIG)
            return self._clients[service]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def autoscaling(self) -> Any:
        return self.client("autoscaling")

    @property
    def elb(self) -> Any:
        return self.client("elb")

    @property
    def elbv2(self) -> Any:
        return self.client("elbv2")

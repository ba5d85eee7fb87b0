"""boto3 clients for the profile and region chosen the way the AWS CLI chooses them.

Precedence, first match wins (the AWS CLI's, with the project file slotted in
before the profile's own settings):

* profile: ``--profile``, ``AWS_PROFILE``, ``aws_profile`` in fabulaws-config.yml,
  then botocore's default profile;
* region: ``--region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``region`` in
  fabulaws-config.yml, then the profile's ``region``;
* retries: ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS`` or the profile's ``retry_mode``/
  ``max_attempts``, else our default (standard mode, 10 attempts).

``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) are honoured by botocore
itself; that is how the sandbox is reached, with no code path of our own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from ..dryrun import guard
from ..errors import ConfigError, UsageError
from .types import Client

if TYPE_CHECKING:
    from ..config import Settings

# Our defaults where the user set nothing: botocore's own lookup (environment, then
# the profile) still wins, because these replace only the last link of its chain.
# NOTE: a Config(retries=...) on the client would beat AWS_MAX_ATTEMPTS and the profile.
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 10  # total attempts, as AWS_MAX_ATTEMPTS counts them
RETRY_DEFAULTS = {
    "retry_mode": ("retry_mode", "AWS_RETRY_MODE", DEFAULT_RETRY_MODE, None),
    "max_attempts": ("max_attempts", "AWS_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, int),
}
CLIENT_CONFIG = Config(user_agent_extra="fabulaws/2")

PROFILE_VARIABLE = "AWS_PROFILE"
# NOTE: botocore reads only AWS_DEFAULT_REGION; the AWS CLI v2 and the other SDKs read AWS_REGION first.
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class Choice:
    """A profile or region and where it came from (``--region``, ``AWS_REGION``...), for messages."""

    value: str | None
    source: str


def choose_profile(flag: str | None, project: str | None, environ: Mapping[str, str] = os.environ) -> Choice:
    """The profile to use: ``--profile``, then AWS_PROFILE, then the project file's ``aws_profile``."""
    # NOTE: we read AWS_PROFILE ourselves only to know whether it beats the project file;
    # botocore still reads it (and keeps its rule that environment credentials win then).
    if flag:
        return Choice(flag, "--profile")
    if environ.get(PROFILE_VARIABLE):
        return Choice(environ[PROFILE_VARIABLE], PROFILE_VARIABLE)
    if project:
        return Choice(project, "aws_profile in fabulaws-config.yml")
    return Choice(None, "the default profile")


def choose_region(flag: str | None, project: str | None, profile_region: str | None,
                  environ: Mapping[str, str] = os.environ) -> Choice:
    """The region to use: ``--region``, AWS_REGION, AWS_DEFAULT_REGION, the project file, the profile."""
    if flag:
        return Choice(flag, "--region")
    for variable in REGION_VARIABLES:
        if environ.get(variable):
            return Choice(environ[variable], variable)
    if project:
        return Choice(project, "region in fabulaws-config.yml")
    if profile_region:
        return Choice(profile_region, "the profile's region")
    return Choice(None, "nowhere")


def _botocore_session(profile: Choice) -> botocore.session.Session:
    # An AWS_PROFILE profile is left for botocore to read, so that environment credentials
    # still beat it exactly as they do for the AWS CLI; --profile and the file's are explicit.
    explicit = profile.value if profile.source != PROFILE_VARIABLE else None
    return botocore.session.Session(session_vars=RETRY_DEFAULTS, profile=explicit)


def _scoped_config(session: botocore.session.Session, profile: Choice) -> dict:
    """The profile's section of ~/.aws/config; a one-line error naming where a missing profile came from."""
    try:
        return session.get_scoped_config()
    except ProfileNotFound:
        files = "the AWS config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE)"
        message = (f"AWS profile {profile.value!r} (from {profile.source}) is not in {files}; "
                   "run `aws configure list-profiles` to see yours")
        raise (ConfigError if "fabulaws-config.yml" in profile.source else UsageError)(message) from None


class Aws:
    """One boto3 session for the chosen profile and region; one client per service, shared by threads.

    + region, profile: chosen on the command line (``--region``, ``--profile``); they beat everything
    + project_region, project_profile: ``region`` and ``aws_profile`` from fabulaws-config.yml; they beat
      only the profile's own settings (see the module docstring for the whole order)
    Raises ConfigError (no region anywhere, or the file names a missing profile) or UsageError.
    """

    def __init__(self, region: str | None = None, profile: str | None = None, *,
                 project_region: str | None = None, project_profile: str | None = None) -> None:
        self.profile = choose_profile(profile, project_profile)
        botocore_session = _botocore_session(self.profile)
        profile_region = _scoped_config(botocore_session, self.profile).get("region")
        chosen = choose_region(region, project_region, profile_region)
        if not chosen.value:
            raise ConfigError(
                "no AWS region: pass --region, set AWS_REGION, add region: to fabulaws-config.yml, "
                "or set region for the profile in ~/.aws/config"
            )
        self.region: str = chosen.value
        self.region_source = chosen.source
        self.session = boto3.Session(botocore_session=botocore_session, region_name=self.region)
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        self._account: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, profile: str | None = None, region: str | None = None) -> Aws:
        """Clients for ``settings`` (its ``region``/``aws_profile``), with command-line choices on top."""
        return cls(region, profile, project_region=settings.region, project_profile=settings.aws_profile)

    def client(self, service: str) -> Client:
        """The shared client for ``service`` (boto3 clients are thread-safe; sessions are not)."""
        with self._lock:
            if service not in self._clients:
                # guard: under --dry the client refuses every call that is not a read (fabulaws.dryrun)
                self._clients[service] = guard(self.session.client(service, config=CLIENT_CONFIG))
            return self._clients[service]

    def client_with(self, service: str, config: Config) -> Client:
        """A new client for ``service`` with its own ``config`` (e.g. short timeouts for an optional notice);
        under ``--dry`` it refuses writes too. Not shared: each call makes one."""
        with self._lock:  # boto3 sessions are not thread-safe
            return guard(self.session.client(service, config=CLIENT_CONFIG.merge(config)))

    @property
    def account(self) -> str:
        """The account id the credentials belong to (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            from .identity import find_account

            self._account = find_account(self.client("sts"))
        return self._account

    @property
    def ec2(self) -> Client:
        return self.client("ec2")

    @property
    def autoscaling(self) -> Client:
        return self.client("autoscaling")

    @property
    def elb(self) -> Client:
        return self.client("elb")

    @property
    def elbv2(self) -> Client:
        return self.client("elbv2")

    @property
    def s3(self) -> Client:
        return self.client("s3")

    @property
    def ssm(self) -> Client:
        return self.client("ssm")

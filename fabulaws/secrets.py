"""Secrets: from ``fabsecrets_<env>.py`` (or the deprecated ``fabsecrets.py``), the environment, or SSM.

Resolution order for one name, as in 1.x: the configured store, then the copy on
a server (``HOME/<name>``, when a reader is given), then a prompt -- only when
there is a terminal. A missing secret in a run without one is an error naming
it, never a prompt that hangs. The names of ``GENERATED`` are never asked for:
when neither the store nor a server has one, it is made here and written to the
store (a file is appended to; SSM refuses a second value, so two operators at
once end up with one).
"""

from __future__ import annotations

import getpass
import logging
import os
import runpy
import secrets as random_tokens
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .errors import DeployError

if TYPE_CHECKING:
    from fabulaws.aws import Aws
    from fabulaws.config import Settings

log = logging.getLogger("fabulaws.secrets")
ENVIRONMENT_PREFIX = "FABULAWS_SECRET_"


class MissingSecret(DeployError, KeyError):
    """A secret the operation needs is nowhere to be found."""

    def __str__(self) -> str:
        return str(self.args[0])


def _password(deployment: str, environment: str) -> str:
    return random_tokens.token_urlsafe(32)


def _certificate_authority(deployment: str, environment: str) -> str:
    # imported here: cryptography is only needed when a CA is made
    from .certificates import new_ca_pem

    return new_ca_pem(deployment, environment)


@dataclass(frozen=True)
class Generated:
    """A secret this tool makes when the environment has none; ``holders`` are the roles of the servers that
    keep a copy in HOME/<name> (None: every server, as password_names), where another operator's run finds it."""

    make: Callable[[str, str], str]
    holders: tuple[str, ...] | None = None


GENERATED: dict[str, Generated] = {
    "database_replication_password": Generated(_password, ("db-primary", "db-replica", "combo")),
    "redis_password": Generated(_password),
    "memcached_password": Generated(_password),
    # the CA's private key: kept on the database servers only (web and worker servers get its certificate)
    "tls_ca": Generated(_certificate_authority, ("db-primary", "db-replica", "combo")),
}


def secrets_file(environment: str, directory: Path | None = None) -> tuple[Path | None, bool]:
    """The secrets file for ``environment`` and whether it is the deprecated shared one."""
    directory = directory or Path.cwd()
    own = directory / f"fabsecrets_{environment}.py"
    if own.exists():
        return own, False
    shared = directory / "fabsecrets.py"
    if shared.exists():
        return shared, True
    return None, False


def read_secrets_file(path: Path) -> dict[str, str]:
    """Every global of the file that does not start with ``__`` (the file is Python, as in 1.x)."""
    values = runpy.run_path(str(path))
    return {name: str(value) for name, value in values.items() if not name.startswith("__")}


def append_secret(path: Path, name: str, value: str) -> None:
    """Add ``name = 'value'`` (a Python literal) to a secrets file, created 0600 if absent."""
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "r+") as handle:
        text = handle.read()
        handle.write(("" if not text or text.endswith("\n") else "\n") + f"{name} = {value!r}\n")


@dataclass
class Secrets:
    """The secrets of one (deployment, environment)."""

    settings: Settings
    deployment: str
    environment: str
    aws: Aws | None = None
    server_reader: Callable[[str], str | None] | None = None
    interactive: bool | None = None
    _cache: dict[str, str] = field(default_factory=dict)
    _file_values: dict[str, str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def store(self) -> str:
        return self.settings.secrets.store

    def describe_store(self) -> str:
        if self.store == "environment":
            return f"the environment ({ENVIRONMENT_PREFIX}<NAME>)"
        if self.store == "ssm":
            return f"SSM Parameter Store under {self.ssm_prefix()}"
        path, _ = secrets_file(self.environment, self.directory)
        return str(path) if path else f"fabsecrets_{self.environment}.py (not found)"

    @property
    def directory(self) -> Path:
        return self.settings.source.parent

    def ssm_prefix(self) -> str:
        return self.settings.secrets.ssm_prefix.format(deployment=self.deployment, environment=self.environment)

    def get(self, name: str) -> str:
        """The secret ``name``, from the store, a server, then made (GENERATED) or asked of the operator."""
        if name in self._cache:
            return self._cache[name]
        with self._lock:  # server threads share one Secrets: one generated value, not one per thread
            if name in self._cache:
                return self._cache[name]
            value = self._from_store(name)
            if value is None and self.server_reader is not None:
                value = self.server_reader(name)
                if value is not None and name in GENERATED:
                    self._keep(name, value)
            if value is None:
                value = self.generate(name) if name in GENERATED else self.ask(name)
            self._cache[name] = value
        return value

    def generate(self, name: str) -> str:
        """A new value for the GENERATED ``name``, written to the store; the store's value if it got one first.

        Only a run that looked at the servers' copies (a ``server_reader``) makes one."""
        if self.server_reader is None:  # without the servers' copies, a second CA could be made for a live environment
            raise MissingSecret(
                f"secret {name!r} of {self.deployment} {self.environment} is missing: not in {self.describe_store()}; "
                "update_local_fabsecrets copies it from the servers; where they have none, update_database_tls "
                "(or creating servers) makes it"
            )
        if self.store == "environment":
            raise MissingSecret(
                f"secret {name!r} of {self.deployment} {self.environment} is missing: set {ENVIRONMENT_PREFIX}{name.upper()} "
                f"(a value from a file or ssm store), or use secrets.store file or ssm, where fabulaws makes it"
            )
        value = self._save(name, GENERATED[name].make(self.deployment, self.environment))
        log.info("made secret %s of %s %s; stored in %s", name, self.deployment, self.environment, self.describe_store())
        return value

    def _keep(self, name: str, value: str) -> None:
        """A server's copy of a generated secret, into this operator's store too (where it can be written)."""
        try:
            self._save(name, value)
        except MissingSecret as exc:  # a shared fabsecrets.py: the servers' copy serves this run all the same
            log.warning("%s", exc)

    def _save(self, name: str, value: str) -> str:
        """Write ``name`` to the store unless it holds one already; the value the store keeps."""
        if self.store == "ssm":
            if self.aws is None:
                raise DeployError("secrets_store is ssm, but these secrets were given no AWS session to write with")
            from .aws.parameters import write_parameter_once

            try:
                return write_parameter_once(self.aws.ssm, self.ssm_prefix() + name, value)
            except ClientError as exc:
                raise DeployError(f"cannot write secret {name} to SSM Parameter Store ({self.ssm_prefix()}): {exc}") from None
        if self.store != "file":
            return value
        path, deprecated = secrets_file(self.environment, self.directory)
        if deprecated:  # the shared file is read by every environment: one CA for all of them would be wrong
            raise MissingSecret(
                f"secret {name!r} of {self.deployment} {self.environment} is missing and {path} is shared by every "
                f"environment: move this environment's secrets to fabsecrets_{self.environment}.py, where fabulaws makes it"
            )
        append_secret(path or self.directory / f"fabsecrets_{self.environment}.py", name, value)
        self._file().update({name: value})
        return value

    def load(self, names: list[str]) -> dict[str, str]:
        if self.store == "ssm":
            self._prefetch_ssm([n for n in names if n not in self._cache])
        return {name: self.get(name) for name in names}

    def local_only(self, names: list[str]) -> dict[str, str | None]:
        """What the store has for each name (None where it has nothing); no server, no prompt."""
        return {name: self._from_store(name) for name in names}

    # --- stores ----------------------------------------------------------------------------------
    def _from_store(self, name: str) -> str | None:
        if self.store == "environment":
            return os.environ.get(ENVIRONMENT_PREFIX + name.upper())
        if self.store == "ssm":
            if name not in self._cache:
                self._prefetch_ssm([name])
            return self._cache.get(name)
        return self._file().get(name)

    def _file(self) -> dict[str, str]:
        if self._file_values is None:
            path, deprecated = secrets_file(self.environment, self.directory)
            if path is None:
                log.warning("No secrets file found. Looked for %s", [f"fabsecrets_{self.environment}.py", "fabsecrets.py"])
                self._file_values = {}
            else:
                if deprecated:
                    log.warning("%s is deprecated: put the %s secrets in fabsecrets_%s.py", path.name, self.environment, self.environment)
                self._file_values = read_secrets_file(path)
        return self._file_values

    def _prefetch_ssm(self, names: list[str]) -> None:
        if self.aws is None:  # a caller's mistake: every task passes its session
            raise DeployError("secrets_store is ssm, but these secrets were given no AWS session to read it with")
        # imported here: importing aws/ imports boto3
        from .aws.parameters import read_parameters

        prefix = self.ssm_prefix()
        for start in range(0, len(names), 10):  # GetParameters takes at most 10 names
            chunk = [prefix + name for name in names[start : start + 10]]
            try:
                found = read_parameters(self.aws.ssm, chunk)
            except ClientError as exc:
                raise DeployError(f"cannot read secrets from SSM Parameter Store ({prefix}): {exc}") from None
            for full_name, value in found.items():
                self._cache[full_name[len(prefix) :]] = value

    def ask(self, name: str) -> str:
        """The operator's answer for ``name``; MissingSecret when there is no terminal to ask on."""
        interactive = self.interactive if self.interactive is not None else bool(sys.stdin and sys.stdin.isatty())
        if not interactive:
            raise MissingSecret(
                f"secret {name!r} of {self.deployment} {self.environment} is missing: not in {self.describe_store()}"
                + (" nor on the servers" if self.server_reader else "")
                + "; there is no terminal to ask for it"
            )
        return getpass.getpass(f"Please enter {name}: ")

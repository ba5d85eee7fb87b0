"""Secrets: from ``fabsecrets_<env>.py`` (or the deprecated ``fabsecrets.py``), the environment, or SSM.

Resolution order for one name, as in 1.x: the configured store, then the copy on
a server (``HOME/<name>``, when a reader is given), then a prompt -- only when
there is a terminal. A missing secret in a run without one is an error naming
it, never a prompt that hangs.
"""

from __future__ import annotations

import getpass
import logging
import os
import runpy
import sys
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
        """The secret ``name``, from the store, a server, or (with a terminal) the operator."""
        if name in self._cache:
            return self._cache[name]
        value = self._from_store(name)
        if value is None and self.server_reader is not None:
            value = self.server_reader(name)
        if value is None:
            value = self.ask(name)
        self._cache[name] = value
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

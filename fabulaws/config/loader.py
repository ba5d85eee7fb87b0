"""Find and load fabulaws-config.yml into validated Settings (nothing else touched)."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import ValidationError

from ..errors import ConfigError
from ..fabhook import CONFIG_FILE_NAMES, locate_config_file
from .checks import check_settings
from .messages import validation_error
from .schema import (
    AWSLOGS_KEYS,
    DEPRECATED_INSTANCE_SETTINGS,
    DEPRECATED_TOP_LEVEL,
    MISPLACED_INSTANCE_SETTINGS,
    Settings,
)
from .yamlsource import YamlSource, read_yaml

log = logging.getLogger(__name__)



def find_config_file(directory: Path | str | None = None) -> Path:
    """The configuration file in ``directory`` (default: the working directory) or the nearest parent that has one."""
    found = locate_config_file(directory)
    if found is None:
        directory = Path(directory or Path.cwd()).resolve()
        raise ConfigError(
            f"{directory}: no {CONFIG_FILE_NAMES[0]} (or {CONFIG_FILE_NAMES[1]}) found here or in any parent directory; "
            "run fabulaws from your project's directory"
        )
    return found


def load_settings(path: Path | str | None = None) -> Settings:
    """Read, validate and cross-check a configuration file.

    Raises ConfigError (one line: file, line, key path, what was expected) on any
    problem. Deprecated 1.x keys are dropped and logged as one-line warnings.
    """
    path = Path(path).resolve() if path else find_config_file().resolve()
    source = read_yaml(path)
    if source.data is None:
        raise ConfigError(f"{path.name}: the file is empty; expected a mapping of settings")
    if not isinstance(source.data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of settings at the top level, got a {type(source.data).__name__}")
    warnings = _take_deprecated(source)
    try:
        settings = Settings.model_validate(source.data)
    except ValidationError as exc:
        raise validation_error(source, exc, Settings) from None
    check_settings(settings, source)
    settings._source = path
    settings._origin = source
    settings._warnings = warnings
    for warning in warnings:
        log.warning(warning)
    return settings


def _take_deprecated(source: YamlSource) -> list[str]:
    """Remove 1.x keys we accept but ignore; return one warning per key."""
    raw = source.data
    warnings: list[tuple[int, str]] = []

    def warn(path: tuple, why: str) -> None:
        key = ".".join(path)
        warnings.append((source.line_of(path) or 0, f"{source.where(path)}: warning: {key} is deprecated: {why}"))

    for key, why in DEPRECATED_TOP_LEVEL.items():
        if key in raw:
            warn((key,), why)
            value = raw.pop(key)
            if key == "log_host" and value and not raw.get("gelf_log_host"):
                raw["gelf_log_host"] = value
    if raw.get("awslogs_access_key_id"):  # still used (install_awslogs), unlike the keys above
        warn(("awslogs_access_key_id",), AWSLOGS_KEYS)
    instance_settings = raw.get("instance_settings")
    if isinstance(instance_settings, dict):
        for key, why in DEPRECATED_INSTANCE_SETTINGS.items():
            if key in instance_settings:
                warn(("instance_settings", key), why)
                instance_settings.pop(key)
        if instance_settings.get("fs_encrypt") is True:
            path = ("instance_settings", "fs_encrypt")
            warnings.append((source.line_of(path) or 0, f"{source.where(path)}: warning: fs_encrypt: true now means "
                             "EBS encryption (nothing to unlock at boot), not LUKS as in 1.x; write ebs to say so, "
                             "or luks to keep 1.x's LUKS volumes"))
        for key, home in MISPLACED_INSTANCE_SETTINGS.items():
            if key in instance_settings:
                raise source.error(("instance_settings", key), f"not allowed in instance_settings; set the top-level key {home} instead")
    return [text for _, text in sorted(warnings)]

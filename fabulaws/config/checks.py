"""Checks that span keys: names that must exist elsewhere in the file, and 1.x quirks fixed."""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .environments import Problems, check_environment_entries
from .maps import TWO_LEVEL_MAPS, check_two_level_map
from .messages import did_you_mean
from .yamlsource import YamlSource

if TYPE_CHECKING:
    from fabulaws.config import Settings

# nginx detects maintenance by this file name, and load balancers ping this one.
STATIC_HTML_NAMES = {"upgrade_message": "503.html", "healthcheck_override": "healthcheck.html"}


def check_settings(settings: Settings, source: YamlSource) -> None:
    """Raise ConfigError for the first cross-key problem; normalise zones, subnets and paths."""
    for key in ("valid_roles", "deployments", "environments"):
        _check_unique(source, key, getattr(settings, key))
    if settings.default_deployment not in settings.deployments:
        raise _unknown(source, ("default_deployment",), settings.default_deployment, "deployments", settings.deployments)
    if "production_environments" in settings.model_fields_set:
        for index, env in enumerate(settings.production_environments):
            if env not in settings.environments:
                raise _unknown(source, ("production_environments", index), env, "environments", settings.environments)
    zones = ZoneNames(source, settings.region)
    settings.avail_zones = [zones.letter(("avail_zones", index), zone) for index, zone in enumerate(settings.avail_zones)]
    if settings.subnets is not None:
        settings.subnets = _check_subnets(zones, settings.subnets)
    settings._zone_region = zones.named
    problems = Problems(source)
    for key in TWO_LEVEL_MAPS:
        check_two_level_map(settings, source, key, problems)
    for key in ("server_ports", "site_domains_map", "use_basic_auth"):
        for env in getattr(settings, key):
            if env not in settings.environments:
                raise _unknown(source, (key, env), env, "environments", settings.environments)
    check_environment_entries(settings, source, problems)
    settings._problems = problems.found
    for index, name in enumerate(settings.password_names):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise source.error(
                ("password_names", index),
                f"expected a Python identifier (each secret is a variable in fabsecrets_<env>.py), got {name!r}",
            )
    if settings.vcs_cmd.endswith("hg"):
        raise source.error(("vcs_cmd",), "Mercurial (hg) is not supported: convert the repository to git and set vcs_cmd: git")
    if not settings.vcs_cmd.endswith("git"):
        raise source.error(("vcs_cmd",), f"expected a git command, got {settings.vcs_cmd!r}")
    if settings.repo_deploy_key in settings.password_names:
        raise source.error(("repo_deploy_key",), f"{settings.repo_deploy_key!r} is among password_names, which are copied "
                           "to every server: keep the deploy key out of them (it is on a server only while git runs)")
    _check_static_html(source, settings.static_html)
    _anchor_paths(settings, source.path.parent)


def _unknown(source: YamlSource, path: tuple, name: str, list_key: str, names: list[str]):
    return source.error(
        path, f"unknown name {name!r}; expected one of {list_key} [{', '.join(names)}]{did_you_mean(name, names)}"
    )


def _check_unique(source: YamlSource, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not name.strip():
            raise source.error((key, index), "expected a non-empty name")
        if name in seen:
            raise source.error((key, index), f"duplicate name {name!r}")
        seen.add(name)


FULL_ZONE = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d+)(?P<letter>[a-z])$")


class ZoneNames:
    """Zones given as ``e`` or ``us-east-1e`` (1.x keyed subnets one way and its sample the other), kept as letters.

    With ``region`` in the file, full names must be of that region; without it, of one region.
    ``named`` is the region full names were given in (None if only letters were), so a region
    chosen at run time (``--region``, AWS_REGION) can be checked against it.
    """

    def __init__(self, source: YamlSource, region: str | None) -> None:
        self.source = source
        self.region = region
        self.fixed = region is not None
        self.named: str | None = None

    def letter(self, path: tuple, zone: str) -> str:
        if len(zone) == 1 and zone.isalpha() and zone.islower():
            return zone
        match = FULL_ZONE.match(zone)
        if match and self.region is None:
            self.region = match["region"]
        if match and match["region"] == self.region:
            self.named = self.region
            return match["letter"]
        if self.fixed:
            raise self.source.error(
                path,
                f"expected an availability zone letter such as 'a' or a zone of {self.region} such as "
                f"'{self.region}a', got {zone!r}",
            )
        if self.region is None or not match:
            raise self.source.error(
                path, f"expected an availability zone letter such as 'a' or a zone name such as 'us-east-1a', got {zone!r}"
            )
        raise self.source.error(
            path, f"expected a zone of {self.region} like the zones before it (or a letter such as 'a'), got {zone!r}"
        )


def _check_subnets(zones: ZoneNames, subnets: dict[str, str]) -> dict[str, str]:
    letters: dict[str, str] = {}
    for zone, subnet in subnets.items():
        letter = zones.letter(("subnets", zone), zone)
        if letter in letters:
            raise zones.source.error(("subnets", zone), f"availability zone {letter!r} is given twice")
        if not subnet.strip():
            raise zones.source.error(("subnets", zone), "expected a subnet id (subnet-...) or a subnet's Name tag")
        letters[letter] = subnet
    return letters


def _check_static_html(source: YamlSource, static_html: dict[str, Path] | None) -> None:
    if static_html is None:
        return
    for key, basename in STATIC_HTML_NAMES.items():
        if key not in static_html:
            raise source.error(("static_html", key), f"required key is missing (expected a path to a file named {basename})")
        if static_html[key].name != basename:
            raise source.error(
                ("static_html", key),
                f"expected a file named {basename} (nginx and the load balancer look for that name), "
                f"got {static_html[key].name!r}",
            )


def _anchor_paths(settings: Settings, base: Path) -> None:
    """Relative paths are relative to the configuration file, as in 1.x."""
    if settings.ssh_keys is not None:
        settings.ssh_keys = base / settings.ssh_keys
    if settings.localsettings_template is not None:
        settings.localsettings_template = base / settings.localsettings_template
    if settings.static_html is not None:
        settings.static_html = {key: base / path for key, path in settings.static_html.items()}

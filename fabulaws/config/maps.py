"""Two-level maps and 1.x's ``_find(dict, key1, key2)`` lookup rule.

A role map (``instance_types``...) is keyed by environment then role, or by role
alone; a deployment map (``branches``...) by deployment then environment, or by
environment alone. An outer key whose value is not a mapping applies to every
inner key, as in 1.x.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from .messages import did_you_mean, validation_error
from .yamlsource import YamlSource

if TYPE_CHECKING:
    from fabulaws.config import Settings

    from .environments import Problems


@dataclass(frozen=True)
class MapShape:
    """Which names may key each level of a two-level map, and the type of its values."""

    outer: str  # settings attribute listing the names of the first level
    inner: str  # ... and of the second level
    value_type: Any

    def labels(self) -> tuple[str, str]:
        return _LABELS[self.outer], _LABELS[self.inner]


_LABELS = {"environments": "environment", "valid_roles": "role", "deployments": "deployment"}

ROLE_MAPS = {
    "security_groups": MapShape("environments", "valid_roles", list[str]),
    "instance_types": MapShape("environments", "valid_roles", str),
    "volume_sizes": MapShape("environments", "valid_roles", int),
    "volume_types": MapShape("environments", "valid_roles", str),
}
DEPLOYMENT_MAPS = {
    "branches": MapShape("deployments", "environments", str),
    "load_balancers": MapShape("deployments", "environments", list[str]),
    "target_groups": MapShape("deployments", "environments", list[str]),
    "auto_scaling_groups": MapShape("deployments", "environments", str),
    "cloudfront_distribution_ids": MapShape("deployments", "environments", str),
}
TWO_LEVEL_MAPS = {**ROLE_MAPS, **DEPLOYMENT_MAPS}


def check_two_level_map(settings: Settings, source: YamlSource, key: str, problems: Problems | None = None) -> None:
    """Check every name and value of map ``key``; replace values by their validated form.

    An unknown name is an error. A bad value written under an environment is recorded in ``problems``
    (config/environments.py: an error only when that environment is selected); any other bad value is an error.
    """
    shape = TWO_LEVEL_MAPS[key]
    outer_names, inner_names = getattr(settings, shape.outer), getattr(settings, shape.inner)
    outer_label, inner_label = shape.labels()
    adapter = TypeAdapter(shape.value_type)
    mapping = getattr(settings, key)

    def validated(path: tuple, value: object) -> Any:
        environment, deployment = owner_of(settings, key, path)
        if environment is None or problems is None:
            return _validated(source, adapter, shape, path, value)
        return problems.validated(environment, deployment, path, adapter, shape.value_type, value)[1]

    for name, value in mapping.items():
        path = (key, name)
        if name in outer_names and isinstance(value, dict):
            for inner, inner_value in value.items():
                if inner not in inner_names:
                    raise source.error(
                        path + (inner,),
                        f"unknown {inner_label}; expected one of {shape.inner} "
                        f"[{', '.join(inner_names)}]{did_you_mean(inner, inner_names)}",
                    )
                value[inner] = validated(path + (inner,), inner_value)
        elif name in outer_names or name in inner_names:
            mapping[name] = validated(path, value)
        else:
            raise source.error(
                path,
                f"unknown {outer_label} or {inner_label}; expected one of {shape.outer} "
                f"[{', '.join(outer_names)}] or {shape.inner} [{', '.join(inner_names)}]"
                f"{did_you_mean(name, [*outer_names, *inner_names])}",
            )


def owner_of(settings: Settings, key: str, path: tuple) -> tuple[str | None, str | None]:
    """(environment, deployment) the value at ``path`` (``(key, name)`` or ``(key, outer, inner)``) of map ``key``
    belongs to; environment None when it applies to several environments."""
    environments = settings.environments
    if key in ROLE_MAPS:
        return (path[1], None) if len(path) == 3 or path[1] in environments else (None, None)
    if len(path) == 3:
        return path[2], path[1]
    return (path[1], None) if path[1] in environments else (None, path[1])


def _validated(source: YamlSource, adapter: TypeAdapter, shape: MapShape, path: tuple, value: object) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise validation_error(source, exc, shape.value_type, path) from None


def find(source: YamlSource, mapping: dict, key: str, key1: str, key2: str) -> Any:
    """1.x's ``_find``: ``mapping[key1][key2]``, ``mapping[key1]`` or ``mapping[key2]``.

    Unlike 1.x, a miss names the file, the key and both ways to fix it.
    """
    shape = TWO_LEVEL_MAPS[key]
    outer_label, inner_label = shape.labels()
    if key1 in mapping:
        value = mapping[key1]
        if not isinstance(value, dict):
            return value
        if key2 in value:
            return value[key2]
        raise source.error((key, key1), f"no entry for {inner_label} {key2!r} (expected {key}.{key1}.{key2})")
    if key2 in mapping:
        return mapping[key2]
    raise source.error(
        (key,),
        f"no value for {outer_label} {key1!r} and {inner_label} {key2!r} (expected {key}.{key1}.{key2} or {key}.{key2})",
    )

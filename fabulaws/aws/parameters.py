"""SSM Parameter Store: reading (decrypted) parameters, where secrets may be kept."""

from __future__ import annotations

from .types import Client

MAX_NAMES = 10  # GetParameters takes at most 10 names


def read_parameters(ssm: Client, names: list[str]) -> dict[str, str]:
    """``{name: value}`` (decrypted) of those of ``names`` that exist (at most MAX_NAMES). Read-only."""
    found = ssm.get_parameters(Names=list(names), WithDecryption=True)["Parameters"]
    return {parameter["Name"]: parameter["Value"] for parameter in found}


def write_parameter_once(ssm: Client, name: str, value: str) -> str:
    """Create the SecureString ``name`` with ``value`` unless it exists; the value it holds afterwards.

    Without overwrite, two runs at once cannot both win: the second reads back the first's value.
    """
    try:
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=False)
        return value
    except ssm.exceptions.ParameterAlreadyExists:
        return read_parameters(ssm, [name])[name]

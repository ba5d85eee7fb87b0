"""Remote commands built from quoted parts, never from an f-string of untrusted values."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fabric import Connection


def join(*parts: object) -> str:
    """One shell command from arguments, each quoted: ``join("echo", "a b")`` -> ``echo 'a b'``."""
    return " ".join(shlex.quote(str(part)) for part in parts)


def as_user(cxn: Connection, user: str, command: str, cwd: str | None = None, env: dict[str, str] | None = None, **kwargs: object) -> Any:
    """Run ``command`` (already quoted) as ``user`` under a login shell, optionally in ``cwd`` with ``env``.

    Like Fabric 1's ``sudo(cmd, user=X)``; values travel quoted, never interpolated.
    """
    script = command
    if cwd:
        script = f"cd {shlex.quote(cwd)} && {script}"
    if env:
        exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
        script = f"export {exports}; {script}"
    return cxn.run(join("sudo", "-n", "-H", "-u", user, "bash", "-lc", script), **kwargs)


def sudo(cxn: Connection, command: str, **kwargs: object) -> Any:
    """``command`` as root through ``sudo -n`` (never prompts; the deploy users have passwordless sudo)."""
    return cxn.run(join("sudo", "-n", "bash", "-c", command), **kwargs)

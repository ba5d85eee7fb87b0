"""Remote files: put with owner and mode (SFTP + sudo install), and idempotent line edits.

Every edit checks before it changes and returns whether it changed anything.
Commands are built from quoted parts. Content goes over SFTP, never on a
command line, so secrets can travel this way. No ``.bak`` copies are left
(1.x left a copy of every secret file it rewrote).
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

from jinja2 import Environment, StrictUndefined

from ..errors import DeployError
from . import nolink
from .commands import join, sudo

if TYPE_CHECKING:
    from fabric import Connection

TEMPLATES = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
TEMPLATES.filters["pyrepr"] = repr  # a Python literal of any value: secrets with quotes stay intact in settings files


def put(cxn: Connection, content: str | bytes, path: str, owner: str = "root", group: str | None = None, mode: str = "0644",
        make_dirs: bool = False) -> bool:
    """Install ``content`` at ``path`` with owner/group/mode unless it is already exactly that. Returns whether it changed.

    Uploaded as the login user to a private temporary file, then installed by root through no symbolic link
    (remote/nolink.py: a link another account put on the path is refused, not followed) and renamed into place.
    """
    data = content.encode() if isinstance(content, str) else content
    group = group or owner
    digest = hashlib.sha256(data).hexdigest()
    current = sudo(cxn, f"{join('stat', '-c', '%U %G %a', path)} 2>/dev/null && {join('sha256sum', path)}", hide=True, warn=True)
    if current.ok:
        attributes, checksum = current.stdout.splitlines()[0].split(), current.stdout.splitlines()[1].split()[0]
        if checksum == digest and attributes == [owner, group, mode.lstrip("0") or "0"]:
            return False
    temporary = cxn.run("mktemp", hide=True).stdout.strip()  # mode 0600, owned by the login user
    try:
        cxn.put(io.BytesIO(data), temporary)
        installed = nolink.as_root(cxn, "install", temporary, path, owner, group, mode, "1" if make_dirs else "0")
        if not installed.ok:
            said = installed.stderr.strip().splitlines()
            raise DeployError(f"{cxn.host}: cannot write {path}: {said[-1] if said else f'exit {installed.exited}'}")
    finally:
        cxn.run(join("rm", "-f", temporary), hide=True, warn=True)
    return True


def render(template: str, context: dict) -> str:
    """Render a Jinja template text; an undefined name is an error, never an empty string."""
    return TEMPLATES.from_string(template).render(**context)


def exists(cxn: Connection, path: str) -> bool:
    return sudo(cxn, join("test", "-e", path), hide=True, warn=True).ok


def contains(cxn: Connection, path: str, text: str, exact_line: bool = True) -> bool:
    """Whether ``path`` has ``text`` as a whole line (or anywhere, with ``exact_line=False``)."""
    flags = "-qxF" if exact_line else "-qF"
    return sudo(cxn, join("grep", flags, "--", text, path), hide=True, warn=True).ok


def append(cxn: Connection, path: str, line: str) -> bool:
    """Add ``line`` at the end of ``path`` unless it is already there (as 1.x's files.append). Not for secrets."""
    if contains(cxn, path, line):
        return False
    printf = join("printf", "%s\\n", line)
    sudo(cxn, f"{printf} >> {join(path)}", hide=True)
    return True


def sed(cxn: Connection, path: str, before: str, after: str, flags: str = "") -> bool:
    """Replace extended regex ``before`` by ``after`` in place; returns whether the file changed."""
    expression = f"s/{_escape(before)}/{_escape(after)}/{flags}"
    return _edit(cxn, path, join("sed", "-i", "-E", "-e", expression, path))


def comment(cxn: Connection, path: str, regex: str, char: str = "#") -> bool:
    """Comment out the lines matching ``regex`` (anchored at line start) that are not commented yet."""
    return sed(cxn, path, f"^({regex.lstrip('^')})", f"{char}\\1")


def uncomment(cxn: Connection, path: str, regex: str, char: str = "#") -> bool:
    """Uncomment the lines matching ``regex`` that are commented with ``char``."""
    return sed(cxn, path, f"^{_regex_literal(char)}[[:space:]]*({regex.lstrip('^')})", "\\1")


def checksum(cxn: Connection, path: str) -> str:
    return sudo(cxn, join("sha256sum", path), hide=True).stdout.split()[0]


def _edit(cxn: Connection, path: str, command: str) -> bool:
    before = checksum(cxn, path)
    sudo(cxn, command, hide=True)
    return checksum(cxn, path) != before


def _escape(text: str) -> str:
    return text.replace("/", "\\/")


def _regex_literal(text: str) -> str:
    return "".join(f"\\{char}" if char in ".^$*+?()[]{}|\\" else char for char in text)

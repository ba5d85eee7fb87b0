"""Root's file operations on a server that follow no symbolic link on the way.

Root writes into directories other accounts own (the deploy user's home: its code, settings and service files).
A link one of them puts in the way (``~/services/pgbouncer`` -> ``/etc/cron.d``) must not take root's write
elsewhere, so the small Python program below walks from ``/`` one directory at a time, each opened with
``O_NOFOLLOW``, and acts on the last one through its descriptor. It runs with the server's ``python3``.

Actions (arguments after the action name):

* ``install SOURCE PATH OWNER GROUP MODE MAKE_DIRS``: copy SOURCE into a new file beside PATH, give it OWNER,
  GROUP and MODE, and rename it over PATH (atomic: readers see the old file or the new one); MAKE_DIRS ``1``
  creates missing directories (root's, 0755);
* ``own PATH OWNER GROUP MODE``: fchown and fchmod the directory PATH;
* ``remove PATH``: from inside its parent, ``rm -rf --one-file-system`` PATH's last name (rm follows no link).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .commands import join, sudo

if TYPE_CHECKING:
    from fabric import Connection

SCRIPT = """
import grp, os, pwd, sys
action, path = sys.argv[1], sys.argv[3 if sys.argv[1] == "install" else 2]
parts = [p for p in path.split("/") if p]
make = action == "install" and sys.argv[7] == "1"
directory = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
for part in parts if action == "own" else parts[:-1]:
    try:
        try:
            step = os.open(part, directory, dir_fd=fd)
        except FileNotFoundError:
            if not make:
                raise
            os.mkdir(part, 0o755, dir_fd=fd)
            step = os.open(part, directory, dir_fd=fd)
    except OSError as error:
        sys.exit(f"{path}: {part}: {error.strerror} (a symbolic link or not a directory: refused)")
    os.close(fd)
    fd = step
if action == "own":
    owner, group, mode = sys.argv[3:]
    os.fchown(fd, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.fchmod(fd, int(mode, 8))
elif action == "install":
    source, owner, group, mode = sys.argv[2], *sys.argv[4:7]
    temporary = f".{parts[-1]}.fabulaws-{os.getpid()}"
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd)
    try:
        with open(source, "rb") as data:
            while chunk := data.read(1 << 16):
                os.write(out, chunk)
        os.fchown(out, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
        os.fchmod(out, int(mode, 8))
        os.fsync(out)
        os.rename(temporary, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
    except BaseException:
        os.unlink(temporary, dir_fd=fd)
        raise
    finally:
        os.close(out)
else:
    os.fchdir(fd)
    os.execvp("rm", ["rm", "-rf", "--one-file-system", "--", parts[-1]])
"""


def as_root(cxn: Connection, *arguments: str) -> Any:
    """Run SCRIPT with sudo (``warn=True``: the caller judges the Result; a refusal is one line on stderr)."""
    return sudo(cxn, join("python3", "-c", SCRIPT, *arguments), hide=True, warn=True)

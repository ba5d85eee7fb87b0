"""``reset_local_db``: the environment's database copied into a PostgreSQL database on this machine.

Local commands use libpq's usual defaults (``PGHOST``, ``PGUSER``... from the operator's environment). The copy
is loaded into ``<name>_loading`` first; only a complete load replaces ``<name>``.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import TYPE_CHECKING

from ....errors import DeployError
from ....remote.pipes import read_into
from ....ubuntu.packages.postgres import identifier
from . import postgres

if TYPE_CHECKING:
    from fabric import Connection

TOOLS = ("dropdb", "createdb", "pg_restore", "psql")


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise DeployError(f"{command[0]} failed on this machine: {' '.join(done.stderr.split())[-500:]}")


def reset(cxn: Connection, source_database: str, name: str) -> int:
    """Replace the local database ``name`` by a copy of ``source_database`` on ``cxn``; the bytes copied."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise DeployError(f"reset_local_db needs PostgreSQL's client programs here: {', '.join(missing)} not found")
    loading = postgres.loading_name(name)
    run("dropdb", "--if-exists", loading)
    run("createdb", "-E", "UTF-8", "-T", "template0", loading)
    restore = subprocess.Popen(["pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", "-d", loading],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert restore.stdin is not None
    try:
        copied = read_into(cxn, postgres.dump_command(source_database), restore.stdin.write)
        restore.stdin.close()
        errors = restore.stderr.read().decode(errors="replace") if restore.stderr else ""
        if restore.wait() != 0:
            raise DeployError(f"pg_restore into {loading} failed on this machine: {' '.join(errors.split())[-500:]}")
    except BaseException:
        restore.kill()
        restore.wait()
        run("dropdb", "--if-exists", loading)
        raise
    run("dropdb", "--if-exists", name)
    run("psql", "-X", "-q", "-d", "postgres", "-c", f"ALTER DATABASE {identifier(loading)} RENAME TO {identifier(name)}")
    return copied

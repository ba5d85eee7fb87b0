"""Commands on a database server, run as ``postgres`` (peer authentication: no password anywhere).

A restore never writes into the live database: it loads ``<name>_loading``, and only a complete load is
renamed into place, in one transaction; the database it replaces is kept as ``<name>_previous_<stamp>``
(only the newest such copy is kept).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ....remote.commands import as_user, join
from ....ubuntu.packages.postgres import identifier, literal

if TYPE_CHECKING:
    from fabric import Connection


def as_postgres(*parts: object) -> str:
    """A command line run as ``postgres`` (for a raw channel: remote/pipes.py)."""
    return join("sudo", "-n", "-H", "-u", "postgres", *parts)


def dump_command(database: str) -> str:
    """``pg_dump`` in PostgreSQL's custom format (compressed; pg_restore reads it) on stdout."""
    return as_postgres("pg_dump", "-Fc", "-d", database)


def restore_command(database: str, owner: str) -> str:
    """``pg_restore`` from stdin into ``database``: every object owned by ``owner`` (the application's role),
    stopping at the first error (pg_restore's default is to go on and report errors only at the end)."""
    return as_postgres("pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", f"--role={owner}", "-d", database)


def psql(cxn: Connection, sql: str, database: str = "postgres") -> str:
    """Run SQL as postgres, fed on stdin; its unaligned output."""
    command = join("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database)
    return as_user(cxn, "postgres", command, in_stream=io.StringIO(sql), hide=True).stdout


def loading_name(database: str) -> str:
    return f"{database}_loading"


def previous_prefix(database: str) -> str:
    return f"{database}_previous_"


def databases(cxn: Connection) -> list[str]:
    return psql(cxn, "SELECT datname FROM pg_database ORDER BY datname;").split()


def create_empty(cxn: Connection, database: str, owner: str) -> None:
    """``database`` anew, empty and owned by ``owner`` (one left by an earlier failed run is dropped first)."""
    drop(cxn, database)
    as_user(cxn, "postgres", join("createdb", "-E", "UTF-8", "-T", "template0", "-O", owner, database), hide=True)


def drop(cxn: Connection, database: str) -> None:
    psql(cxn, f"DROP DATABASE IF EXISTS {identifier(database)} WITH (FORCE);")  # ends its sessions (PostgreSQL 13+)


def disconnect(database: str, seconds: int = 30) -> str:
    """SQL that ends every session on ``database`` and waits (up to ``seconds``) until they are gone: a rename
    fails while anyone is connected, and pg_terminate_backend only asks."""
    name = literal(database)
    return (f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {name};\n"
            f"DO $$ BEGIN FOR i IN 1..{seconds * 10} LOOP PERFORM pg_stat_clear_snapshot(); "
            f"EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = {name}); "
            "PERFORM pg_sleep(0.1); END LOOP; END $$;\n")


def swap(cxn: Connection, database: str, now: datetime | None = None) -> str:
    """Rename ``<database>_loading`` to ``database`` and the live one aside, in one transaction; the name it got.

    Sessions still connected to the live database are ended first (the application is stopped by then).
    Older ``_previous_`` copies are dropped afterwards, so one copy is kept.
    """
    kept = previous_prefix(database) + (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    psql(cxn, disconnect(database) + "BEGIN;\n"
              f"ALTER DATABASE {identifier(database)} RENAME TO {identifier(kept)};\n"
              f"ALTER DATABASE {identifier(loading_name(database))} RENAME TO {identifier(database)};\n"
              "COMMIT;")
    for older in databases(cxn):
        if older.startswith(previous_prefix(database)) and older != kept:
            drop(cxn, older)
    return kept

"""Backups in S3: where they go, taking one, and finding one to restore."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ....aws import Aws
from ....aws import backups as s3_backups
from ....aws.backups import Backup
from ....aws.statestore import StateStore
from ....errors import UsageError
from . import transfer

if TYPE_CHECKING:
    from fabric import Connection

    from ....config import Settings
    from ..environment import Environment


def bucket_for(env: Environment, aws: Aws, report: object = None) -> str:
    """``backup_bucket`` if configured (it must exist: ConfigError naming the key), else the state bucket (created
    on first use: versioned, encrypted, not public)."""
    settings = env.settings
    if settings.backup_bucket:
        if not s3_backups.bucket_exists(aws.s3, settings.backup_bucket):
            raise settings.error(("backup_bucket",), f"bucket {settings.backup_bucket} does not exist in account "
                                 f"{aws.account}; create it (versioned, not public), or remove the key to keep "
                                 "backups in the state bucket")
        return settings.backup_bucket
    return StateStore.for_environment(aws, env.deployment, env.environment, report).bucket  # type: ignore[arg-type]


def take(cxn: Connection, env: Environment, aws: Aws, bucket: str) -> Backup:
    """``pg_dump`` of the environment's database on ``cxn`` (its primary), encrypted, stored in ``bucket``."""
    settings: Settings = env.settings
    fingerprint = settings.backup_key_fingerprint
    with transfer.private_directory() as directory:
        path = directory / "backup.dump"
        transfer.dump_to_file(cxn, env.paths.database_name, path)
        if fingerprint:
            path = transfer.encrypt(path, fingerprint)
        key = s3_backups.new_key(env.deployment, env.environment, gpg=bool(fingerprint))
        return s3_backups.upload(aws.s3, bucket, key, path, settings.backup_kms_key_id)


def listed(env: Environment, aws: Aws, bucket: str) -> list[Backup]:
    return s3_backups.backups(aws.s3, bucket, env.deployment, env.environment)


def find(env: Environment, aws: Aws, bucket: str, filepath: str) -> Backup | Path:
    """The backup ``filepath`` names: ``latest``, ``s3://bucket/key``, a key or a key's last part (e.g.
    ``20261201T210000Z.dump``), or a dump file on this machine. UsageError if there is none."""
    if filepath == "latest":
        found = listed(env, aws, bucket)
        if not found:
            raise UsageError(f"no backups of {env.deployment}/{env.environment} in s3://{bucket}/ yet (run dbbackup)")
        return found[-1]
    if filepath.startswith("s3://"):
        bucket, _, key = filepath[len("s3://"):].partition("/")
    elif os.path.isfile(filepath):
        return Path(filepath)
    else:
        key = filepath if "/" in filepath else s3_backups.prefix(env.deployment, env.environment) + filepath
    found_one = s3_backups.find(aws.s3, bucket, key)
    if found_one is not None:
        return found_one
    raise UsageError(f"dbrestore: no backup s3://{bucket}/{key} (`fabulaws {env.environment} dbrestore:list` lists them)")


def fetch(backup: Backup | Path, aws: Aws, directory: Path) -> Path:
    """The plain dump of ``backup`` in ``directory``: downloaded, and decrypted with the operator's key if .gpg."""
    if isinstance(backup, Path):
        path = backup
    else:
        path = directory / backup.key.rsplit("/", 1)[-1]
        s3_backups.download(aws.s3, backup.bucket, backup.key, path)
    return transfer.decrypt(path) if path.name.endswith(".gpg") else path

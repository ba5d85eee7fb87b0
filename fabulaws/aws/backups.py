"""Database backups as S3 objects: ``<deployment>/<environment>/<UTC timestamp>.dump[.gpg]``.

Every object is written with server-side encryption under KMS (the configured key, else the account's
``aws/s3`` key); a ``.gpg`` object was also encrypted on the operator's machine before it left. The bucket is
the state bucket (versioned, encrypted, not public; created on first use) unless ``backup_bucket`` names one,
which must exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from .errors import code, not_found
from .types import Client

SUFFIXES = (".dump", ".dump.gpg")
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Backup:
    """One backup object."""

    bucket: str
    key: str
    size: int
    modified: datetime

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def encrypted_locally(self) -> bool:
        return self.key.endswith(".gpg")


def prefix(deployment: str, environment: str) -> str:
    return f"{deployment}/{environment}/"


def new_key(deployment: str, environment: str, gpg: bool, now: datetime | None = None) -> str:
    """The key of a backup taken ``now`` (UTC): sorts by time, so the last one listed is the newest."""
    stamp = (now or datetime.now(UTC)).strftime(STAMP)
    return f"{prefix(deployment, environment)}{stamp}.dump" + (".gpg" if gpg else "")


def bucket_exists(s3: Client, bucket: str) -> bool:
    """Whether ``bucket`` exists (and we may read it); any error but "no such bucket" goes through."""
    try:
        s3.get_bucket_versioning(Bucket=bucket)  # not HeadBucket: its errors have no code to tell apart
        return True
    except ClientError as exc:
        if code(exc) in ("NoSuchBucket", "404", "NotFound"):
            return False
        raise


def backups(s3: Client, bucket: str, deployment: str, environment: str) -> list[Backup]:
    """The environment's backups, oldest first (an absent bucket has none)."""
    found: list[Backup] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix(deployment, environment)):
            for item in page.get("Contents", []):
                key = item["Key"]
                if "/" not in key[len(prefix(deployment, environment)):] and key.endswith(SUFFIXES):
                    found.append(Backup(bucket, key, int(item["Size"]), item["LastModified"]))
    except ClientError as exc:
        if not_found(exc):
            return []
        raise
    return sorted(found, key=lambda backup: backup.key)


def upload(s3: Client, bucket: str, key: str, path: Path, kms_key_id: str | None) -> Backup:
    """Upload the file at ``path`` as ``key`` with SSE-KMS (multipart for large files); the Backup written."""
    extra = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        extra["SSEKMSKeyId"] = kms_key_id
    s3.upload_file(str(path), bucket, key, ExtraArgs=extra)
    head = s3.head_object(Bucket=bucket, Key=key)
    return Backup(bucket, key, int(head["ContentLength"]), head["LastModified"])


def find(s3: Client, bucket: str, key: str) -> Backup | None:
    """The backup object ``key``, or None if there is none (or no such bucket)."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if not_found(exc):
            return None
        raise
    return Backup(bucket, key, int(head["ContentLength"]), head["LastModified"])


def download(s3: Client, bucket: str, key: str, path: Path) -> bool:
    """Download ``key`` into ``path``; False if there is no such object."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if not_found(exc):
            return False
        raise
    s3.download_file(bucket, key, str(path))
    return True


def encryption(s3: Client, bucket: str, key: str) -> tuple[str | None, str | None]:
    """(ServerSideEncryption, SSEKMSKeyId) of the object, as S3 reports them."""
    head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")

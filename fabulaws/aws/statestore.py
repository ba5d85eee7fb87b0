"""Shared run state in S3 with conditional writes (Terraform's S3 backend with ``use_lockfile`` is the anchor).

One bucket per account and region unless one is named (``FABULAWS_STATE_BUCKET``); under
``<deployment>/<environment>/`` it holds ``lock.json`` (the lease, created with ``If-None-Match: *`` so two
writers never both succeed) and ``journal.json`` (replaced with ``If-Match`` on the ETag read or written last,
so a writer that lost the lease cannot overwrite the run that took over).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..report import say
from .errors import code as _code
from .types import Client

if TYPE_CHECKING:
    from .session import Aws

BUCKET_VARIABLE = "FABULAWS_STATE_BUCKET"

_announced: set[str] = set()
_announce_lock = threading.Lock()


class PreconditionFailed(Exception):
    """A conditional write lost: the object exists (If-None-Match) or changed (If-Match)."""


def default_bucket(aws: Aws) -> str:
    """``FABULAWS_STATE_BUCKET``, else ``fabulaws-state-<account>-<region>``."""
    return os.environ.get(BUCKET_VARIABLE) or f"fabulaws-state-{aws.account}-{aws.region}"


def _precondition(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def _missing(exc: ClientError) -> bool:
    return _code(exc) in ("NoSuchKey", "NoSuchBucket", "404", "NotFound")


@dataclass
class StateStore:
    """The lock and journal objects of one (deployment, environment)."""

    s3: Client
    bucket: str
    prefix: str
    region: str = "us-east-1"

    @classmethod
    def for_environment(cls, aws: Aws, deployment: str, environment: str,
                        report: Callable[[str], None] | None = None) -> StateStore:
        """The store of ``deployment``/``environment``; the bucket is created on first use (said once)."""
        store = cls(aws.client("s3"), default_bucket(aws), f"{deployment}/{environment}", aws.region)
        store.ensure_bucket(report)
        return store

    @classmethod
    def peek(cls, aws: Aws, deployment: str, environment: str) -> StateStore:
        """The same store for reading only (a bucket not yet created reads as empty; nothing is created)."""
        return cls(aws.client("s3"), default_bucket(aws), f"{deployment}/{environment}", aws.region)

    @property
    def lock_key(self) -> str:
        return f"{self.prefix}/lock.json"

    @property
    def journal_key(self) -> str:
        return f"{self.prefix}/journal.json"

    def where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # --- the bucket -----------------------------------------------------------------------------
    def ensure_bucket(self, report: Callable[[str], None] | None = None) -> None:
        """Create the bucket if missing: versioned, AES256 by default, all public access blocked. Idempotent."""
        try:  # NOTE: not HeadBucket: an error without a body (e.g. throttling) cannot be told apart, nor retried
            self.s3.get_bucket_versioning(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.s3.create_bucket(**arguments)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou",):
                raise
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_bucket_encryption(Bucket=self.bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        self.s3.put_public_access_block(Bucket=self.bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        with _announce_lock:
            if self.bucket not in _announced:
                _announced.add(self.bucket)
                message = (f"fabulaws: state bucket {self.bucket} created (versioned, encrypted, not public); "
                           f"it keeps the lock and journal of every deploy (set {BUCKET_VARIABLE} to use another)")
                say(report, message)

    # --- objects --------------------------------------------------------------------------------
    def read(self, key: str) -> tuple[dict, str] | None:
        """(content, ETag) of ``key``, or None when it does not exist."""
        try:
            found = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return json.loads(found["Body"].read()), found["ETag"]

    def create(self, key: str, content: dict) -> str:
        """Write ``key`` only if it does not exist (If-None-Match: *); its ETag. PreconditionFailed if it exists."""
        return self._put(key, content, IfNoneMatch="*")

    def replace(self, key: str, content: dict, etag: str) -> str:
        """Write ``key`` only if it still has ``etag`` (If-Match); the new ETag. PreconditionFailed otherwise."""
        return self._put(key, content, IfMatch=etag)

    def _put(self, key: str, content: dict, **condition: str) -> str:
        body = json.dumps(content, indent=2, sort_keys=True, default=str).encode()
        try:
            return self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                                      ServerSideEncryption="AES256", **condition)["ETag"]
        except ClientError as exc:
            if _precondition(exc) or (condition.get("IfMatch") and _missing(exc)):
                raise PreconditionFailed(f"{self.where(key)} changed meanwhile") from None
            raise

    def delete(self, key: str, etag: str | None = None) -> bool:
        """Delete ``key`` (only if its ETag is still ``etag``, when given); whether it was deleted."""
        if etag is not None:
            current = self.read(key)
            if current is None or current[1].strip('"') != etag.strip('"'):
                return False
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return True

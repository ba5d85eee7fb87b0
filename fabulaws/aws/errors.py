"""Whether an AWS error means "it does not exist", decided by the error's code (never by its message).

What is already gone is fine to a delete, and "no such thing" is an answer to a lookup; every other error
(AccessDenied, throttling that outlived the retries, an injected fault...) goes through to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

# Codes that say the named thing does not exist (EC2, ELB, ELBv2, S3, SSM, Auto Scaling's refreshes).
NOT_FOUND_CODES = frozenset({
    "InvalidAMIID.Unavailable",  # an image deregistered moments ago
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ActiveInstanceRefreshNotFound",
    "ParameterNotFound",
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "404",
})
# EC2's per-kind codes: InvalidInstanceID.NotFound, InvalidAMIID.NotFound, InvalidKeyPair.NotFound,
# InvalidVolume.NotFound, InvalidSnapshot.NotFound, InvalidLaunchTemplateId.NotFound and .VersionNotFound,
# InvalidLaunchTemplateName.NotFoundException; an id that is malformed (InvalidAMIID.Malformed) names nothing.
NOT_FOUND_SUFFIXES = (".NotFound", ".VersionNotFound", ".NotFoundException", ".Malformed")
# Auto Scaling answers "no such group / configuration / instance" with ValidationError, the code it also gives
# invalid requests (terminating below the group's minimum...): it means "gone" only once a read confirms it.
AMBIGUOUS = "ValidationError"


def code(exc: BaseException) -> str:
    """The error code of a ClientError ('' for anything else)."""
    if not isinstance(exc, ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


def not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is AWS saying the thing does not exist, by its error code."""
    found = code(exc)
    return bool(found) and (found in NOT_FOUND_CODES or found.endswith(NOT_FOUND_SUFFIXES))


def unless_gone(action: Callable[[], T], absent: Callable[[], bool] | None = None) -> T | None:
    """``action()``; None if AWS answers that its target does not exist; any other error goes through.

    + absent: for Auto Scaling, whose ValidationError is ambiguous: asked (a read) whether the target is really
      gone before such an error counts as "not found"
    """
    try:
        return action()
    except ClientError as exc:
        if not_found(exc) or (absent is not None and code(exc) == AMBIGUOUS and absent()):
            return None
        raise

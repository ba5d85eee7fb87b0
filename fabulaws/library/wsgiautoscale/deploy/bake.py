"""Where the next web image comes from: an existing image (reuse), the current one (incremental) or the base image.

An image baked here carries its provisioning digest (servers/digest.py) and changeset as tags. The next deploy
starts from the image the group launches now only while the digest is the same: any change to what shapes the
server (packages, Python, instance settings, users, post-setup) means a full bake from the base image, never a
reuse of the old one. An image of the same digest and changeset is deployed as it is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ....aws import images
from ....aws import tags as tagging
from ....aws.launch import Launch, find_launch_configuration, template_version
from ....errors import UsageError
from ..servers.digest import hash_of

if TYPE_CHECKING:
    from fabulaws.aws import Aws

DIGEST_TAG = "fabulaws:provision-digest"
CHANGESET_TAG = "fabulaws:changeset"
REQUIREMENTS_TAG = "fabulaws:requirements"  # sha256 of the requirements file the image's virtualenv has
BAKED_TAG = "fabulaws:baked"  # full or incremental
INPUT_TAG = "fabulaws:provision:"  # one tag per input (readable; a hash when longer than a tag value may be)
MODES = ("auto", "full")
SHA = re.compile(r"[0-9a-f]{40}")
LS_REMOTE_TIMEOUT = 20.0


@dataclass(frozen=True)
class BakePlan:
    """``kind``: reuse (deploy ``image`` as it is), incremental (bake from ``image``) or full (from the base image)."""

    kind: str
    reason: str
    image: str | None = None
    changeset: str | None = None  # the changeset an image is reused for
    requirements: str | None = None  # the requirements hash recorded on ``image``

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"bake={mode!r}: expected auto (reuse or build on the current image when possible) or full")
    return mode


def image_tags(digest: str, inputs: dict[str, Any], changeset: str, baked: str, requirements: str | None) -> dict[str, str]:
    """The tags a baked image carries (with the instance's own: deployment, environment, role)."""
    tags = {DIGEST_TAG: digest, CHANGESET_TAG: changeset, BAKED_TAG: baked}
    if requirements:
        tags[REQUIREMENTS_TAG] = requirements
    tags.update({INPUT_TAG + key: _tag_value(value) for key, value in inputs.items()})
    return tags


def _tag_value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 256 else f"sha256:{hash_of(value)[:32]}"


def changes(tags: dict[str, str], inputs: dict[str, Any]) -> list[str]:
    """What differs between the inputs an image recorded and ``inputs``, e.g. ``python changed from X to Y``."""
    found = []
    for key, value in inputs.items():
        old, new = tags.get(INPUT_TAG + key), _tag_value(value)
        if old is None:
            found.append(f"{key} not recorded on the image")
        elif old != new:
            found.append(f"{key} changed from {old} to {new}")
    return found


def decide(mode: str, digest: str, inputs: dict[str, Any], current: dict | None, existing: dict | None,
           changeset_note: str = "") -> BakePlan:
    """The plan from what was found: ``current`` the group's image (DescribeImages entry or None), ``existing`` an
    available image of this digest and changeset (or None). Pure."""
    if mode == "full":
        return BakePlan("full", "bake=full")
    if existing is not None:
        tags = tagging.of(existing)
        return BakePlan("reuse", f"image {existing['ImageId']} has the same provisioning digest and changeset "
                                 f"{tags[CHANGESET_TAG][:12]}", existing["ImageId"], tags[CHANGESET_TAG])
    if current is None:
        return BakePlan("full", "the group's current image was not found")
    tags = tagging.of(current)
    image_id = current["ImageId"]
    if current.get("State", "available") != "available":
        return BakePlan("full", f"image {image_id} is {current.get('State')}")
    if DIGEST_TAG not in tags:
        return BakePlan("full", f"image {image_id} has no provisioning digest (not baked by this version)")
    if tags[DIGEST_TAG] != digest:
        why = "; ".join(changes(tags, inputs)) or "its provisioning digest differs"
        return BakePlan("full", f"{why} (image {image_id})")
    note = f" ({changeset_note})" if changeset_note else ""
    return BakePlan("incremental", f"image {image_id} has the same provisioning digest{note}", image_id,
                    requirements=tags.get(REQUIREMENTS_TAG))


def find_current_image(aws: Aws, group: dict) -> dict | None:
    """The image the group launches now (its launch configuration's or template version's), or None. Read-only."""
    launch = Launch.of(group)
    if launch.uses_template:
        data = template_version(aws.ec2, launch.template_id, launch.version, launch.template_name)["LaunchTemplateData"]
        image_id = data.get("ImageId")
    elif launch.configuration:
        image_id = find_launch_configuration(aws.autoscaling, launch.configuration).get("ImageId")
    else:
        return None
    return images.find_image(aws.ec2, image_id) if image_id else None


def find_baked(aws: Aws, deployment: str, environment: str, digest: str) -> list[dict]:
    """The available images of this deployment/environment with this provisioning digest. Read-only."""
    found = images.find_owned(aws.ec2, {"deployment": deployment, "environment": environment, DIGEST_TAG: digest})
    return [i for i in found if i.get("State") == "available"]


def plan_bake(aws: Aws, group: dict, deployment: str, environment: str, digest: str, inputs: dict[str, Any],
              changeset: Callable[[], tuple[str | None, str]], mode: str = "auto") -> BakePlan:
    """Read the group's image and the images already baked with this digest; decide. Read-only.

    ``changeset``: (the changeset a bake would check out, or None; why not), asked only when an image of this
    digest exists (resolving the branch's head may mean a call to the repository's server)."""
    if check_mode(mode) == "full":
        return decide(mode, digest, inputs, None, None)
    baked, existing, note = find_baked(aws, deployment, environment, digest), None, ""
    if baked:
        wanted, note = changeset()
        same = [i for i in baked if wanted and tagging.of(i).get(CHANGESET_TAG) == wanted]
        existing = max(same, key=lambda i: i.get("CreationDate", "")) if same else None
    return decide(mode, digest, inputs, find_current_image(aws, group), existing, note)


def resolve_changeset(repo: str, branch: str, given: str | None, vcs: str = "git") -> tuple[str | None, str]:
    """(the full changeset a bake would check out, or None; a note why not). ``given`` if it is a full sha, else
    ``git ls-remote`` of the branch from here (no prompt, bounded); None when the repository is not reachable."""
    if given:
        return (given, "") if SHA.fullmatch(given) else (None, f"changeset {given} is not a full sha")
    ref = branch.removeprefix("origin/")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
    try:
        result = subprocess.run([vcs, "ls-remote", "--", repo, f"refs/heads/{ref}"], capture_output=True, text=True,
                                timeout=LS_REMOTE_TIMEOUT, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"the head of {ref} is not known here ({type(exc).__name__})"
    head = result.stdout.split()[0] if result.returncode == 0 and result.stdout.split() else ""
    if not SHA.fullmatch(head):
        return None, f"the head of {ref} is not known here (git ls-remote: {result.stderr.strip()[:120] or 'no such branch'})"
    return head, ""

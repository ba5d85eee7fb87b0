"""Where the next web image comes from (deploy/bake.py) and the provisioning digest (servers/digest.py), on the
sandbox's AWS: images with tags, the group's launch template or configuration pointing at one."""

from __future__ import annotations

import subprocess

import pytest
from fabulaws.aws import scaling
from fabulaws.aws import tags as tagging
from fabulaws.aws.launch import (
    Launch,
    create_launch_configuration,
    create_template_version,
)
from fabulaws.errors import UsageError
from fabulaws.library.wsgiautoscale.app.engine_steps import ApplicationSteps
from fabulaws.library.wsgiautoscale.deploy.bake import (
    CHANGESET_TAG,
    DIGEST_TAG,
    image_tags,
    plan_bake,
    resolve_changeset,
)
from fabulaws.library.wsgiautoscale.servers.digest import provision_digest
from fabulaws.library.wsgiautoscale.tasks.operations import CREATE_LAUNCH

from deploy_support import GROUP, make_project

OLD = "1" * 40
NEW = "2" * 40


@pytest.fixture
def project(sandbox, tmp_path, monkeypatch):
    project = make_project(sandbox, tmp_path / "myproject", web=0)
    monkeypatch.chdir(project.directory)
    return project


def changed(settings, **update):
    return settings.model_copy(update=update)


def bake(project, settings=None, changeset: str = OLD, tagged: bool = True, point_group: bool = True) -> str:
    """An available image of an instance, tagged as a bake of ``settings`` at ``changeset`` would tag it; the
    group launches it when ``point_group``."""
    settings = settings or project.settings
    ec2 = project.aws.ec2
    instance = ec2.run_instances(ImageId=settings.instance_settings.ami, MinCount=1, MaxCount=1)["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name=f"myproject_testing_web_{changeset}")["ImageId"]
    ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    tags = {"deployment": "myproject", "environment": "testing"}
    if tagged:
        digest, inputs = provision_digest(settings, "testing")
        tags.update(image_tags(digest, inputs, changeset, "full", None))
    tagging.add(ec2, [image], tags)
    if point_group:
        group = project.group()
        current = Launch.of(group)
        if current.uses_template:
            launch = create_template_version(ec2, current, image, "test", {CHANGESET_TAG: changeset})
        else:
            launch = create_launch_configuration(project.aws.autoscaling, f"lc-{image}", image, [], "t3.micro", None)
        scaling.update_group(project.aws.autoscaling, GROUP, **launch.group_arguments())
    return image


def decide(project, settings=None, changeset: str | None = NEW, mode: str = "auto"):
    digest, inputs = provision_digest(settings or project.settings, "testing")
    return plan_bake(project.aws, project.group(), "myproject", "testing", digest, inputs,
                     lambda: (changeset, "" if changeset else "not known here"), mode)


# --- the digest ----------------------------------------------------------------------------------------------
def test_the_digest_is_stable_and_names_its_inputs(project):
    digest, inputs = provision_digest(project.settings, "testing")
    assert provision_digest(project.settings, "testing")[0] == digest
    assert len(digest) == 64
    assert "nginx" in inputs["packages"]["nginx"] and inputs["python"] == project.settings.python
    assert inputs["instance_settings"]["ami"] == project.settings.instance_settings.ami


@pytest.mark.parametrize("update", [
    {"app_server_packages": ["libjpeg-dev"]},
    {"python": "/usr/bin/python3.13"},
    {"node_version": "22"},
    {"munin_node": True},
], ids=lambda u: next(iter(u)))
def test_any_provisioning_input_changes_the_digest(project, update):
    assert provision_digest(changed(project.settings, **update), "testing")[0] != provision_digest(project.settings, "testing")[0]


def test_what_a_deploy_redoes_does_not_change_the_digest(project):
    code_only = changed(project.settings, gunicorn_timeout=project.settings.gunicorn_timeout + 1)
    assert provision_digest(code_only, "testing")[0] == provision_digest(project.settings, "testing")[0]


def test_the_instance_settings_change_the_digest(project):
    swap = changed(project.settings.instance_settings, swap_multiplier=3.0)
    assert provision_digest(changed(project.settings, instance_settings=swap), "testing")[0] != \
        provision_digest(project.settings, "testing")[0]


# --- the decision ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("launch", ["template", "configuration"])
def test_same_digest_bakes_from_the_current_image(sandbox, tmp_path, monkeypatch, launch):
    project = make_project(sandbox, tmp_path / "myproject", launch=launch, web=0)
    image = bake(project)
    plan = decide(project)
    assert (plan.kind, plan.image) == ("incremental", image), plan
    assert f"image {image} has the same provisioning digest" in str(plan)


def test_a_changed_package_list_bakes_from_the_base_image(project):
    image = bake(project)
    plan = decide(project, changed(project.settings, app_server_packages=["libjpeg-dev"]))
    assert plan.kind == "full" and plan.image is None, plan
    assert "packages changed from" in plan.reason and "libjpeg-dev" in plan.reason and image in plan.reason


def test_a_changed_python_bakes_from_the_base_image(project):
    bake(project)
    plan = decide(project, changed(project.settings, python="/usr/bin/python3.13"))
    assert plan.kind == "full", plan
    assert 'python changed from "/usr/bin/python3" to "/usr/bin/python3.13"' in plan.reason


def test_a_changed_python_never_reuses_an_image_of_the_same_changeset(project):
    bake(project, changeset=NEW)
    plan = decide(project, changed(project.settings, python="/usr/bin/python3.13"), changeset=NEW)
    assert plan.kind == "full", plan


def test_an_image_without_a_digest_bakes_from_the_base_image(project):
    image = bake(project, tagged=False)
    plan = decide(project)
    assert plan.kind == "full" and f"image {image} has no provisioning digest" in plan.reason, plan


def test_same_digest_and_changeset_reuses_the_image(project):
    current = bake(project, changeset=OLD)
    existing = bake(project, changeset=NEW, point_group=False)
    plan = decide(project, changeset=NEW)
    assert (plan.kind, plan.image, plan.changeset) == ("reuse", existing, NEW), plan
    assert decide(project, changeset=OLD).image == current  # the group's own image: redeploying it bakes nothing
    assert decide(project, changeset=None).kind == "incremental"  # head unknown: no reuse, no guess


def test_bake_full_always_bakes_from_the_base_image(project):
    bake(project, changeset=NEW)
    plan = decide(project, changeset=NEW, mode="full")
    assert (plan.kind, plan.reason) == ("full", "bake=full")


def test_an_unknown_mode_is_refused(project):
    with pytest.raises(UsageError, match="bake='partial'"):
        decide(project, mode="partial")


def test_a_reused_image_is_not_the_runs_product(project):
    """A rollback deletes the images the run tracked: a reused one must not be among them."""
    existing = bake(project, changeset=NEW)
    ctx = project.context(CREATE_LAUNCH, ApplicationSteps(None), changeset=NEW)
    assert ApplicationSteps(None).bake_image(ctx) == (existing, NEW)
    assert ctx.journal.resources == []
    assert tagging.of(project.aws.ec2.describe_images(ImageIds=[existing])["Images"][0])[DIGEST_TAG]


# --- the changeset a bake checks out ----------------------------------------------------------------------------
def test_the_branch_head_is_resolved_from_here(tmp_path):
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert resolve_changeset(str(repo), "main", None) == (head, "")
    assert resolve_changeset(str(repo), "origin/main", None)[0] == head
    missing, note = resolve_changeset(str(repo), "nope", None)
    assert missing is None and "head of nope is not known here" in note
    assert resolve_changeset(str(tmp_path / "none"), "main", None)[0] is None
    assert resolve_changeset(str(repo), "main", "abc123") == (None, "changeset abc123 is not a full sha")
    assert resolve_changeset(str(repo), "main", NEW) == (NEW, "")


def test_the_tags_stay_within_aws_limits(project):
    digest, inputs = provision_digest(project.settings, "testing")
    tags = image_tags(digest, inputs, NEW, "full", "f" * 64)
    assert len(tags) + 5 <= 50  # with the instance's own (Name, deployment, environment, role, run tag)
    assert all(len(k) <= 128 and len(v) <= 256 for k, v in tags.items())
    assert tags[CHANGESET_TAG] == NEW and tags[DIGEST_TAG] == digest

"""The 1.x deployment guide end to end on sandbox hosts, with the example Django + Celery site.

create_environment builds the database, cache and worker servers while the web image is baked, then
deploy_full puts two web servers from it behind the real haproxy load balancer. A request loop then watches
the site through deploy_serial (no failed request, new code and new secret) and deploy_full (only the
maintenance page in its window).
"""

from __future__ import annotations

import base64
import subprocess
import threading
import time

from conftest import wait_until
from environment_support import (
    DEPLOY_TIMEOUT,
    SECRETS,
    RequestLoop,
    fingerprint,
    get,
    new_version,
)
from hosts_support import (
    Shell,
    aws_client,
    fabulaws,
    http_get,
    scaling_story,
)


def test_the_site_answers_through_the_load_balancer(environment):
    assert get(environment, "/") == (200, "Hello from myproject, version 1\n")
    assert get(environment, "/healthcheck.html") == (200, "OK\n"), "every database answers"
    status, body = get(environment, "/celery-ping/", timeout=30)
    assert status == 200 and '"result": 5' in body, body
    assert get(environment, "/secret-fingerprint/") == (200, fingerprint(SECRETS["secret_key"]) + "\n")
    assert environment["watch"].seen == set(), "no secret on any command line"
    assert not any(secret in environment["output"] for secret in SECRETS.values())
    assert "Created 4 of 4 servers." in environment["output"]
    assert "first contact" not in environment["output"], "every host key came from its instance's console"


def test_deploy_serial_fails_no_request_and_brings_new_code_and_secret(environment):
    new_version(environment, 2)
    secrets_file = environment["dir"] / "fabsecrets_testing.py"
    secrets_file.write_text(secrets_file.read_text().replace(repr(SECRETS["secret_key"]), repr("second secret key")))
    updated = fabulaws(environment, "testing", "update_server_passwords", timeout=300)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    loop = RequestLoop(environment)
    loop.start()
    started = time.monotonic()
    result = fabulaws(environment, "deploy_serial:myproject,testing", timeout=DEPLOY_TIMEOUT)
    seconds = time.monotonic() - started
    time.sleep(1)
    answers = loop.stop()
    print(f"deploy_serial: {seconds:.0f} s, {len(answers)} requests")
    assert result.returncode == 0, result.stdout + result.stderr
    failures = [answer for answer in answers if answer[0] != 200]
    assert failures == [], f"{len(failures)} of {len(answers)} requests failed during deploy_serial: {failures[:3]}"
    assert len(answers) > 20 * seconds * 0.25, f"the loop kept some pace ({len(answers)} requests in {seconds:.0f} s)"
    assert answers[-1] == (200, "Hello from myproject, version 2\n")
    assert get(environment, "/secret-fingerprint/") == (200, fingerprint("second secret key") + "\n")
    changesets = fabulaws(environment, "testing", "current_changeset", timeout=120)
    story = scaling_story(environment)
    expected = f"current_changeset: {head(environment)}"
    assert changesets.stdout.count(expected) == 3, changesets.stdout + changesets.stderr + story  # 2 web, 1 worker


def test_the_upgrade_page_and_the_health_check_override(environment):
    def running_webs() -> list[str]:
        return [web["PrivateIpAddress"] for web in running(environment, "web")]

    # the group may still be settling after the last deploy (old servers leaving)
    wait_until(lambda: len(running_webs()) == 2 and get(environment, "/")[0] == 200, 120, "two web servers serving")
    webs = running_webs()
    try:
        assert fabulaws(environment, "testing", "begin_upgrade", timeout=120).returncode == 0
        status, body = get(environment, "/")
        assert status == 503 and "being upgraded" in body
        assert get(environment, "/healthcheck.html") == (200, "OK (upgrade in progress)\n"), "still in the balancer"
        for web in webs:
            assert http_get(web, "/healthcheck.html") == (200, "OK (upgrade in progress)\n")
    finally:
        assert fabulaws(environment, "testing", "end_upgrade", timeout=120).returncode == 0
    wait_until(lambda: get(environment, "/")[0] == 200, 60, "the servers back in the load balancer", interval=0.5)


def test_deploy_full_serves_only_the_maintenance_page_in_its_window(environment):
    new_version(environment, 3)
    loop = RequestLoop(environment, rate=10)
    loop.start()
    result = fabulaws(environment, "deploy_full:myproject,testing", timeout=DEPLOY_TIMEOUT)
    time.sleep(1)
    answers = loop.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = []
    for status, body in answers:
        if status == 200 and "version 2" in body:
            kinds.append("old")
        elif status == 200 and "version 3" in body:
            kinds.append("new")
        elif status == 503 and "being upgraded" in body:
            kinds.append("maintenance")
        else:
            kinds.append(f"unexpected {status}: {body[:80]!r}")
    assert [k for k in kinds if k.startswith("unexpected")] == []
    assert "maintenance" in kinds, "the maintenance page was served in the window"
    last_old, first_new = max(i for i, k in enumerate(kinds) if k == "old"), kinds.index("new")
    assert last_old < first_new, "no old page after the new code appeared"
    assert kinds[-1] == "new"


def running(environment, role: str) -> list[dict]:
    return [i for r in aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:role", "Values": [role]}, {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
        for i in r["Instances"]]


def head(environment) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=environment["repository"], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_new_relic_files_and_a_deployment_marker_per_deploy(environment):
    markers = environment["markers"]
    assert markers, "create_environment's deploy_worker flagged the deployment"
    assert {m["key"] for m in markers} == {SECRETS["newrelic_api_key"]}
    latest = markers[-2:]
    assert [m["deployment[app_name]"] for m in latest] == ["myproject testing (web)", "myproject testing (celery)"]
    assert {m["deployment[revision]"] for m in latest} == {head(environment)}
    worker = Shell(environment, running(environment, "worker")[0]["PrivateIpAddress"])
    for app_type in ("web", "celery"):
        path = f"/home/myproject/services/newrelic-testing-{app_type}.ini"
        assert worker.ok(f"sudo stat -c '%a %U %G' {path}").split() == ["640", "myproject", "myproject-web"]
        text = worker.ok(f"sudo cat {path}")
        assert f"license_key = {SECRETS['newrelic_license_key']}" in text
        assert f"app_name = myproject testing ({app_type})" in text
    before = len(markers)
    flagged = fabulaws(environment, "testing", "flag_deployment", timeout=120)
    assert flagged.returncode == 0, flagged.stdout + flagged.stderr
    assert len(markers) == before + 2, "one marker per application, once (1.x: once per worker)"
    assert markers[-1]["deployment[revision]"] == head(environment)
    assert SECRETS["newrelic_api_key"] not in flagged.stdout + flagged.stderr


def test_post_bootstrap_ran_and_web_servers_know_their_own_names(environment):
    worker = Shell(environment, running(environment, "worker")[0]["PrivateIpAddress"])
    worker.ok("test -f /var/tmp/post-bootstrap-ran")
    for web in running(environment, "web"):
        address = web["PrivateIpAddress"]
        shell = Shell(environment, address)
        shell.ok("test -f /var/tmp/post-bootstrap-ran")  # baked into the image on its temporary server
        assert address in shell.ok("cat /var/lib/fabulaws/myproject-testing/own-hosts").split()
        # launched from the image, with another address than the server it was baked on: Django still serves it
        status, body = http_get(address, "/")
        assert status == 200 and "Hello from myproject" in body, (status, body[:200])


def test_add_all_to_elb_puts_a_removed_web_server_back(environment):
    webs = [web["InstanceId"] for web in running(environment, "web")]
    elb, elbv2 = aws_client(environment, "elb"), aws_client(environment, "elbv2")
    group = elbv2.describe_target_groups(Names=["myproject-testing-tg"])["TargetGroups"][0]["TargetGroupArn"]
    elb.deregister_instances_from_load_balancer(LoadBalancerName="myproject-testing-lb",
                                                Instances=[{"InstanceId": webs[0]}])
    elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": webs[0]}])
    added = fabulaws(environment, "testing", "add_all_to_elb", timeout=300)
    assert added.returncode == 0, added.stdout + added.stderr
    states = {i["InstanceId"]: i["State"] for i in elb.describe_instance_health(
        LoadBalancerName="myproject-testing-lb")["InstanceStates"]}
    assert {states.get(web) for web in webs} == {"InService"}
    targets = {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in elbv2.describe_target_health(
        TargetGroupArn=group)["TargetHealthDescriptions"]}
    assert {targets.get(web) for web in webs} == {"healthy"}
    assert {web["InstanceId"] for web in running(environment, "web")} == set(webs), "no server replaced meanwhile"


def test_add_to_elb_deploys_servers_out_of_service_then_adds_them(environment):
    refused = fabulaws(environment, "testing", "add_to_elb", timeout=300)
    assert refused.returncode != 0 and "already in load balancer" in refused.stderr, refused.stdout + refused.stderr
    webs = [web["InstanceId"] for web in running(environment, "web")]
    elb = aws_client(environment, "elb")
    elb.deregister_instances_from_load_balancer(LoadBalancerName="myproject-testing-lb",
                                                Instances=[{"InstanceId": web} for web in webs])
    elbv2 = aws_client(environment, "elbv2")
    group = elbv2.describe_target_groups(Names=["myproject-testing-tg"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.deregister_targets(TargetGroupArn=group, Targets=[{"Id": web} for web in webs])
    wait_until(lambda: get(environment, "/")[0] == 503, 60, "the load balancer without servers")
    added = fabulaws(environment, "testing", "add_to_elb", timeout=600)
    assert added.returncode == 0, added.stdout + added.stderr
    assert added.stdout.count("deploy_web: ") == 2, added.stdout
    wait_until(lambda: get(environment, "/")[0] == 200, 60, "the site back")
    for web in running(environment, "web"):
        assert http_get(web["PrivateIpAddress"], "/")[0] == 200, "no upgrade page left behind"


def edit_config(environment, change) -> str:
    """Apply ``change`` to the project's fabulaws-config.yml; returns the text before, to restore."""
    import yaml

    path = environment["dir"] / "fabulaws-config.yml"
    before = path.read_text()
    config = yaml.safe_load(before)
    change(config)
    path.write_text(yaml.safe_dump(config))
    return before


def test_basic_auth_guards_the_site_but_not_the_health_check(environment):
    password = "basic 'auth' $pass"
    secrets_file = environment["dir"] / "fabsecrets_testing.py"
    secrets_before = secrets_file.read_text()
    secrets_file.write_text(secrets_before + f"basic_auth_username = 'visitor'\nbasic_auth_password = {password!r}\n")

    def enable(config) -> None:
        config["use_basic_auth"] = {"testing": True}
        config["password_names"] += ["basic_auth_username", "basic_auth_password"]

    config_before = edit_config(environment, enable)
    web = running(environment, "web")[0]["PrivateIpAddress"]
    try:
        uploaded = fabulaws(environment, "testing", "upload_nginx_conf", timeout=300)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        assert password not in uploaded.stdout + uploaded.stderr
        assert http_get(web, "/")[0] == 401
        assert http_get(web, "/healthcheck.html") == (200, "OK\n"), "the load balancer's check needs no password"
        token = base64.b64encode(f"visitor:{password}".encode()).decode()
        status, body = http_get(web, "/", headers={"Authorization": f"Basic {token}"})
        assert status == 200 and "Hello from myproject" in body
    finally:
        (environment["dir"] / "fabulaws-config.yml").write_text(config_before)
        secrets_file.write_text(secrets_before)
        assert fabulaws(environment, "testing", "upload_nginx_conf", timeout=300).returncode == 0
    assert http_get(web, "/")[0] == 200


def test_collectstatic_invalidates_the_cloudfront_distribution(environment):
    cloudfront = aws_client(environment, "cloudfront")
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "myproject-testing", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "static", "DomainName": "static.example.com",
                                              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443,
                                                                     "OriginProtocolPolicy": "https-only"}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "static", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}},
    })["Distribution"]["Id"]

    def configure(config) -> None:
        config["cloudfront_distribution_ids"] = {"myproject": {"testing": distribution}}

    before = edit_config(environment, configure)
    try:
        collected = fabulaws(environment, "testing", "collectstatic", timeout=300)
    finally:
        (environment["dir"] / "fabulaws-config.yml").write_text(before)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    invalidations = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    assert invalidations, "an invalidation request"
    paths = {tuple(cloudfront.get_invalidation(DistributionId=distribution, Id=item["Id"])["Invalidation"]
                   ["InvalidationBatch"]["Paths"]["Items"]) for item in invalidations}
    assert paths == {("/*",)}


def test_update_environment_adds_a_sysadmin_everywhere(environment, tmp_path):
    key = tmp_path / "new_admin_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (environment["dir"] / "deployment" / "users" / "newadmin").write_text((tmp_path / "new_admin_key.pub").read_text())
    updated = fabulaws(environment, "update_environment:myproject,testing", timeout=900)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    servers = sum(len(running(environment, role)) for role in ("db-primary", "db-replica", "cache", "worker", "web"))
    assert servers == 6
    assert updated.stdout.count(") 2 sysadmins") == servers, updated.stdout  # fabtester and newadmin, everywhere
    assert updated.stdout.count(") upgraded") == servers, updated.stdout
    as_new_admin = {**environment, "key": key}
    for role in ("web", "worker", "db-primary"):
        shell = Shell(as_new_admin, running(environment, role)[0]["PrivateIpAddress"], user="newadmin")
        assert shell.ok("sudo -n true; echo ok").strip() == "ok"


# --- issue 11: a hard kill at the two instants recorded fakes cannot stand for, then `recover` ---------------
SLOW_MIGRATION = """\
import time

from django.db import migrations


def pause(apps, schema_editor):
    time.sleep(20)  # long enough to be seen running (and killed) from the operator's side


class Migration(migrations.Migration):
    dependencies = [("myproject", "0001_initial")]
    operations = [migrations.RunPython(pause, migrations.RunPython.noop)]
"""


def killed_deploy(environment, root, kill_when, what: str) -> str:
    """``deploy_full`` in its own process group, SIGKILLed (the whole group) once ``kill_when(output)`` holds."""
    import os
    import signal
    import sys

    from hosts_support import OPERATOR

    env = {**os.environ, **environment["env"], "TMPDIR": str(root), "FABULAWS_LEASE_SECONDS": str(KILLED_LEASE)}
    process = subprocess.Popen(
        [sys.executable, "-m", "fabulaws", "-u", OPERATOR, "-i", str(environment["key"]), "deploy_full:myproject,testing"],
        cwd=environment["dir"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: kill_when("".join(lines)) or process.poll() is not None, DEPLOY_TIMEOUT, what, interval=0.1)
        assert process.poll() is None, f"deploy_full ended ({process.returncode}) before {what}:\n{''.join(lines)}"
        os.killpg(process.pid, signal.SIGKILL)
        killed = time.monotonic()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    reader.join(timeout=10)
    time.sleep(max(0.0, killed + KILLED_LEASE + 0.5 - time.monotonic()))  # its lease expires: recover may take over
    return "".join(lines)


def recover_from(environment, tmp_path, elsewhere: bool):
    """``recover`` where the run ran, or (``elsewhere``) as a second operator would: from another copy of the
    project (no .fabulaws/: no known host keys; the journal and the lock are in S3)."""
    import shutil

    directory, env = environment["dir"], {**environment["env"], "TMPDIR": str(tmp_path)}  # the killed run's
    if elsewhere:
        directory, env = tmp_path / "second" / "myproject", environment["env"]
        shutil.copytree(environment["dir"], directory, ignore=shutil.ignore_patterns(".fabulaws"))
    result = fabulaws({**environment, "dir": directory, "env": env}, "recover:myproject,testing", timeout=DEPLOY_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


KILLED_LEASE = 10  # seconds (FABULAWS_LEASE_SECONDS of the killed run): recover takes over once it expired


def account_census(environment, key_dir):
    import census

    account = census.Account(environment["endpoint"])
    settled = account.settle(120)
    return census.take(account, environment["dir"], key_dir), settled


def test_a_kill_while_the_bake_server_boots_is_rolled_back_with_nothing_left(environment, tmp_path):
    before, _ = account_census(environment, tmp_path)
    ec2 = aws_client(environment, "ec2")
    known = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}

    def booting(output: str) -> bool:
        if "image server: launching" not in output:
            return False
        return any(i["InstanceId"] not in known and i["State"]["Name"] in ("pending", "running")
                   for r in ec2.describe_instances()["Reservations"] for i in r["Instances"])

    output = killed_deploy(environment, tmp_path, booting, "the bake server booting")
    # NOTE: on the machine that ran it: the bake server's private key file is in that machine's temporary directory
    # (docs/safety.rst); another machine's recover deletes everything else.
    said = recover_from(environment, tmp_path, elsewhere=False)
    after, settled = account_census(environment, tmp_path)
    assert settled
    assert before.diff(after) == [], f"deploy_full killed as its bake server booted:\n{output}\nrecover:\n{said}"


def test_a_kill_during_migrate_is_finished_by_recover(environment, tmp_path):
    (environment["repository"] / "myproject" / "migrations" / "0002_slow.py").write_text(SLOW_MIGRATION)
    new_version(environment, 4)
    before, _ = account_census(environment, tmp_path)

    def migrating(output: str) -> bool:
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return "deploy_worker" in output and "migrate --noinput" in listing

    output = killed_deploy(environment, tmp_path, migrating, "migrate running on the worker")
    said = recover_from(environment, tmp_path, elsewhere=True)
    after, settled = account_census(environment, tmp_path)
    assert settled
    import census

    assert census.deployed_diff(before, after) == [], f"deploy_full killed in migrate:\n{output}\nrecover:\n{said}"
    wait_until(lambda: get(environment, "/") == (200, "Hello from myproject, version 4\n"), 60, "version 4 served")

"""The database tasks on the shared environment (environment_support.py): dbbackup / dbrestore round trip (S3,
encrypted with SSE-KMS and the operator's GPG key), a failed load that changes nothing, and
reload_production_db from another environment's primary with the fabfile hook. The environment ends with its
own data back and serving."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

from conftest import wait_until
from environment_support import get
from hosts_support import Shell, aws_client, fabulaws

pytestmark = pytest.mark.hosts

HOOK = """

@task
def post_reload_production_db(c):
    c.sudo("touch /var/tmp/post-reload-ran")
"""


def running(environment, role: str, env: str = "testing") -> list[dict]:
    return [i for r in aws_client(environment, "ec2").describe_instances(Filters=[
        {"Name": "tag:role", "Values": [role]}, {"Name": "tag:environment", "Values": [env]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"] for i in r["Instances"]]


def primary(environment, env: str = "testing") -> Shell:
    return Shell(environment, running(environment, "db-primary", env)[0]["PrivateIpAddress"])


def sql(shell: Shell, statement: str, database: str = "myproject_testing") -> str:
    return shell.ok(f"sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -d {database}", stdin=statement).strip()


def marks(shell: Shell, database: str = "myproject_testing") -> list[str]:
    return sql(shell, "SELECT v FROM dbtest ORDER BY v;", database).split()


def suspended(environment) -> list:
    group = aws_client(environment, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["myproject-testing-ag"])["AutoScalingGroups"][0]
    return sorted(p["ProcessName"] for p in group.get("SuspendedProcesses", []))


def serving(environment) -> bool:
    """The site answers through the load balancer (within a minute: it re-checks its servers every few seconds)."""
    answers: list = []

    def answered() -> bool:
        answers.append(get(environment, "/"))
        return answers[-1][0] == 200 and "Hello" in answers[-1][1]

    try:
        return wait_until(answered, 60, "the site", interval=1)
    except AssertionError:
        raise AssertionError(f"the site does not serve: {answers[-1][0]} {answers[-1][1][:300]}") from None


@pytest.fixture(scope="module")
def gpg_home(environment):
    """An operator's GPG keyring (a key without passphrase) and the config naming its key; both undone after."""
    import yaml

    home = tempfile.mkdtemp(prefix="g", dir="/tmp")  # short: gpg-agent's socket lives in it
    env = {**environment["env"], "GNUPGHOME": home}
    subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                    "FabulAWS test <operator@example.test>", "default", "default", "never"], env=env, check=True,
                   capture_output=True)
    listing = subprocess.run(["gpg", "--list-keys", "--with-colons"], env=env, check=True, capture_output=True, text=True)
    fingerprint = next(line.split(":")[9] for line in listing.stdout.splitlines() if line.startswith("fpr:"))
    path = environment["dir"] / "fabulaws-config.yml"
    before = path.read_text()
    config = yaml.safe_load(before)
    config["backup_key_fingerprint"] = fingerprint
    path.write_text(yaml.safe_dump(config))
    yield {**environment, "env": env}
    path.write_text(before)
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


STATE: dict = {}


def test_dbbackup_stores_an_encrypted_dump_in_s3_and_lists_it(gpg_home):
    environment = gpg_home
    db = primary(environment)
    sql(db, "DROP TABLE IF EXISTS dbtest; CREATE TABLE dbtest (v text); ALTER TABLE dbtest OWNER TO myproject;"
            "INSERT INTO dbtest VALUES ('a'), ('b');")
    STATE["processes"] = suspended(environment)
    backed = fabulaws(environment, "testing", "dbbackup", timeout=600)
    assert backed.returncode == 0, backed.stdout + backed.stderr
    where = backed.stdout.strip().splitlines()[-1]
    assert where.startswith("s3://") and where.endswith(".dump.gpg"), backed.stdout
    bucket, _, key = where[len("s3://"):].partition("/")
    assert key.startswith("myproject/testing/")
    STATE["backup"] = where
    s3 = aws_client(environment, "s3")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body[0] in (0x84, 0x85, 0x86, 0x87, 0xC1), body[:4].hex()  # OpenPGP: a public-key encrypted session key
    assert b"dbtest" not in body and not body.startswith(b"PGDMP"), "the object is not a readable dump"
    assert not list(environment["dir"].glob("*.dump*")), "no dump left in the project"

    listed = fabulaws(environment, "testing", "dbrestore", timeout=120)
    assert listed.returncode == 0 and where in listed.stdout, listed.stdout + listed.stderr
    refused = fabulaws(environment, "testing", "dbrestore:latest,answer=n", timeout=120)
    assert refused.returncode == 2 and "not replacing" in refused.stderr, refused.stderr


def test_reload_production_db_copies_another_environments_database_and_runs_the_hook(environment):
    secrets = environment["dir"] / "fabsecrets_staging.py"
    shutil.copy(environment["dir"] / "fabsecrets_testing.py", secrets)
    fabfile = environment["dir"] / "fabfile.py"
    fabfile_before = fabfile.read_text()
    fabfile.write_text(fabfile_before + HOOK)
    try:
        created = fabulaws(environment, "new:myproject,staging,db-primary,a", timeout=1800)
        assert created.returncode == 0, created.stdout + created.stderr
        source = primary(environment, "staging")
        sql(source, "CREATE TABLE dbtest (v text); ALTER TABLE dbtest OWNER TO myproject;"
                    "INSERT INTO dbtest VALUES ('staging-1'), ('staging-2');", database="myproject_staging")
        db = primary(environment)
        db.run("sudo rm -f /var/tmp/post-reload-ran")
        reloaded = fabulaws(environment, "testing", "reload_production_db:myproject,staging", timeout=900)
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        assert marks(db) == ["staging-1", "staging-2"]
        db.ok("test -f /var/tmp/post-reload-ran")
        assert serving(environment), "migrate ran on the copy and the site serves"
        assert suspended(environment) == STATE["processes"]
    finally:
        fabfile.write_text(fabfile_before)
        ids = [i["InstanceId"] for role in ("db-primary",) for i in running(environment, role, "staging")]
        if ids:
            aws_client(environment, "ec2").terminate_instances(InstanceIds=ids)
        secrets.unlink(missing_ok=True)


def test_dbrestore_latest_brings_back_the_rows_of_the_backup(gpg_home):
    """After reload_production_db changed every row: the environment gets its own data back."""
    environment = gpg_home
    db = primary(environment)
    assert marks(db) != ["a", "b"]
    restored = fabulaws(environment, "testing", "dbrestore:latest,answer=y", timeout=900)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert STATE["backup"] in restored.stderr + restored.stdout
    assert marks(db) == ["a", "b"], "the rows are those of the backup"
    assert "1" == sql(db, "SELECT count(*) FROM pg_database WHERE datname LIKE 'myproject_testing_previous_%';")
    assert serving(environment), "the site serves after the restore"
    assert suspended(environment) == STATE["processes"], "Auto Scaling's processes are as before"


def test_a_corrupt_backup_changes_nothing_and_leaves_the_site_serving(environment):
    db = primary(environment)
    before_rows, before_processes = marks(db), suspended(environment)
    bucket = STATE["backup"][len("s3://"):].partition("/")[0]
    key = "myproject/testing/20000101T000000Z.dump"
    s3 = aws_client(environment, "s3")
    s3.put_object(Bucket=bucket, Key=key, Body=b"PGDMP" + b"\x01\x0e\x00" + b"not a dump" * 1000)
    try:
        failed = fabulaws(environment, "testing", f"dbrestore:s3://{bucket}/{key},answer=y", timeout=600)
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "nothing changed: the site serves its old data" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr
    assert marks(db) == before_rows
    assert sql(db, "SELECT count(*) FROM pg_database WHERE datname = 'myproject_testing_loading';") == "0"
    assert serving(environment)
    assert suspended(environment) == before_processes


@pytest.fixture
def local_postgres():
    """A throwaway PostgreSQL cluster on this machine (the operator's "local" database), reached over its socket."""
    import glob
    import os

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server installed on this machine (postgresql package)")
    bin_dir = os.path.dirname(found[-1])
    root = tempfile.mkdtemp(prefix="pg", dir="/tmp")
    shutil.chown(root, "postgres", "postgres")
    data, port = f"{root}/data", "54329"

    def as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120)

    as_postgres(f"{bin_dir}/initdb", "-A", "trust", "-U", "postgres", "-D", data)
    as_postgres(f"{bin_dir}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", f"{root}/log",
                "-o", f"-k {root} -p {port} -c listen_addresses=''", "start")
    try:
        yield {"PGHOST": root, "PGPORT": port, "PGUSER": "postgres", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    finally:
        as_postgres(f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_reset_local_db_copies_the_environments_database_here(environment, local_postgres):
    expected = marks(primary(environment))
    project = {**environment, "env": {**environment["env"], **local_postgres}}
    env = {**__import__("os").environ, **local_postgres}
    subprocess.run(["createdb", "mydb"], env=env, check=True)
    subprocess.run(["psql", "-X", "-d", "mydb", "-c", "CREATE TABLE old_local (x int)"], env=env, check=True,
                   capture_output=True)
    reset = fabulaws(project, "testing", "reset_local_db:mydb,answer=y", timeout=600)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    rows = subprocess.run(["psql", "-X", "-At", "-d", "mydb", "-c", "SELECT v FROM dbtest ORDER BY v"], env=env,
                          check=True, capture_output=True, text=True).stdout.split()
    assert rows == expected
    tables = subprocess.run(["psql", "-X", "-At", "-d", "mydb", "-c", "SELECT count(*) FROM pg_tables WHERE "
                             "tablename = 'old_local'"], env=env, check=True, capture_output=True, text=True).stdout
    assert tables.strip() == "0", "the local database was replaced"

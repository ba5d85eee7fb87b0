"""Server provisioning on sandbox hosts (real Debian hosts, real sshd, PostgreSQL, Redis, RabbitMQ, memcached).

One module-wide stack is created in parallel (db-primary, db-replica, cache, worker) with a failure injected
into the first try of one server; the tests then check what a user would: services answer with the
credentials and refuse without them or from elsewhere, the replica streams, nothing leaked, no secret was
ever on a command line.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _sandbox_call, run_cli, wait_until
from hosts_support import (
    CREATE_TIMEOUT,
    OPERATOR,
    ProcessWatch,
    Shell,
    aws_client,
    fabulaws,
    host_project,
    seeded_subnet,
)

KMS_KEY = "alias/myproject-data"
SECRETS = {
    "database_password": "db pa's\"s$word:1\\x",
    "broker_password": "br0ker 'q' \"$HOME\" tail",
    "secret_key": "not-used-here",
}


@pytest.fixture(scope="module")
def project(hosts_sandbox, tmp_path_factory):
    """The example project with secrets full of awkward characters, PostgreSQL open to zone a only, and data
    volumes EBS-encrypted with a named key (fs_encrypt: true, as 1.x configurations say it)."""
    def edit(config) -> None:
        config.update(db_settings={"postgresql_networks": [seeded_subnet(hosts_sandbox, "a")]})
        config["instance_settings"].update(fs_encrypt=True, ebs_kms_key_id=KMS_KEY)

    return host_project(hosts_sandbox, tmp_path_factory.mktemp("provisioning"), SECRETS, edit)


@pytest.fixture(scope="module")
def stack(project):
    """db-primary (a), db-replica (a), cache (b), worker (b) created in parallel by one process; the first
    retagging fails once (injected), so one server is discarded and created again."""
    _sandbox_call(project["endpoint"], "/_sandbox/faults", {"fail": {"ec2:CreateTags": 1}})
    watch = ProcessWatch([SECRETS["database_password"], SECRETS["broker_password"], "pa's", "br0ker"])
    watch.start()
    started = time.monotonic()
    driver = Path(__file__).with_name("provision_driver.py")
    result = subprocess.run(
        [sys.executable, str(driver), OPERATOR, str(project["key"]), "db-primary:a", "db-replica:a", "cache:b", "worker:b"],
        cwd=project["dir"], env={**__import__("os").environ, **project["env"]}, capture_output=True, text=True,
        timeout=CREATE_TIMEOUT,
    )
    watch.stopped.set()
    watch.join()
    seconds = time.monotonic() - started
    print(f"parallel creation of 4 servers: {seconds:.0f} s; {watch.samples} process-list samples")
    assert result.returncode == 0, result.stdout + result.stderr
    ec2 = aws_client(project, "ec2")
    servers = {}
    for reservation in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            servers[tags["role"]] = instance
    return {"output": result.stdout + result.stderr, "watch": watch, "servers": servers, "ec2": ec2,
            "logs": sorted((project["dir"] / ".fabulaws" / "logs").glob("*.log"))}


def address(stack, role: str) -> str:
    return stack["servers"][role]["PrivateIpAddress"]


# --- creation -----------------------------------------------------------------------------------
def test_parallel_creation_retries_the_failed_server_and_leaves_nothing_pending(stack, project):
    assert sorted(stack["servers"]) == ["cache", "db-primary", "db-replica", "worker"]
    output = stack["output"]
    assert "Created 4 of 4 servers." in output
    assert "retrying" in output
    assert len(stack["logs"]) == 4
    retried = [log for log in stack["logs"] if "Server creation failed; retrying (attempt #2)" in log.read_text()]
    assert len(retried) == 1, "exactly one server's first try failed (the injected CreateTags fault)"
    assert "terminated i-" in retried[0].read_text()
    ec2 = stack["ec2"]
    alive = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
    roles = sorted(t["Value"] for r in alive["Reservations"] for i in r["Instances"] for t in i["Tags"] if t["Key"] == "role")
    assert roles == ["cache", "db-primary", "db-replica", "worker"]
    volumes = ec2.describe_volumes()["Volumes"]
    pending = [v for v in volumes if any(t["Key"] == "role" and t["Value"].endswith("-PENDING") for t in v.get("Tags", []))]
    assert pending == [], f"volumes left from the failed try: {pending}"
    data_volumes = [v for v in volumes if any(t["Key"] == "device" for t in v.get("Tags", []))]
    assert len(data_volumes) == 4 and all(v["State"] == "in-use" for v in data_volumes)
    assert all(v["Encrypted"] and v["KmsKeyId"] == KMS_KEY for v in data_volumes), "EBS-encrypted with the key"
    assert ec2.describe_key_pairs()["KeyPairs"] == [], "temporary key pairs must all be deleted"


def test_no_secret_in_output_logs_or_any_process_command_line(stack):
    assert stack["watch"].samples > 50
    assert stack["watch"].seen == set(), f"secrets seen in the process list: {stack['watch'].seen}"
    texts = [stack["output"]] + [log.read_text() for log in stack["logs"]]
    for secret in (SECRETS["database_password"], SECRETS["broker_password"]):
        assert not any(secret in text for text in texts)


def test_host_keys_come_from_the_console_and_the_image_user_is_retired(stack, project):
    known = (project["dir"] / ".fabulaws" / "known_hosts").read_text()
    for role in stack["servers"]:
        assert address(stack, role) in known
    first_contacts = [line for text in [stack["output"]] + [log.read_text() for log in stack["logs"]]
                      for line in text.splitlines() if "first contact" in line]
    assert first_contacts == [], "every host key came from its instance's console"
    shell = Shell(project, address(stack, "worker"))
    assert shell.ok("sudo -n true") == ""
    assert "Fab Tester" in shell.ok(f"getent passwd {OPERATOR}")
    assert shell.ok(f"sudo -n passwd -S {OPERATOR}").split()[1] == "L", "sysadmin passwords are locked, not empty"
    assert "Account expires\t\t\t\t\t\t: Jan 02, 1970" in shell.ok("sudo -n chage -l ubuntu")
    sudoers = shell.ok("sudo -n ls /etc/sudoers.d").split()
    assert "50-fabulaws" in sudoers and "90-cloud-init-users" not in sudoers
    deploy = Shell(project, address(stack, "worker"), user="myproject")
    assert deploy.ok("pwd").strip() == "/home/myproject"
    assert " /home/myproject " in shell.ok("cat /proc/mounts"), "the deploy user's home lives on the data volume"
    assert " /secure " in shell.ok("cat /proc/mounts")


# --- PostgreSQL -----------------------------------------------------------------------------------
PG_CHECK = """
import subprocess, os, tempfile
with tempfile.NamedTemporaryFile('w', delete=False) as f:
    f.write({line!r} + "\\n")
os.chmod(f.name, 0o600)
env = dict(os.environ, PGPASSFILE=f.name)
r = subprocess.run(['psql', '-h', {host!r}, '-U', 'myproject', '-d', 'myproject_testing', '-Atc', {sql!r}],
                   env=env, capture_output=True, text=True)
os.remove(f.name)
print(r.returncode, (r.stdout + r.stderr).strip())
"""


def pg_line(host: str, password: str) -> str:
    return f"{host}:5432:*:myproject:" + password.replace("\\", "\\\\").replace(":", "\\:")


def test_postgresql_takes_the_app_password_over_the_private_network_and_refuses_elsewhere(stack, project):
    primary = address(stack, "db-primary")
    replica = Shell(project, address(stack, "db-replica"))  # zone a, inside postgresql_networks
    good = replica.python(PG_CHECK.format(line=pg_line(primary, SECRETS["database_password"]), host=primary,
                                          sql="SELECT current_user || ' ' || (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())"))
    assert good.strip() == "0 myproject true", good
    wrong = replica.python(PG_CHECK.format(line=pg_line(primary, "wrong"), host=primary, sql="SELECT 1"))
    assert "password authentication failed" in wrong
    worker = Shell(project, address(stack, "worker"))  # zone b: outside postgresql_networks
    refused = worker.python(PG_CHECK.format(line=pg_line(primary, SECRETS["database_password"]), host=primary, sql="SELECT 1"))
    assert "no pg_hba.conf entry" in refused, refused
    primary_shell = Shell(project, primary)
    listening = primary_shell.ok("sudo -n ss -ltnH 'sport = :5432'")
    assert "0.0.0.0:5432" not in listening and f"{primary}:5432" in listening


def test_the_replica_streams_from_the_primary(stack, project):
    primary = Shell(project, address(stack, "db-primary"))
    replica = Shell(project, address(stack, "db-replica"))
    marker = f"row-{time.time_ns()}"
    primary.ok("sudo -n -u postgres psql -d myproject_testing -Atc "
               f"\"CREATE TABLE IF NOT EXISTS probe (v text); INSERT INTO probe VALUES ('{marker}')\"")
    assert replica.ok("sudo -n -u postgres psql -Atc 'SELECT pg_is_in_recovery()'").strip() == "t"
    wait_until(lambda: marker in replica.run("sudo -n -u postgres psql -d myproject_testing -Atc 'SELECT v FROM probe'")[1],
               30, "the row written on the primary to reach the replica", interval=0.5)
    conninfo = replica.ok("sudo -n cat /var/lib/postgresql/15/main/postgresql.auto.conf")
    assert "passfile=" in conninfo and SECRETS["database_password"] not in conninfo


# --- the cache server -------------------------------------------------------------------------------
REDIS_CHECK = """
import socket
def ask(*commands):
    s = socket.create_connection(({host!r}, 6379), timeout=5)
    for parts in commands:
        s.sendall(("*%d\\r\\n" % len(parts) + "".join("$%d\\r\\n%s\\r\\n" % (len(p.encode()), p) for p in parts)).encode())
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk
print(repr(ask(["PING"])))
print(repr(ask(["AUTH", *{auth!r}], ["PING"])))
"""


def test_redis_needs_its_own_user_and_password(stack, project):
    from fabulaws.secrets import read_secrets_file

    redis_password = read_secrets_file(project["dir"] / "fabsecrets_testing.py")["redis_password"]  # generated
    worker = Shell(project, address(stack, "worker"))
    cache = address(stack, "cache")
    try:
        lines = worker.python(REDIS_CHECK.format(host=cache, auth=["myproject", redis_password])).splitlines()
    except AssertionError as exc:
        state = Shell(project, cache).run("sudo -n ss -ltnp; pgrep -a redis; sudo -n tail -n 30 /var/log/redis/redis-server.log")
        raise AssertionError(f"{exc}\non the cache server:\n{state[1]}") from None
    assert "NOAUTH" in lines[0]
    assert lines[1] == repr("+OK\r\n+PONG\r\n")
    broker = worker.python(REDIS_CHECK.format(host=cache, auth=[SECRETS["broker_password"]])).splitlines()
    assert "WRONGPASS" in broker[1], "the broker's password is RabbitMQ's only"


def test_rabbitmq_has_the_app_user_on_its_vhost_and_no_guest(stack, project):
    cache = Shell(project, address(stack, "cache"))
    cache.ok("sudo -n rabbitmqctl authenticate_user myproject", stdin=SECRETS["broker_password"] + "\n")
    code, output = cache.run("sudo -n rabbitmqctl authenticate_user myproject", stdin="wrong\n")
    assert code != 0, output
    users = cache.ok("sudo -n rabbitmqctl -q list_users --no-table-headers")
    assert "myproject" in users and "guest" not in users
    permissions = cache.ok("sudo -n rabbitmqctl -q list_permissions -p myproject_testing --no-table-headers")
    assert permissions.split() == ["myproject", ".*", ".*", ".*"]
    worker = Shell(project, address(stack, "worker"))
    banner = worker.python(
        f"import socket; s = socket.create_connection(({address(stack, 'cache')!r}, 5672), timeout=5); "
        "s.sendall(b'AMQP\\x00\\x00\\x09\\x01'); print(s.recv(7)[:1] == b'\\x01')"
    )
    assert banner.strip() == "True", "AMQP answers on the private address"


def test_memcached_answers_on_the_private_address(stack, project):
    worker = Shell(project, address(stack, "worker"))
    # the binary protocol's VERSION (opcode 0x0b), which memcached answers before SASL authentication
    reply = worker.python(
        f"import socket; s = socket.create_connection(({address(stack, 'cache')!r}, 11211), timeout=5); "
        "s.sendall(bytes([0x80, 0x0b]) + bytes(22)); print(s.recv(24)[:2].hex())"
    )
    assert reply.strip() == "810b"


# --- remote helpers on a real host ------------------------------------------------------------------
def test_remote_helpers_handle_spaces_quotes_and_dollars(stack, project):
    from fabric import Config
    from fabulaws.remote.commands import as_user, join, sudo
    from fabulaws.remote.connect import connect
    from fabulaws.remote.files import (
        append,
        comment,
        contains,
        exists,
        put,
        render,
        sed,
        uncomment,
    )
    from fabulaws.remote.hostkeys import KnownHosts

    config = Config(overrides={"connect_kwargs": {"key_filename": str(project["key"])}})
    cxn = connect(address(stack, "worker"), OPERATOR, config=config, known=KnownHosts(project["dir"] / ".fabulaws" / "known_hosts"))
    directory = "/tmp/a dir with 'quotes' and $HOME"
    path = f"{directory}/file \"name\".txt"
    text = render("value={{ value }}\n", {"value": "it's \"$PATH\" `id`"})
    assert put(cxn, text, path, owner="myproject", mode="0640", make_dirs=True) is True
    assert put(cxn, text, path, owner="myproject", mode="0640") is False, "unchanged content is not uploaded again"
    assert exists(cxn, path) and not exists(cxn, path + ".bak")
    assert sudo(cxn, join("stat", "-c", "%U %a", path), hide=True).stdout.split() == ["myproject", "640"]
    assert sudo(cxn, join("cat", path), hide=True).stdout == "value=it's \"$PATH\" `id`\n"
    line = "export A='$1 \"two\"' # spaced"
    assert append(cxn, path, line) is True and append(cxn, path, line) is False
    assert contains(cxn, path, line)
    assert sed(cxn, path, "^value=.*$", "value=new/value") is True
    assert comment(cxn, path, "export A") is True and contains(cxn, path, "#" + line)
    assert uncomment(cxn, path, "export A") is True and contains(cxn, path, line)
    output = as_user(cxn, "myproject", "pwd; echo \"$GREETING\"", cwd=directory, env={"GREETING": "hi 'there' $USER"}, hide=True)
    assert output.stdout.splitlines() == [directory, "hi 'there' $USER"]
    sudo(cxn, join("rm", "-rf", directory), hide=True)
    cxn.close()


def test_api_helpers_on_a_real_host(stack, project, tmp_path):
    """call_python, answer_sudo and sshagent_run act on the server; answers stay off command lines."""
    import os

    from fabric import Config
    from fabulaws import api
    from fabulaws.remote.connect import connect
    from fabulaws.remote.hostkeys import KnownHosts

    config = Config(overrides={"connect_kwargs": {"key_filename": str(project["key"])}})
    known = KnownHosts(project["dir"] / ".fabulaws" / "known_hosts")
    cxn = connect(address(stack, "worker"), OPERATOR, config=config, known=known)
    assert api.call_python(cxn, "os.path.join", "/a b", "it's \"$x\"") == "/a b/it's \"$x\""
    assert api.call_python(cxn, "socket.gethostname") == "ip-" + address(stack, "worker").replace(".", "-")
    answer = "s3cret 'answer' $HOME"
    result = api.answer_sudo(cxn, "read -r -s -p 'Passphrase: ' x; echo; echo \"$(id -u) ${#x}\"", [(r"Passphrase: ", answer)])
    assert result.stdout.split()[-2:] == ["0", str(len(answer))]
    assert answer not in result.stdout
    cxn.close()
    agent = subprocess.run(["ssh-agent", "-s", "-a", str(tmp_path / "agent.sock")], capture_output=True, text=True, check=True)
    pid = next(part.split("=")[1].strip(";") for part in agent.stdout.split() if part.startswith("SSH_AGENT_PID="))
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(tmp_path / "agent.sock")}
        subprocess.run(["ssh-add", str(project["key"])], env=env, check=True, capture_output=True)
        old = os.environ.get("SSH_AUTH_SOCK")
        os.environ["SSH_AUTH_SOCK"] = env["SSH_AUTH_SOCK"]
        try:
            cxn = connect(address(stack, "worker"), OPERATOR, config=config, known=known)
            forwarded = api.sshagent_run(cxn, "ssh-add -l", known=known, hide=True)
            cxn.close()
        finally:
            if old is None:
                os.environ.pop("SSH_AUTH_SOCK")
            else:
                os.environ["SSH_AUTH_SOCK"] = old
        fingerprint = subprocess.run(["ssh-keygen", "-lf", str(project["key"])], capture_output=True, text=True).stdout.split()[1]
        assert fingerprint in forwarded.stdout
    finally:
        subprocess.run(["kill", pid])


# --- the new task -----------------------------------------------------------------------------------
def test_new_rejects_bad_arguments_before_launching_anything(stack, project):
    before = stack["ec2"].describe_instances()["Reservations"]
    cases = [
        ("new:myproject,testing,dbprimary,a", "Choose a valid role: cache, db-primary, db-replica, web, worker (got 'dbprimary')"),
        ("new:myproject,testing,web,z", "Choose a valid availability zone: a, b (got 'z')"),
        ("new:myproject,nowhere,web,a", "unknown environment 'nowhere'"),
    ]
    for command, message in cases:
        result = fabulaws(project, command, timeout=60)
        assert result.returncode == 2 and message in result.stderr, result.stderr  # usage: nothing changed
    missing = run_cli(["-u", "nobody", "new:myproject,testing,web,a"], project["dir"], env=project["env"], timeout=60)
    assert missing.returncode == 2 and "ssh_keys: no key for 'nobody'" in missing.stderr
    assert stack["ec2"].describe_instances()["Reservations"] == before


def test_new_web_server_from_the_command_line(stack, project):
    result = fabulaws(project, "new:myproject,testing,web,a")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Created 1 of 1 servers." in result.stdout
    webs = stack["ec2"].describe_instances(Filters=[{"Name": "tag:role", "Values": ["web"]},
                                                    {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    assert len(webs) == 1
    shell = Shell(project, webs[0]["Instances"][0]["PrivateIpAddress"])
    assert shell.ok("pgrep -x nginx").strip(), "nginx runs"
    assert shell.ok("getent passwd myproject-web").split(":")[6].strip() == "/usr/sbin/nologin"
    assert shell.ok("python3 -m venv --help").startswith("usage")


# --- secrets on the servers ---------------------------------------------------------------------------
def test_update_server_passwords_then_update_local_fabsecrets(stack, project):
    """Secrets land 0600 in the deploy user's home on every server; the local file is rebuilt from the worker."""
    import runpy

    watch = ProcessWatch([SECRETS["database_password"], SECRETS["broker_password"], "pa's", "br0ker"])
    watch.start()
    first = fabulaws(project, "testing", "update_server_passwords", timeout=300)
    again = fabulaws(project, "testing", "update_server_passwords", timeout=300)
    watch.stopped.set()
    watch.join()
    assert first.returncode == 0, first.stdout + first.stderr
    running = stack["ec2"].describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    # password_names (3) everywhere, and the secrets fabulaws made (the database servers keep the most: tls_ca too)
    counts = [int(n) for n in re.findall(r"(\d+) of \1 secrets updated", first.stdout)]
    assert len(counts) == len(running) == 5 and min(counts) >= 3 and max(counts) > min(counts), first.stdout
    assert len(re.findall(r"0 of \d+ secrets updated", again.stdout)) == 5, "unchanged secrets are not written again"
    for role in stack["servers"]:
        shell = Shell(project, address(stack, role))
        for name in ("database_password", "broker_password", "secret_key"):
            assert shell.ok(f"sudo -n stat -c '%U %a' /home/myproject/{name}").split() == ["myproject", "600"]
        assert shell.ok("sudo -n cat /home/myproject/broker_password") == SECRETS["broker_password"] + "\n"
    assert watch.seen == set()
    for output in (first.stdout + first.stderr, again.stdout + again.stderr):
        assert not any(secret in output for secret in SECRETS.values())

    local = project["dir"] / "fabsecrets_testing.py"
    original = local.read_text()
    try:
        local.write_text(original.replace(repr(SECRETS["database_password"]), repr("changed locally")))
        edited = local.read_text()
        declined = fabulaws(project, "testing", "update_local_fabsecrets:answer=n", timeout=120)
        assert declined.returncode == 2 and "Aborted." in declined.stderr  # declined: nothing changed
        assert local.read_text() == edited, "a declined update changes nothing"
        result = fabulaws(project, "testing", "update_local_fabsecrets:answer=y", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Wrote passwords to {local}" in result.stdout
        values = {k: v for k, v in runpy.run_path(str(local)).items() if not k.startswith("__")}
        assert {name: values[name] for name in SECRETS} == SECRETS, "every value (quotes, $, backslashes) reads back"
        assert {"tls_ca", "database_replication_password", "redis_password"} <= set(values), "generated ones kept"
        assert local.stat().st_mode & 0o777 == 0o600
        assert not any(secret in result.stdout + result.stderr for secret in SECRETS.values())
    finally:
        local.write_text(original)

"""PostgreSQL on the shared environment (sandbox hosts), verified (issue 15): the servers' certificates are signed
by the environment's CA, so a client given another CA is refused and one given the environment's is accepted;
pgbouncer and the replica verify the server (verify-full); the replica streams as a role with its own password;
pg_hba allows the VPC's networks. Read-only on the servers: the environment is left as it was.
"""

from __future__ import annotations

import json
import shlex

import pytest
from fabulaws.certificates import CertificateAuthority

from environment_support import SECRETS, get
from hosts_support import Shell, aws_client
from test_environment_db import primary, running

pytestmark = pytest.mark.hosts

CA = "/etc/ssl/fabulaws/ca.crt"
# psql with a 0600 PGPASSFILE (the password comes on this script's stdin, never a command line)
CLIENT = """
import json, os, shutil, subprocess, tempfile
directory = tempfile.mkdtemp()
try:
    passfile = os.path.join(directory, "pgpass")
    with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
        handle.write(PGPASS)
    other = os.path.join(directory, "other.crt")
    with open(other, "w") as handle:
        handle.write(OTHER)
    results = {}
    for name, root, conninfo in CONNECTIONS:
        root = other if root == "other" else root
        done = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", SQL,
                               conninfo + " sslmode=verify-full sslrootcert=" + root],
                              env={**os.environ, "PGPASSFILE": passfile, "PGCONNECT_TIMEOUT": "10"},
                              capture_output=True, text=True, timeout=60)
        results[name] = [done.returncode, done.stdout + done.stderr]
finally:
    shutil.rmtree(directory)
print(json.dumps(results))
"""


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def psql_from(shell: Shell, connections: list[tuple[str, str, str]], pgpass: str, sql: str) -> dict[str, list]:
    """{name: [exit status, output]} of psql on ``shell``'s server for each (name, CA file or "other", conninfo)."""
    script = (f"PGPASS = {pgpass!r}\nOTHER = {CertificateAuthority.create('another CA').certificate_pem!r}\n"
              f"CONNECTIONS = {connections!r}\nSQL = {sql!r}\n" + CLIENT)
    return json.loads(shell.python(script))


def web(environment) -> Shell:
    return Shell(environment, running(environment, "web")[0]["PrivateIpAddress"])


def test_a_client_given_another_ca_is_refused_and_the_environments_ca_accepted(environment):
    address = running(environment, "db-primary")[0]["PrivateIpAddress"]
    conninfo = f"host={address} port=5432 dbname=myproject_testing user=myproject"
    found = psql_from(web(environment), [("other", "other", conninfo), ("ours", CA, conninfo)],
                      f"{address}:5432:*:myproject:{escape(SECRETS['database_password'])}\n",
                      "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid();")
    code, output = found["other"]
    assert code != 0 and "certificate verify failed" in output, output
    code, output = found["ours"]
    assert code == 0, output
    ssl, version = output.strip().split("|")
    assert ssl == "t" and version in ("TLSv1.2", "TLSv1.3")


def test_pgbouncer_verifies_the_database_servers(environment):
    shell = web(environment)
    ini = shell.ok("sudo -n sh -c 'cat /home/myproject/services/pgbouncer/pgbouncer-testing.ini'")
    assert "server_tls_sslmode = verify-full" in ini and f"server_tls_ca_file = {CA}" in ini
    assert shell.ok(f"stat -c '%U %a' {CA}").split() == ["root", "644"]
    status, _ = get(environment, "/")  # the application's queries go through pgbouncer
    assert status == 200
    address = running(environment, "web")[0]["PrivateIpAddress"]
    app = primary(environment).ok(
        "sudo -u postgres psql -X -At -d postgres", stdin="SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM "
        "pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'myproject' AND "
        f"a.client_addr = '{address}';").strip()
    encrypted, total = (int(n) for n in app.split("|"))
    assert total > 0 and encrypted == total, app


def test_the_replica_streams_as_the_replication_role_with_its_own_password(environment):
    db = primary(environment)
    streaming = db.ok("sudo -u postgres psql -X -At -d postgres",
                      stdin="SELECT usename, state FROM pg_stat_replication;").split()
    assert streaming == ["myproject_repl|streaming"]
    replica = Shell(environment, running(environment, "db-replica")[0]["PrivateIpAddress"])
    conninfo = replica.ok("sudo -u postgres psql -X -At -d postgres", stdin="SHOW primary_conninfo;")
    pairs = dict(item.split("=", 1) for item in shlex.split(conninfo))  # pg_basebackup -R quotes values: 'a/b'
    assert (pairs.get("user"), pairs.get("sslmode"), pairs.get("sslrootcert")) == ("myproject_repl", "verify-full", CA), \
        conninfo
    stored = replica.ok("sudo -n cat /var/lib/postgresql/.pgpass").strip()
    assert stored.startswith(f"{running(environment, 'db-primary')[0]['PrivateIpAddress']}:*:replication:myproject_repl:")
    assert escape(SECRETS["database_password"]) not in stored  # its own password, not the application's
    # the application's password does not let anyone replicate
    address = running(environment, "db-primary")[0]["PrivateIpAddress"]
    conninfo = f"host={address} port=5432 dbname=postgres user=myproject_repl"
    found = psql_from(web(environment), [("repl", CA, conninfo)],
                      f"{address}:5432:*:myproject_repl:{escape(SECRETS['database_password'])}\n", "SELECT 1;")
    code, output = found["repl"]
    assert code != 0 and "password authentication failed" in output, output


def test_pg_hba_allows_the_vpc_not_every_private_network(environment):
    ec2 = aws_client(environment, "ec2")
    instance = running(environment, "db-primary")[0]
    blocks = [vpc["CidrBlock"] for vpc in ec2.describe_vpcs(VpcIds=[instance["VpcId"]])["Vpcs"]]
    hba = primary(environment).ok("sudo -n sh -c 'cat /etc/postgresql/*/main/pg_hba.conf'")
    allowed = {line.split()[3] for line in hba.splitlines() if line.startswith("hostssl")}
    assert allowed == set(blocks), hba


def test_the_site_still_serves_and_celery_round_trips(environment):
    status, body = get(environment, "/")
    assert status == 200, body
    status, body = get(environment, "/celery-ping/", timeout=30)
    assert status == 200, body

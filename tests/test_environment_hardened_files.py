"""The root boundary on the shared environment (environment_support.py), issue 15: the deploy user cannot change
what root-run daemons read or the boot script root runs (nor their directories); it may restart its programs
through sudo and do nothing else with it; a link planted in a log directory by another account is refused or not
followed by root; local logs are private and hold no secret; the site still serves and Celery still answers.

What root reads is found on the server as root's daemons find it (supervisor's conf.d, nginx's sites-enabled, the
boot service), not from our own Paths: the test judges the servers, whatever layout made them.
"""

from __future__ import annotations

import json
import shlex
import stat
import uuid

import pytest

from conftest import wait_until
from environment_support import SECRETS, get
from hosts_support import Shell, http_get
from test_environment import running

pytestmark = pytest.mark.hosts

DEPLOY_USER, WEBSERVER_USER = "myproject", "myproject-web"

# Run as root on a web server: every file root's daemons read or run for the site, and the directories above
# them, tried as the deploy user (write, rename, create beside); prints what was allowed.
PROBE_ROOT_FILES = r"""
import json, os, re, subprocess

def as_user(user, command):
    return subprocess.run(["sudo", "-n", "-u", user, "sh", "-c", command], capture_output=True, text=True).returncode == 0

def q(path):
    return "'" + path.replace("'", "'\\''") + "'"

entries = ["/etc/supervisor/conf.d/myproject-testing.conf", "/etc/nginx/sites-enabled/myproject-testing.conf",
           "/etc/init.d/fabulaws-own-hosts"]
init = open("/etc/init.d/fabulaws-own-hosts").read()
script = re.search(r"^\s*(/\S+) \|\|", init, re.M).group(1).strip("'")
record = re.search(r"^mv (\S+)\.new (\S+)$", open(script).read(), re.M).group(2).strip("'")
entries += [script, record]
found, allowed = {}, []
for entry in entries:
    chain = [entry, os.path.realpath(entry)]
    for path in list(chain):
        parent = os.path.dirname(path)
        while parent != "/":
            chain.append(parent)
            parent = os.path.dirname(parent)
    found[entry] = os.path.realpath(entry)
    for path in dict.fromkeys(chain):
        if os.path.isfile(path) and as_user("myproject", ": >> " + q(path)):
            allowed.append("write " + path)
        if as_user("myproject", "mv " + q(path) + " " + q(path + ".fabprobe")):
            allowed.append("rename " + path)
            os.rename(path + ".fabprobe", path)
        if os.path.isdir(path) and not os.path.islink(path):
            probe = os.path.join(path, ".fabprobe")
            if as_user("myproject", "touch " + q(probe)):
                allowed.append("create in " + path)
                os.unlink(probe)
print(json.dumps({"found": found, "allowed": allowed}))
"""

# Run as root on a web server: the log files supervisord and nginx (root) open for the site, read from their
# configuration; another account (nobody, the webserver user) tries to put a link to TARGET in their place, in
# 1.x's log directory too; the programs are restarted and nginx reopens its logs; did root write through a link?
PROBE_LOG_LINKS = r"""
import json, os, re, subprocess, sys, time

target, log_dir = sys.argv[1], sys.argv[2]
def run(*command):
    return subprocess.run(command, capture_output=True, text=True)

conf = open("/etc/supervisor/conf.d/myproject-testing.conf").read()
nginx = open("/etc/nginx/sites-enabled/myproject-testing.conf").read()
root_logs = re.findall(r"^stdout_logfile=(\S+)$", conf, re.M) + re.findall(r"^\s*(?:access|error)_log (\S+);", nginx, re.M)
app_logs = [os.path.join(log_dir, name) for name in ("gunicorn.log", "access.log", "error.log")]  # 1.x's names there
logs = list(dict.fromkeys(root_logs + app_logs))
planted = []
for user in ("nobody", "myproject-web"):
    for log in logs:
        if run("sudo", "-n", "-u", user, "ln", "-sfn", target, log).returncode == 0:
            planted.append([user, log])
# the load balancers' check passes from a file meanwhile (the sandbox's scaled thresholds would replace the server)
held = os.path.join(re.search(r"^\s*root (\S+);", nginx, re.M).group(1), "healthcheck.html")
with open(held, "w") as page:
    page.write("OK (held by a test)\n")
restarted = run("supervisorctl", "restart", "testing-web:*")
reopened = run("nginx", "-s", "reopen")
time.sleep(1)
written = os.path.lexists(target)
for log in logs:
    if os.path.islink(log) and os.readlink(log) == target:
        os.unlink(log)
run("supervisorctl", "restart", "testing-web:*")
run("nginx", "-s", "reopen")
os.unlink(held)
if os.path.lexists(target):
    os.unlink(target)
print(json.dumps({"root_logs": root_logs, "planted": planted, "written": written,
                  "restart": restarted.returncode, "reopen": reopened.returncode,
                  "modes": {d: oct(os.stat(d).st_mode & 0o7777) for d in sorted({os.path.dirname(l) for l in logs})
                            if os.path.isdir(d)}}))
"""


@pytest.fixture(scope="module")
def web(environment):
    def answering() -> str | None:  # a web server in service (the group may still be replacing one)
        return next((web["PrivateIpAddress"] for web in running(environment, "web")
                     if http_get(web["PrivateIpAddress"], "/healthcheck.html", timeout=5)[0] == 200), None)

    shell = Shell(environment, wait_until(answering, 180, "a web server passing its health check", interval=1))
    yield shell
    shell.client.close()


def test_the_deploy_user_cannot_change_what_root_reads_or_runs(web):
    result = json.loads(web.ok("sudo -n python3 -", stdin=PROBE_ROOT_FILES))
    home = "/home/myproject/"
    assert not [path for path in result["found"].values() if path.startswith(home)], result["found"]
    assert result["allowed"] == [], result["allowed"]


def test_the_deploy_user_may_restart_its_programs_and_nothing_else(web):
    def as_deploy(command: str) -> tuple[int, str]:
        return web.run(f"sudo -n -u {DEPLOY_USER} sh -c {shlex.quote(command)}")

    held = web.ok("sudo -n sed -nE 's/^[[:space:]]*root ([^;]+);/\\1/p' /etc/nginx/sites-enabled/myproject-testing.conf")
    held = shlex.quote(held.strip() + "/healthcheck.html")
    web.ok(f"echo 'OK (held by a test)' | sudo -n tee {held}")  # the balancers' check passes during the restart
    try:
        code, output = as_deploy("sudo -n supervisorctl restart 'testing-web:*'")
    finally:
        web.ok(f"sudo -n rm -f {held}")
    assert code == 0 and "started" in output, output
    code, output = as_deploy("sudo -n supervisorctl status 'testing-pgbouncer:*'")
    assert code == 0 and "RUNNING" in output, output
    for refused in ("sudo -n true", "sudo -n supervisorctl restart all", "sudo -n supervisorctl update",
                    "sudo -n supervisorctl restart 'testing-web:*' all", "sudo -n -u myproject-web true"):
        code, output = as_deploy(refused)
        assert code != 0 and "sudo" in output, (refused, output)


def test_a_link_planted_in_a_log_directory_is_refused_or_not_followed_by_root(web):
    target = f"/var/tmp/fabulaws-planted-{uuid.uuid4().hex}"
    result = json.loads(web.ok(f"sudo -n python3 - {target} /home/myproject/www/testing/log", stdin=PROBE_LOG_LINKS))
    assert result["restart"] == 0 and result["reopen"] == 0, result
    assert result["written"] is False, f"root wrote through a planted link: {result}"
    # nobody plants nothing; the webserver user only in its own directory (the application's logs), where root
    # writes nothing
    assert [[user, log] for user, log in result["planted"] if user == "nobody" or log in result["root_logs"]] == [], result
    assert not [mode for mode in result["modes"].values() if int(mode, 8) & 0o002], result["modes"]


def test_local_logs_are_private_and_hold_no_secret(environment):
    state = environment["dir"] / ".fabulaws"
    logs = state / "logs"
    assert stat.S_IMODE(logs.stat().st_mode) == 0o700
    wide = [str(p) for p in logs.rglob("*") if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)]
    assert wide == []
    secrets = [*SECRETS.values(), "pa\"ss", "pass word"]
    holding = {str(path): secret for path in state.rglob("*") if path.is_file()
               for secret in secrets if secret in path.read_text(errors="replace")}
    assert holding == {}


def test_the_site_still_serves_and_celery_still_round_trips(environment):
    wait_until(lambda: get(environment, "/")[0] == 200, 60, "the site serving through the load balancer", interval=0.5)
    status, body = get(environment, "/celery-ping/", timeout=30)
    assert status == 200 and '"result": 5' in body, body

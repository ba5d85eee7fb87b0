"""The cache server's services on the shared environment (sandbox hosts), from a web server as any other host of the
network would reach them (issue 15): memcached refuses a client without SASL credentials, Redis a client without
its own user's password (the broker's password included), RabbitMQ's epmd and Erlang distribution ports answer
nobody off the cache server; the site and Celery still work. Read-only on the servers.
"""

from __future__ import annotations

import json

import pytest
from fabulaws.secrets import read_secrets_file

from environment_support import SECRETS, get
from hosts_support import Shell
from test_environment_db import running

pytestmark = pytest.mark.hosts

# Run on a web server (fed on stdin: the credentials never reach a command line). Raw protocols, no client library:
# memcached's binary protocol with SASL PLAIN, Redis's RESP, plain TCP connects for the other ports.
PROBES = r"""
import json, socket, struct

def connect(port):
    return socket.create_connection((CACHE, port), timeout=5)

def memcached(user=None, password=None):
    def request(sock, opcode, key=b"", value=b"", extras=b""):
        body = extras + key + value
        sock.sendall(struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, len(body), 0, 0) + body)
        head = b""
        while len(head) < 24:
            chunk = sock.recv(24 - len(head))
            if not chunk:
                return "closed"
            head += chunk
        status, length = struct.unpack(">BBHBBHIIQ", head)[5:7]
        while length > 0:
            length -= len(sock.recv(length))
        return status
    with connect(11211) as sock:
        answers = {}
        if user is not None:
            answers["auth"] = request(sock, 0x21, b"PLAIN", b"\0" + user.encode() + b"\0" + password.encode())
        answers["set"] = request(sock, 0x01, b"fabulaws-probe", b"1", struct.pack(">II", 0, 60))
        return answers

def memcached_ascii():
    with connect(11211) as sock:
        sock.sendall(b"stats\r\n")
        try:
            return sock.recv(100).decode(errors="replace").split("\r\n")[0] or "closed"
        except OSError as exc:
            return "closed: " + type(exc).__name__

def redis(*commands):
    with connect(6379) as sock:
        replies, reader = [], sock.makefile("rb")
        for command in commands:
            words = [word.encode() for word in command]
            sock.sendall(b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words))
            line = reader.readline().decode(errors="replace").strip()
            if line.startswith("$") and line != "$-1":
                reader.read(int(line[1:]) + 2)
            if line.startswith("*"):
                for _ in range(int(line[1:])):
                    size = reader.readline()
                    reader.read(int(size[1:]) + 2)
            replies.append(line.split(" ")[0])
        return replies

def port(number):
    try:
        connect(number).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return type(exc).__name__

print(json.dumps({
    "memcached": {"none": memcached(), "wrong": memcached(USER, "wrong " + MEMCACHED), "right": memcached(USER, MEMCACHED),
                  "ascii": memcached_ascii()},
    "redis": {"none": redis(["PING"]), "broker": redis(["AUTH", BROKER], ["PING"]),
              "right": redis(["AUTH", USER, REDIS], ["PING"], ["SET", "fabulaws-probe", "1"], ["CONFIG", "GET", "dir"])},
    "ports": {str(number): port(number) for number in (4369, 25672, 5672)},
}))
"""


@pytest.fixture(scope="module")
def probes(environment) -> dict:
    """What a web server gets from the cache server's services (one SSH session, a few seconds)."""
    stored = read_secrets_file(environment["dir"] / "fabsecrets_testing.py")
    values = {"CACHE": running(environment, "cache")[0]["PrivateIpAddress"], "USER": "myproject",
              "BROKER": SECRETS["broker_password"],
              # d170f8c made neither: a stand-in lets its services show what they accept
              "REDIS": stored.get("redis_password", "not generated"), "MEMCACHED": stored.get("memcached_password", "not generated")}
    script = "".join(f"{name} = {value!r}\n" for name, value in values.items()) + PROBES
    shell = Shell(environment, running(environment, "web")[0]["PrivateIpAddress"])
    try:
        return json.loads(shell.python(script))
    finally:
        shell.client.close()


def test_memcached_refuses_a_client_without_credentials_and_accepts_its_own(probes):
    found = probes["memcached"]
    assert found["none"] == {"set": 0x20}, f"no SASL, no set (0x20: authentication error): {found}"
    assert found["wrong"] == {"auth": 0x20, "set": 0x20}, found
    assert found["ascii"].startswith("closed"), f"the text protocol (no authentication at all) is off: {found}"
    assert found["right"] == {"auth": 0, "set": 0}, found


def test_redis_refuses_no_credentials_and_the_brokers_password_and_accepts_its_own_user(probes):
    found = probes["redis"]
    assert found["none"] == ["-NOAUTH"], found
    assert found["broker"] == ["-WRONGPASS", "-NOAUTH"], f"broker_password is RabbitMQ's, not Redis's: {found}"
    assert found["right"] == ["+OK", "+PONG", "+OK", "-NOPERM"], f"its own user, without CONFIG (@admin): {found}"


def test_rabbitmqs_epmd_and_distribution_answer_nobody_off_the_cache_server(probes, environment):
    assert probes["ports"] == {"4369": "refused", "25672": "refused", "5672": "open"}, probes["ports"]
    shell = Shell(environment, running(environment, "cache")[0]["PrivateIpAddress"])
    try:
        listening = shell.ok("sudo -n ss -ltnH '( sport = :4369 or sport = :25672 )'")
    finally:
        shell.client.close()
    addresses = sorted(line.split()[3] for line in listening.splitlines())
    assert addresses == ["127.0.0.1:25672", "127.0.0.1:4369", "[::1]:4369"], listening


def test_the_site_still_serves_and_celery_round_trips(environment):
    status, body = get(environment, "/")
    assert status == 200 and "Hello from myproject" in body, body
    status, body = get(environment, "/celery-ping/", timeout=30)
    assert status == 200 and '"result": 5' in body, body

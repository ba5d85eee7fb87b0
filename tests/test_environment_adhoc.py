"""Ad-hoc commands on the shared environment (sandbox hosts): run_shell_command and call_server_method on every
server, narrowed by 1.x's per-task roles=/hosts= and by -H; managepy with 1.x's cmd=; a failing command's summary
and exit status. Read-only on the servers: the environment is left as it was.
"""

from __future__ import annotations

import re

import pytest

from hosts_support import fabulaws
from test_environment_reboot import servers as instances

pytestmark = pytest.mark.hosts

BANNER = re.compile(r"^ \*\*\* ((?:running|calling) .*) on (\S+) \((\S+)\) \*\*\*$", re.M)


def servers(environment) -> dict[str, str]:
    """{private address: role} of the environment's running servers."""
    return {address: role for role, address in instances(environment).values()}


def banners(result) -> dict[str, list[str]]:
    """{"running <command>" or "calling <method>": the sorted roles of the servers its banners name}."""
    found: dict[str, list[str]] = {}
    for what, _, role in BANNER.findall(result.stdout):
        found.setdefault(what, []).append(role)
    return {what: sorted(roles) for what, roles in found.items()}


def test_adhoc_commands_on_every_server_or_the_ones_named(environment):
    # one command line, as 1.x allowed: each task narrowed by its own roles=/hosts=
    found = servers(environment)
    web = sorted(ip for ip, role in found.items() if role == "web")
    result = fabulaws(environment, "testing", "run_shell_command:id -un", "run_shell_command:id -u,use_sudo=yes,roles=worker;cache",
                      f"run_shell_command:hostname,hosts={web[0]}", "call_server_method:ubuntu_release,roles=web",
                      "managepy:cmd=showmigrations", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert banners(result) == {
        "running id -un": sorted(found.values()),
        "running id -u": sorted(role for role in found.values() if role in ("worker", "cache")),
        "running hostname": ["web"],
        "calling ubuntu_release": ["web"] * len(web),
    }
    assert f"run_shell_command: {len(found)} of {len(found)} server(s) succeeded, 0 failed" in result.stderr
    assert result.stdout.split().count("0") == 2  # id -u through sudo: root on the worker and the cache
    assert "managepy" in result.stdout + result.stderr  # its per-server line; it succeeded: the exit status above


def test_a_failing_command_on_a_dash_h_server_gives_the_summary_and_a_failed_exit(environment):
    web = sorted(ip for ip, role in servers(environment).items() if role == "web")[0]
    failed = fabulaws(environment, "-H", web, "testing", "run_shell_command:echo gone >&2; exit 3", timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert banners(failed) == {"running echo gone >&2; exit 3": ["web"]}  # -H: exactly that server
    assert "FAILED: exit status 3" in failed.stdout
    assert "gone" in failed.stdout
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("fabulaws: run_shell_command: 0 of 1 server(s) succeeded, 1 failed: "), last


def test_compress_ran_and_was_quiet_for_a_project_without_it(environment):
    # the example project has no django-compressor: Django answers "Unknown command: 'compress'", not a warning
    logs = [path.read_text(errors="replace") for path in (environment["dir"] / ".fabulaws" / "logs").glob("*.log")]
    assert any("manage.py compress" in text for text in logs)
    assert "compress failed" not in environment["output"]

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

BANNER = re.compile(r"^ \*\*\* (?:running|calling) .* on (\S+) \((\S+)\) \*\*\*$", re.M)


def servers(environment) -> dict[str, str]:
    """{private address: role} of the environment's running servers."""
    return {address: role for role, address in instances(environment).values()}


def banners(result) -> list[str]:
    """The role of each server a banner names, sorted (the banner's host is the configured SSH address)."""
    return sorted(role for _, role in BANNER.findall(result.stdout))


def test_run_shell_command_everywhere_and_narrowed(environment):
    found = servers(environment)
    everywhere = fabulaws(environment, "testing", "run_shell_command:id -un", timeout=300)
    assert everywhere.returncode == 0, everywhere.stdout + everywhere.stderr
    assert banners(everywhere) == sorted(found.values())
    assert f"{len(found)} of {len(found)} server(s) succeeded, 0 failed" in everywhere.stderr

    narrowed = fabulaws(environment, "testing", "run_shell_command:id -u,use_sudo=yes,roles=worker;cache", timeout=300)
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    assert banners(narrowed) == sorted(role for role in found.values() if role in ("worker", "cache"))
    assert narrowed.stdout.split().count("0") == len(banners(narrowed))  # root, through sudo

    web = sorted(ip for ip, role in found.items() if role == "web")[0]
    for args in (["-H", web, "testing", "run_shell_command:hostname"], ["testing", f"run_shell_command:hostname,hosts={web}"]):
        one = fabulaws(environment, *args, timeout=300)
        assert one.returncode == 0, one.stdout + one.stderr
        assert banners(one) == ["web"], args


def test_call_server_method_and_managepy_cmd(environment):
    called = fabulaws(environment, "testing", "call_server_method:ubuntu_release,roles=web", timeout=300)
    assert called.returncode == 0, called.stdout + called.stderr
    assert banners(called) == sorted(role for role in servers(environment).values() if role == "web")
    unknown = fabulaws(environment, "testing", "call_server_method:bogus", timeout=120)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == (
        "fabulaws: call_server_method: unknown method 'bogus'; known: setup_swap, upgrade_packages, server_memory, "
        "ubuntu_release")

    managed = fabulaws(environment, "testing", "managepy:cmd=showmigrations", timeout=300)
    assert managed.returncode == 0, managed.stdout + managed.stderr


def test_a_failing_command_gives_the_summary_and_a_failed_exit(environment):
    web = sorted(ip for ip, role in servers(environment).items() if role == "web")
    failed = fabulaws(environment, "testing", "run_shell_command:echo gone >&2; exit 3,roles=web", timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert banners(failed) == ["web"] * len(web)
    assert failed.stdout.count("FAILED: exit status 3") == len(web)
    assert "gone" in failed.stdout
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fabulaws: run_shell_command: 0 of {len(web)} server(s) succeeded, {len(web)} failed: "), last


def test_compress_ran_and_was_quiet_for_a_project_without_it(environment):
    # the example project has no django-compressor: Django answers "Unknown command: 'compress'", not a warning
    logs = [path.read_text(errors="replace") for path in (environment["dir"] / ".fabulaws" / "logs").glob("*.log")]
    assert any("manage.py compress" in text for text in logs)
    assert "compress failed" not in environment["output"]

"""Node.js without hosts (NodeSource is out of the sandbox's reach): its signed repository, its key checked against
the pinned fingerprint before apt trusts it, the npm tools at exact versions; node_version's accepted values."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.errors import ConfigError, DeployError
from fabulaws.ubuntu.packages import Node, basics

from recording_host import Recorder

BASE = Path(__file__).parent / "configs" / "base.yml"
KEY_URL = "https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key"


@pytest.fixture(scope="module")
def settings():
    return load_settings(BASE)


def node(host: Recorder, settings) -> Node:
    return Node(host, settings, "myproject", "testing", "web", host.host, 2048, lambda name: "", None)


def test_node_comes_from_nodesources_signed_repository_and_the_tools_are_pinned(settings):
    host = Recorder(key_fingerprint=basics.NODESOURCE_FINGERPRINT)
    basics.install_node(node(host, settings), "20.x", None)
    assert host.files["/etc/apt/keyrings/nodesource.asc"][0] == "0644"
    assert host.files["/etc/apt/sources.list.d/nodesource.list"] == (
        "0644", "deb [arch=amd64 signed-by=/etc/apt/keyrings/nodesource.asc] https://deb.nodesource.com/node_20.x nodistro main\n")
    assert "/etc/apt/keyrings/nodesource.asc.new" not in host.files
    assert not any("| bash" in command or "setup_" in command or "apt-key" in command for command in host.commands)
    installed = [i for i, command in enumerate(host.commands) if "install --no-install-recommends nodejs" in command]
    written = [i for i, command in enumerate(host.commands) if "/etc/apt/sources.list.d/nodesource.list" in command]
    assert installed and written and written[-1] < installed[0], "nodejs is installed once its signed source is there"
    assert host.ran("npm", "install", "--global", "--ignore-scripts", "less@4.9.1", "yuglify@2.0.0")


def test_less_version_wins_for_less_and_yuglify_stays_pinned(settings):
    host = Recorder(key_fingerprint=basics.NODESOURCE_FINGERPRINT)
    basics.install_node(node(host, settings), "22", "3.12.2")
    assert host.files["/etc/apt/sources.list.d/nodesource.list"][1].split()[3] == "https://deb.nodesource.com/node_22.x"
    assert host.ran("npm", "install", "--global", "--ignore-scripts", "less@3.12.2", "yuglify@2.0.0")


def test_a_key_that_is_not_the_pinned_one_is_refused_and_apt_is_left_as_it_was(settings):
    host = Recorder(key_fingerprint="AAAABBBBCCCCDDDDEEEEFFFF0000111122223333")
    with pytest.raises(DeployError, match=f"^10.0.1.5: NodeSource's apt key from {KEY_URL} is not the pinned one: "
                                          f"expected fingerprint {basics.NODESOURCE_FINGERPRINT}, got "
                                          "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333; apt was left as it was$"):
        basics.install_node(node(host, settings), "20.x", None)
    assert not [path for path in host.files if "nodesource" in path], host.files
    assert not host.ran("npm") and not any("install --no-install-recommends nodejs" in c for c in host.commands)


@pytest.mark.parametrize("value, expected", [("20.x", "20"), ("20", "20"), (22, "22")])
def test_node_version_is_a_major_version(tmp_path, value, expected):
    path = tmp_path / "fabulaws-config.yml"
    path.write_text(BASE.read_text() + f"node_version: {value}\n")
    assert basics.node_major(load_settings(path).node_version) == expected


@pytest.mark.parametrize("value", ["10.x", "lts.x", "20.11.1"])
def test_a_node_version_nodesource_does_not_sign_is_one_line_at_load(tmp_path, value):
    path = tmp_path / "fabulaws-config.yml"
    path.write_text(BASE.read_text() + f"node_version: {value}\n")
    with pytest.raises(ConfigError, match=f"node_version: expected a Node.js major version of 18 or later such as 20 "
                                          f"or 20.x, got '{value}'$") as error:
        load_settings(path)
    assert "\n" not in str(error.value)


class LocalHost:
    """This machine as the host: the fingerprint check's real shell script and real gpg (no sudo: tests run as
    whoever they run as, and reading a key file needs no privilege)."""

    host = "localhost"

    def run(self, command: str, **kwargs):
        import shlex
        import subprocess

        from recording_host import Result

        words = shlex.split(command)
        script = words[4] if words[:4] == ["sudo", "-n", "bash", "-c"] else command
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        return Result(done.returncode, done.stdout, done.stderr)


DEBIAN_KEY = Path("/etc/apt/trusted.gpg.d/debian-archive-bookworm-stable.asc")  # armored, as NodeSource's is


@pytest.mark.skipif(not DEBIAN_KEY.exists(), reason="needs Debian 12's archive key and gpg")
def test_the_fingerprint_check_reads_what_real_gpg_says_of_an_armored_key():
    from fabulaws.ubuntu import apt

    debian = apt.SignedRepository("debian", "Debian", "https://ftp-master.debian.org/keys/release-12.asc",
                                  "https://deb.debian.org/debian", fingerprint="4D64 FEC1 19C2 0290 67D6  E791 F8D2 585B 8783 D481")
    apt._check_fingerprint(LocalHost(), debian, str(DEBIAN_KEY))
    other = apt.SignedRepository("debian", "Debian", debian.key_url, debian.url, fingerprint=basics.NODESOURCE_FINGERPRINT)
    with pytest.raises(DeployError, match="expected fingerprint 6F71F5.*, got 4D64FEC119C2029067D6E791F8D2585B8783D481;"):
        apt._check_fingerprint(LocalHost(), other, str(DEBIAN_KEY))

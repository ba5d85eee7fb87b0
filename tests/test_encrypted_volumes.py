"""Encrypted data volumes: what fs_encrypt means now, EBS encryption as AWS (the sandbox's moto) records it, and
LUKS as far as a host without device-mapper allows: the commands run, the passphrase only ever on stdin, the
mapping names recorded at format time and found again after a reboot (Nitro included), and idempotence.

The sandbox's hosts have no device-mapper (``cryptsetup open`` cannot work there), so the LUKS steps run against
a stand-in for a Fabric Connection: a small host that keeps files and open mappings and records each command
with its stdin, like a shell would see them.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

import pytest
from fabulaws.aws import Aws
from fabulaws.aws import volumes as aws_volumes
from fabulaws.config.loader import load_settings
from fabulaws.errors import DeployError
from fabulaws.library.wsgiautoscale.servers.unlock import role_services, unlock_server
from fabulaws.ubuntu import volumes

from recording_host import Result

PASSPHRASE = "luks 'pass' $(id) phrase"
UUID = "0b6d3a2e-7c41-4b8e-9f36-1d2c3b4a5e6f"


# --- configuration ---------------------------------------------------------------------------------------
def _settings(example_project, value: str):
    path = example_project / "fabulaws-config.yml"
    path.write_text(path.read_text().replace("fs_encrypt: false", value))
    return load_settings(path)


def test_fs_encrypt_true_means_ebs_encryption_now_with_a_warning(example_project):
    settings = _settings(example_project, "fs_encrypt: true")
    instance = settings.instance_settings
    assert (instance.fs_encrypt, instance.ebs_encrypted, instance.luks) == ("ebs", True, False)
    assert len(settings.warnings) == 1 and "fs_encrypt: true now means EBS encryption" in settings.warnings[0]
    assert "luks" in settings.warnings[0] and settings.warnings[0].startswith("fabulaws-config.yml:")


@pytest.mark.parametrize(("value", "expected"), [
    ("fs_encrypt: false", (False, False, False)),
    ("fs_encrypt: ebs", ("ebs", True, False)),
    ("fs_encrypt: luks", ("luks", False, True)),
    ("fs_encrypt: luks\n  ebs_encrypt: true", ("luks", True, True)),
    ("fs_encrypt: false\n  ebs_kms_key_id: alias/myproject", (False, True, False)),
])
def test_what_each_setting_means(example_project, value, expected):
    settings = _settings(example_project, value)
    instance = settings.instance_settings
    assert (instance.fs_encrypt, instance.ebs_encrypted, instance.luks) == expected
    assert settings.warnings == []


def test_only_luks_needs_a_passphrase():
    from fabulaws.library.wsgiautoscale.servers.roles import secrets_needed

    assert secrets_needed("web", "luks") == [*secrets_needed("web", False), "luks_passphrase"]
    assert "luks_passphrase" not in secrets_needed("web", "ebs") + secrets_needed("web", False)


# --- EBS encryption: what AWS records ----------------------------------------------------------------------
def test_an_ebs_encrypted_volume_reports_encrypted_and_its_key(aws_env):
    aws = Aws(region="us-east-1")
    key = aws.client("kms").create_key(Description="data volumes")["KeyMetadata"]["KeyId"]
    with_key = aws_volumes.create(aws.ec2, "us-east-1a", 1, "gp3", False, {"role": "web"}, kms_key_id=key)
    default_key = aws_volumes.create(aws.ec2, "us-east-1a", 1, "gp3", True, {"role": "web"})
    plain = aws_volumes.create(aws.ec2, "us-east-1a", 1, "gp3", False, {"role": "web"})
    described = {v["VolumeId"]: v for v in aws.ec2.describe_volumes(VolumeIds=[with_key, default_key, plain])["Volumes"]}
    assert described[with_key]["Encrypted"] is True and key in described[with_key]["KmsKeyId"]
    assert described[default_key]["Encrypted"] is True and described[default_key]["KmsKeyId"].startswith("arn:aws:kms:")
    assert described[plain]["Encrypted"] is False and "KmsKeyId" not in described[plain]


# --- LUKS: a host that records commands ----------------------------------------------------------------------
@dataclass
class Host:
    """Enough of a server for the LUKS steps: files, block devices, open mappings; every command recorded."""

    files: dict[str, str] = field(default_factory=dict)
    devices: set[str] = field(default_factory=lambda: {"/dev/nvme1n1"})
    mapped: set[str] = field(default_factory=set)
    luks: dict[str, str] = field(default_factory=dict)  # device -> passphrase it was formatted with
    commands: list[tuple[str, str | None]] = field(default_factory=list)
    host: str = "10.0.1.5"

    def run(self, command: str, in_stream=None, **kwargs) -> Result:
        stdin = in_stream.read() if in_stream is not None else None
        self.commands.append((command, stdin))
        words = shlex.split(command)
        assert words[:4] == ["sudo", "-n", "bash", "-c"], command
        inner = words[4]
        if ">>" in inner:  # remote.files.append: printf '%s\n' LINE >> FILE
            line, path = shlex.split(inner.split(">>")[0])[2], shlex.split(inner.split(">>")[1])[0]
            self.files[path] = self.files.get(path, "") + line + "\n"
            return Result()
        argv = shlex.split(inner)
        return getattr(self, "do_" + argv[0].replace(".", "_").replace("-", "_"), self.do_other)(argv, stdin)

    def do_cat(self, argv, stdin):
        return Result(stdout=self.files[argv[1]]) if argv[1] in self.files else Result(1, stderr="No such file")

    def do_test(self, argv, stdin):
        path = argv[2]
        found = path in self.devices if argv[1] == "-b" else path in self.files or path in self.devices
        return Result(0 if found else 1)

    def do_grep(self, argv, stdin):
        text, path = argv[-2], argv[-1]
        lines = self.files.get(path, "").splitlines()
        return Result(0 if (text in lines if "-qxF" in argv else any(text in line for line in lines)) else 1)

    def do_ls(self, argv, stdin):
        return Result(stdout="".join(f"{name}\n" for name in ["control", *sorted(self.mapped)]))

    def do_findfs(self, argv, stdin):
        uuid = argv[1].removeprefix("UUID=")
        return Result(stdout="/dev/nvme2n1\n") if uuid == UUID else Result(1, stderr="unable to resolve")

    def do_cryptsetup(self, argv, stdin):
        if "luksFormat" in argv:
            self.luks[argv[-1]] = stdin
        elif "luksUUID" in argv:
            return Result(stdout=UUID + "\n")
        elif "open" in argv:
            device, name = argv[-2], argv[-1]
            if self.luks.get(device) != stdin:
                return Result(2, stderr="No key available with this passphrase.")
            self.mapped.add(name)
        return Result()

    def do_other(self, argv, stdin):
        return Result()


def assert_passphrase_only_on_stdin(host: Host) -> None:
    assert host.commands, "commands were run"
    for command, _ in host.commands:
        assert PASSPHRASE not in command and "pass" not in command, command
    assert any(stdin == PASSPHRASE for _, stdin in host.commands), "the passphrase went on stdin"


def test_format_records_the_mapping_by_uuid_under_the_ebs_device_name():
    host = Host(devices={"/dev/nvme1n1"})
    mapped = volumes.format_and_mount(host, "/dev/nvme1n1", "/secure", "ext4", PASSPHRASE, name=volumes.crypt_name("/dev/sdf"))
    assert mapped == "/dev/mapper/crypt-sdf", "named after the device asked for, not the NVMe name the kernel gave"
    assert host.files["/etc/crypttab"] == f"crypt-sdf UUID={UUID} none luks,noauto\n"
    assert host.mapped == {"crypt-sdf"}
    assert "mount /dev/mapper/crypt-sdf /secure" in host.files[volumes.MOUNT_SCRIPT]
    assert "/etc/fstab" not in host.files, "nothing on the locked volume is mounted at boot"
    assert_passphrase_only_on_stdin(host)


def test_after_a_reboot_the_volume_opens_by_uuid_whatever_its_nvme_name_now():
    host = Host(devices={"/dev/nvme2n1"}, luks={"/dev/nvme2n1": PASSPHRASE},
                files={"/etc/crypttab": f"# a comment\ncryptswap-xvdb /dev/xvdb /dev/urandom swap\n"
                                        f"crypt-sdf UUID={UUID} none luks,noauto\n",
                       volumes.MOUNT_SCRIPT: "#!/bin/sh\nset -e\nmount /dev/mapper/crypt-sdf /secure\n",
                       "/secure/swapfile": ""})
    asked = []
    line = unlock_server(host, ["db-primary"], "/secure", lambda: asked.append(1) or PASSPHRASE)
    assert host.mapped == {"crypt-sdf"} and asked == [1]
    assert line == "opened crypt-sdf; started fail2ban, postgresql"
    ran = [command for command, _ in host.commands]
    order = [next(i for i, c in enumerate(ran) if needle in c)
             for needle in ("service postgresql stop", "cryptsetup open", f"sh {volumes.MOUNT_SCRIPT}", "swapon",
                            "service postgresql start")]
    assert order == sorted(order), ran
    assert_passphrase_only_on_stdin(host)

    host.commands.clear()
    again = unlock_server(host, ["db-primary"], "/secure", lambda: pytest.fail("not asked: nothing is locked"))
    assert again == "crypt-sdf already open"
    assert not any("cryptsetup" in command or "service" in command for command, _ in host.commands)


def test_a_wrong_passphrase_is_one_line_and_nothing_is_mounted():
    host = Host(devices={"/dev/nvme2n1"}, luks={"/dev/nvme2n1": PASSPHRASE},
                files={"/etc/crypttab": f"crypt-sdf UUID={UUID} none luks,noauto\n",
                       volumes.MOUNT_SCRIPT: "mount /dev/mapper/crypt-sdf /secure\n"})
    with pytest.raises(DeployError, match="could not open /dev/nvme2n1 as crypt-sdf: No key available"):
        unlock_server(host, ["cache"], "/secure", lambda: "wrong")
    assert not any(volumes.MOUNT_SCRIPT in command for command, _ in host.commands)


def test_servers_made_by_1x_open_under_the_names_their_mount_script_uses():
    # 1.x on Nitro: formatted as crypt-nvme1n1 and then looked for crypt-sdf; its mount script knows the truth
    assert volumes.legacy_volumes("mount /dev/mapper/crypt-nvme1n1 /secure\n", set(), "f") == [
        volumes.CryptVolume("crypt-nvme1n1", "/dev/nvme1n1", "luks")]
    assert volumes.legacy_volumes("", {"/dev/sdf"}, "f")[0] == volumes.CryptVolume("crypt-sdf", "/dev/sdf", "luks")
    assert volumes.legacy_volumes("", set(), "g")[0] == volumes.CryptVolume("crypt-xvdg", "/dev/xvdg", "luks")
    host = Host(devices={"/dev/xvdf"}, luks={"/dev/xvdf": PASSPHRASE},
                files={volumes.MOUNT_SCRIPT: "#!/bin/sh\nmount /dev/mapper/crypt-xvdf /secure\n"})
    assert unlock_server(host, ["web"], "/secure", lambda: PASSPHRASE).startswith("opened crypt-xvdf; started ")
    assert host.mapped == {"crypt-xvdf"}


def test_a_server_without_luks_is_left_alone():
    host = Host(files={"/etc/crypttab": "cryptswap-xvdb /dev/xvdb /dev/urandom swap\n"})
    assert unlock_server(host, ["web"], "/secure", lambda: pytest.fail("no passphrase needed")) == "no LUKS volume"


def test_the_services_of_a_combo_server_once_each_in_setup_order():
    assert role_services(["combo"]) == ["fail2ban", "supervisor", "nginx", "postgresql"]
    assert role_services(["cache"]) == ["fail2ban", "redis-server", "memcached", "rabbitmq-server"]

"""A stand-in for a Debian host, for steps whose real servers are out of the sandbox's reach (New Relic's and
NodeSource's repositories): it answers the few facts they read, keeps the files they write, records every command."""

from __future__ import annotations

import io
import shlex
from dataclasses import dataclass, field


@dataclass
class Result:
    exited: int = 0
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.exited == 0

    @property
    def return_code(self) -> int:  # Fabric's Result has both names
        return self.exited


@dataclass
class Recorder:
    """Enough of a Debian host for a signed repository's steps: files written, every command recorded.

    A downloaded key is a key with ``key_fingerprint`` (what ``gpg --show-keys`` then reports)."""

    key_download_fails: bool = False
    key_fingerprint: str = "0123456789ABCDEF0123456789ABCDEF01234567"
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (mode, content)
    written: list[tuple[str, str, str, str]] = field(default_factory=list)  # (path, owner, group, mode) of each put()
    uploads: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    stdin: dict[int, str] = field(default_factory=dict)  # index in commands -> what the command read on stdin
    host: str = "10.0.1.5"

    def run(self, command: str, **kwargs) -> Result:
        self.commands.append(command)
        if kwargs.get("in_stream") is not None:
            self.stdin[len(self.commands) - 1] = kwargs["in_stream"].read()
        words = shlex.split(command)
        argv = shlex.split(words[4]) if words[:4] == ["sudo", "-n", "bash", "-c"] else words
        if argv[:2] == ["lsb_release", "-cs"]:
            return Result(stdout="bookworm\n")
        if argv[:2] == ["dpkg", "--print-architecture"]:
            return Result(stdout="amd64\n")
        if argv[0] == "mktemp":
            return Result(stdout=f"/tmp/tmp.{len(self.commands)}\n")
        if argv[0] == "stat":
            return Result(1)
        if "--show-keys" in argv:
            shown = self.files[argv[argv.index("--show-keys") + 1].rstrip(";")][1]
            return Result(stdout=f"pub:-:4096:1:2F59B5F99B1BE0B4:1684867200:::-:::scSC::::::23::0:\nfpr:::::::::{shown}:\n")
        if argv[0] == "saslpasswd2":
            self.files[argv[argv.index("-f") + 1]] = ("0600", f"sasldb: {argv[argv.index('-f') + 2]}")
        if argv[0] == "curl":
            if self.key_download_fails:
                return Result(6, stderr="curl: (6) Could not resolve host: download.example")
            self.files[argv[argv.index("-o") + 1]] = ("0600", self.key_fingerprint)
        if argv[:2] == ["python3", "-c"] and argv[3] == "install":  # remote/nolink.py's install (files.put)
            source, target, owner, group, mode = argv[4:9]
            self.files[target] = (mode, self.uploads.get(source) or self.files.pop(source)[1])
            self.written.append((target, owner, group, mode))
        if argv[0] == "install" and "-d" not in argv:
            source, target = argv[-2], argv[-1]
            content = self.uploads.get(source) or self.files.pop(source)[1]
            self.files[target] = (argv[argv.index("-m") + 1], content)
        if argv[:2] == ["rm", "-f"]:
            for path in argv[2:]:
                self.files.pop(path, None)
        return Result()

    def put(self, data: io.BytesIO, path: str) -> None:
        self.uploads[path] = data.read().decode()

    def ran(self, *argv: str) -> bool:
        """Whether a command (as root or not) began with ``argv``."""
        for command in self.commands:
            words = shlex.split(command)
            inner = shlex.split(words[4]) if words[:4] == ["sudo", "-n", "bash", "-c"] else words
            if inner[: len(argv)] == list(argv):
                return True
        return False

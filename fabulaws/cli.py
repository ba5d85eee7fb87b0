"""The ``fabulaws`` program: Fabric's ``fab`` plus Fabric 1 command-line syntax.

Every 1.x command line runs with ``fab`` replaced by ``fabulaws``:
``fabulaws deploy_full:myproject,production``, ``fabulaws -u bob staging
update_server_passwords``. Fabric 2 syntax works too.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fabric import Config
from fabric import Executor as FabricExecutor
from fabric.main import Fab
from invoke import Argument, Call, Collection, Exit

from . import __version__
from .config import CONFIG_FILE_NAMES
from .errors import DeployError
from .fabric1 import Translator
from .library.wsgiautoscale.context import NAMESPACE, PROJECT_HOOKS


def connection_kwargs(host: str, user: str | None) -> dict:
    """Connection arguments where ``-u`` beats ssh_config's User but loses to ``user@host``."""
    if user and "@" not in host:
        return {"host": host, "user": user}
    return {"host": host}


class Executor(FabricExecutor):
    """Fabric's executor, except that tasks which find their own hosts run once, not once per ``-H`` host."""

    def normalize_hosts(self, hosts):
        user = self.core[0].args.user.value if self.core else None
        normalized = []
        for kwargs in super().normalize_hosts(hosts):
            if "user" not in kwargs:
                kwargs = {**kwargs, **connection_kwargs(kwargs["host"], user)}
            normalized.append(kwargs)
        return normalized

    def expand_calls(self, calls, apply_hosts=True):
        remainder = self.core.remainder if self.core else ""
        if self.core:
            self.core.remainder = ""  # added once below, not once per call
        try:
            expanded = []
            for call in calls:
                task = call.task if isinstance(call, Call) else call
                own_hosts = getattr(task, "discovers_hosts", False)
                expanded += super().expand_calls([call], apply_hosts=apply_hosts and not own_hosts)
        finally:
            if self.core:
                self.core.remainder = remainder
        if remainder:
            expanded += super().expand_calls([], apply_hosts=apply_hosts)
        return expanded


class Fabulaws(Fab):
    """``fab`` with ``-u``, Fabric 1 task syntax and a built-in task collection."""

    def core_args(self):
        return super().core_args() + [
            Argument(
                names=("u", "user"),
                help="Username for SSH connections (Fabric 1's -u): beats ssh_config's User, loses to user@host.",
            )
        ]

    def load_collection(self):
        try:
            super().load_collection()
        except Exit:
            if not any((Path.cwd() / name).is_file() for name in CONFIG_FILE_NAMES):
                raise
            # A project with a configuration file but no fabfile gets the built-in tasks.
            from .library.wsgiautoscale import api

            self.collection = Collection.from_module(api, name="fabulaws")

    def parse_tasks(self):
        translator = Translator(self.collection, self._make_parser().contexts)
        self.core.unparsed = translator.translate(self.core.unparsed)
        halp = self.args.help.value
        if isinstance(halp, str) and translator.resolve(halp):
            self.args.help.set_value(translator.resolve(halp))
        super().parse_tasks()
        translator.restore(self.tasks)

    def update_config(self):
        super().update_config()
        user = self.args.user.value
        hosts = self.args.hosts.value
        if user:
            self.config.user = user
        self.config[NAMESPACE] = {
            **dict(self.config.get(NAMESPACE) or {}),
            "user": user,
            "hosts": hosts.split(",") if hosts else [],
            "hooks": {name: self.collection[name] for name in PROJECT_HOOKS if self._defines(name)},
        }

    def _defines(self, name: str) -> bool:
        try:
            self.collection[name]
        except (KeyError, ValueError):
            return False
        return True


# ``fabulaws NAME ...`` for these names runs the module's ``main(argv)`` instead of a task:
# name -> (module, the extra that brings its dependencies, modules that extra provides).
SUBCOMMANDS = {
    "sandbox": ("fabulaws.sandbox.cli", "sandbox", ("moto", "werkzeug", "flask")),  # the local AWS
    "schema": ("fabulaws.config.jsonschema", None, ()),  # JSON schema of fabulaws-config.yml
    "init": ("fabulaws.starter", None, ()),  # a starter fabulaws-config.yml and fabfile.py
}


def run_subcommand(name: str, arguments: list[str]) -> None:
    """Run a non-task subcommand; a missing optional dependency is one line naming the extra, before anything starts."""
    import importlib
    import importlib.util

    module_name, extra, requires = SUBCOMMANDS[name]
    missing = [module for module in requires if importlib.util.find_spec(module) is None]
    if missing:
        print(
            f"fabulaws {name}: the Python package(s) {', '.join(missing)} are missing; "
            f"install the {extra} extra: pip install 'fabulaws[{extra}]'",
            file=sys.stderr,
        )
        sys.exit(2)
    importlib.import_module(module_name).main(arguments)


def make_program() -> Fabulaws:
    return Fabulaws(name="FabulAWS", binary="fabulaws", version=__version__, executor_class=Executor, config_class=Config)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``argv`` as in sys.argv, program name first): one line on stderr and exit status 1 for any DeployError."""
    arguments = sys.argv[1:] if argv is None else argv[1:]
    if arguments[:1] and arguments[0] in SUBCOMMANDS:
        run_subcommand(arguments[0], arguments[1:])
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("fabulaws")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        make_program().run(argv)
    except DeployError as exc:
        print(f"fabulaws: {exc}", file=sys.stderr)
        sys.exit(1)
    except (ClientError, BotoCoreError) as exc:
        print(f"fabulaws: AWS said: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The ``fabulaws`` program: Fabric's ``fab`` plus Fabric 1 command-line syntax.

Every 1.x command line runs with ``fab`` replaced by ``fabulaws``:
``fabulaws deploy_full:myproject,production``, ``fabulaws -u bob staging
update_server_passwords``. Fabric 2 syntax works too. Fabric's own ``fab`` gets
the same behaviour when the fabfile imports FabulAWS (see fabulaws.fabhook).

Nothing here imports boto3 or pydantic: ``--version``, ``--list`` and
``--complete`` stay as fast as ``fab``'s.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import re
import sys
import traceback
from pathlib import Path

from fabric import Config
from fabric import Executor as FabricExecutor
from fabric.main import Fab
from invoke import Argument, Call, Collection, Exit, ParseError

from . import __version__, signals
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, DeployError, UsageError
from .report import reporter

NAMESPACE = "fabulaws"  # invoke config key holding what the command line selected (context.NAMESPACE)
PROJECT_HOOKS = ("post_bootstrap", "post_reload_production_db", "upload_munin_conf")  # fabfile tasks the built-in tasks call (context.PROJECT_HOOKS)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`
PORTING = 'see "Porting a fabfile" in docs/migration.rst'


def connection_kwargs(host: str, user: str | None) -> dict:
    """Connection arguments where ``-u`` beats ssh_config's User but loses to ``user@host``."""
    if user and "@" not in host:
        return {"host": host, "user": user}
    return {"host": host}


class Executor(FabricExecutor):
    """Fabric's executor, except that tasks which find their own hosts run once, not once per ``-H`` host."""

    def normalize_hosts(self, hosts):
        args = self.core[0].args if self.core else {}
        user = args["user"].value if "user" in args else None
        normalized = []
        for kwargs in super().normalize_hosts(hosts):
            if "user" not in kwargs:
                kwargs = {**kwargs, **connection_kwargs(kwargs["host"], user)}
            normalized.append(kwargs)
        return normalized

    def normalize(self, tasks):
        # each call's own roles=/hosts= (1.x's per-task selection)
        from .fabric1 import narrowed_calls

        return narrowed_calls(super().normalize(tasks))

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


def closest(word: str, choices: list[str]) -> str:
    """``"; did you mean 'deploy_full'?"`` for the closest choice (difflib), or ``""``."""
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def fabfile_problem(exc: BaseException) -> str:
    """One line for a fabfile that failed to import: its file and line, what failed, where to read."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name in ("fabfile.py", "__init__.py")
              and "site-packages" not in f.filename and "/fabulaws/" not in f.filename]
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}"
    elif frames:
        where = f"{frames[-1].filename}:{frames[-1].lineno}"
    else:
        where = "fabfile.py"
    hint = ""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("fabric."):
        hint = f" ({exc.name} is Fabric 1's; Fabric 2 has no such module)"
    elif isinstance(exc, ImportError) and (exc.name or "").startswith("fabulaws"):
        hint = " (a FabulAWS 1.x internal; it is gone)"
    return f"{where}: cannot import the fabfile: {type(exc).__name__}: {exc}{hint}; {PORTING}"


@contextlib.contextmanager
def reported():
    """Turn what FabulAWS raises into invoke's ``Exit``: one line on stderr and the error's exit status."""
    try:
        yield
    except DeployError as exc:
        # After SIGINT/SIGTERM/SIGHUP the engine's own error ("... rolled back") ends the run: still 130.
        stopped = signals.received()
        raise Exit(f"fabulaws: {exc}{f' ({stopped})' if stopped else ''}",
                   code=EXIT_INTERRUPTED if stopped else exc.exit_code) from None
    except KeyboardInterrupt:
        stopped = signals.received()
        raise Exit(f"fabulaws: interrupted{f' by {stopped}' if stopped else ''}", code=EXIT_INTERRUPTED) from None
    except BrokenPipeError:
        quiet_stdout()
        raise Exit(code=EXIT_BROKEN_PIPE) from None
    except Exception as exc:
        botocore = sys.modules.get("botocore.exceptions")  # never imported just to check
        if botocore and isinstance(exc, (botocore.ClientError, botocore.BotoCoreError)):
            raise Exit(f"fabulaws: AWS said: {exc}", code=EXIT_FAILED) from None
        raise


def quiet_stdout() -> None:
    """The reader of stdout went away: send what is left to /dev/null so exiting prints no second error."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class StderrUnlessConfigured(logging.StreamHandler):
    """Our log lines on stderr, unless the fabfile set up logging itself (1.x fabfiles do): then once, its way."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def log_to_stderr() -> None:
    """Our progress on stderr; paramiko's per-channel INFO lines ("Opened sftp connection") stay out of it
    even when a fabfile sets the root logger to INFO, unless the fabfile sets paramiko's level itself."""
    for chatty in ("paramiko", "botocore"):
        if logging.getLogger(chatty).level == logging.NOTSET:
            logging.getLogger(chatty).setLevel(logging.WARNING)
    logger = logging.getLogger("fabulaws")
    if not any(isinstance(h, StderrUnlessConfigured) for h in logger.handlers):
        handler = StderrUnlessConfigured(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def builtin_task_names(collection: Collection) -> set[str]:
    names = set()
    for name in collection.task_names:
        with contextlib.suppress(KeyError, ValueError):
            if getattr(collection[name], "discovers_hosts", False):
                names.add(name)
    return names


class FabulawsProgram:
    """What FabulAWS adds to Fabric's program: ``-u``, ``--profile``/``--region``, Fabric 1 syntax, one-line errors.

    Every phase after the flags are parsed runs under ``reported()``, so what it
    raises becomes one line and an exit status (invoke's own ``run`` would print a
    traceback, or exit 1 for Ctrl-C).

    ``Fabulaws`` is ``Fab`` with this mixed in; fabulaws.fabhook mixes it into a
    running ``fab`` whose fabfile imports FabulAWS.
    """

    binary: str  # set by invoke's Program.__init__

    def core_args(self):
        return super().core_args() + [
            Argument(
                names=("u", "user"),
                help="Username for SSH connections (Fabric 1's -u): beats ssh_config's User, loses to user@host.",
            ),
            Argument(names=("profile",), help="AWS profile to use (as the AWS CLI's --profile); beats aws_profile."),
            Argument(names=("region",), help="AWS region to use (as the AWS CLI's --region); beats region."),
        ]

    def load_collection(self):
        with reported():
            try:
                super().load_collection()
            except Exit:
                from .config.loader import locate_config_file

                config_file = locate_config_file()
                if config_file is None:
                    raise
                # A project with a configuration file but no fabfile gets the built-in tasks,
                # and its fabric.yaml (next to the configuration file) as a fabfile would.
                self.config.set_project_location(str(config_file.parent))
                self.config.load_project()
                from .library.wsgiautoscale import api

                self.collection = Collection.from_module(api, name="fabulaws")
            except (ImportError, SyntaxError, NameError, AttributeError) as exc:
                raise Exit(f"fabulaws: {fabfile_problem(exc)}", code=EXIT_USAGE) from None

    def parse_tasks(self):
        with reported():
            if "user" not in self.core[0].args:
                # Grafted onto a running ``fab`` after it parsed its own flags: parse again with ours.
                self.parse_core_args()
            config_problem()
            from .fabric1 import Translator

            # One parser for translating and parsing: building one pops the tasks' help texts.
            self.parser = self._make_parser()
            translator = Translator(self.collection, self.parser.contexts)
            self.core.unparsed = translator.translate(self.core.unparsed)
            halp = self.args.help.value
            if isinstance(halp, str):  # -h deploy_full, -h deploy-full, -h deploy_full:myproject,testing
                name = translator.resolve(halp.split(":", 1)[0])
                if name:
                    self.args.help.set_value(name)
            try:
                result = self.parser.parse_argv(self.core.unparsed)
            except ParseError as exc:
                raise self.parse_error(exc) from None
            self.core_via_tasks = result.pop(0)
            self._update_core_context(context=self.core[0], new_args=self.core_via_tasks.args)
            self.tasks = result
            translator.restore(self.tasks)

    def parse_cleanup(self):
        with reported():
            try:
                super().parse_cleanup()
            except ParseError as exc:
                raise self.parse_error(exc) from None

    def parse_error(self, exc: ParseError) -> Exit:
        """invoke's parse error as one line, exit status 2, with the closest task name for a typo."""
        message = str(exc)
        unknown = re.fullmatch(r"No idea what '(.*)' is!", message)
        if unknown and not unknown.group(1).startswith("-"):
            word = unknown.group(1).split(":", 1)[0]
            names = sorted({n for name in self.collection.task_names for n in (name, name.replace("-", "_"))})
            suggestion = closest(word, names) or closest(word.replace("_", "-"), names)
            message = f"no task named {word!r}{suggestion} ({self.binary} --list shows every task)"
        return Exit(f"fabulaws: {message}", code=EXIT_USAGE)

    def update_config(self):
        with reported():  # Fabric's part may prompt (--prompt-for-login-password): Ctrl-C there is 130 too
            super().update_config()
            user = self.args.user.value
            hosts = self.args.hosts.value
            if user:
                self.config.user = user
            if self.config.run.warn and builtin_task_names(self.collection) & {t.name for t in self.tasks}:
                raise UsageError(
                    "-w/--warn-only (run.warn) would turn failed remote steps into successes; "
                    "FabulAWS tasks stop at the first failure: run them without it"
                )
            namespace = dict(self.config.get(NAMESPACE) or {})
            namespace.update(
                user=user,
                hosts=hosts.split(",") if hosts else [],
                hooks={name: self.collection[name] for name in PROJECT_HOOKS if self._defines(name)},
            )
            for key in ("profile", "region"):
                if self.args[key].value:
                    namespace[key] = self.args[key].value
            self.config[NAMESPACE] = namespace

    def execute(self):
        with reported():
            super().execute()

    def _defines(self, name: str) -> bool:
        try:
            self.collection[name]
        except (KeyError, ValueError):
            return False
        return True


def config_problem() -> None:
    """Raise the configuration error the api module met while the fabfile was imported, if any."""
    api = sys.modules.get("fabulaws.library.wsgiautoscale.api")
    problem = getattr(api, "config_problem", None)
    if problem is not None:
        raise problem


class Fabulaws(FabulawsProgram, Fab):
    """``fab`` with ``-u``, Fabric 1 task syntax and a built-in task collection."""


# ``fabulaws NAME ...`` for these names runs the module's ``main(argv)`` instead of a task:
# name -> (module, the extra that brings its dependencies, modules that extra provides).
SUBCOMMANDS = {
    "sandbox": ("fabulaws.sandbox.cli", "sandbox", ("moto", "werkzeug", "flask")),  # the local AWS
    "schema": ("fabulaws.config.jsonschema", None, ()),  # JSON schema of fabulaws-config.yml
    "init": ("fabulaws.starter", None, ()),  # a starter fabulaws-config.yml and fabfile.py
}


def run_subcommand(name: str, arguments: list[str]) -> None:
    """Run a non-task subcommand; a missing optional dependency is one line naming the extra, before anything starts.

    The sandbox runs its server in a child process, so an import error there would only reach its log.
    """
    import importlib
    import importlib.util

    module_name, extra, requires = SUBCOMMANDS[name]
    missing = [module for module in requires if importlib.util.find_spec(module) is None]
    if missing:
        reporter().notice(
            f"fabulaws {name}: the Python package(s) {', '.join(missing)} are missing; "
            f"install the {extra} extra: pip install 'fabulaws[{extra}]'"
        )
        sys.exit(2)
    importlib.import_module(module_name).main(arguments)


def make_program() -> Fabulaws:
    return Fabulaws(name="FabulAWS", binary="fabulaws", version=__version__, executor_class=Executor, config_class=Config)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``argv`` as in sys.argv, program name first).

    Anything FabulAWS refuses is one line on stderr; the exit status is the
    error's ``exit_code`` (2 usage or configuration, 1 failed, 3 rolled back,
    130 interrupted, 141 stdout closed early).
    """
    arguments = sys.argv[1:] if argv is None else argv[1:]
    if arguments[:1] and arguments[0] in SUBCOMMANDS:
        run_subcommand(arguments[0], arguments[1:])
        return
    signals.install()
    log_to_stderr()
    try:
        make_program().run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except SystemExit as exc:
        if signals.received() and exc.code == EXIT_FAILED:  # invoke's own Ctrl-C status, outside reported()
            sys.exit(EXIT_INTERRUPTED)
        raise


if __name__ == "__main__":
    main()

"""Fabric's own ``fab`` runs FabulAWS command lines when the fabfile imports FabulAWS.

``fab`` loads the fabfile from inside its ``Program`` (``load_collection``), before
it parses the task part of the command line. When that fabfile imports
``fabulaws.library.wsgiautoscale.api`` (1.x's one line), the api calls
``upgrade_running_program()``: the ``fabric.main.Fab`` instance found in the call
stack becomes, in place, a subclass that mixes in ``fabulaws.cli.FabulawsProgram``
(as ``fabulaws`` is built), so the rest of its run translates
``task:arg,key=value``, takes ``-u``, ``--profile`` and ``--region`` (its flags are
parsed again with ours) and prints one-line errors with FabulAWS's exit codes.
Projects whose fabfile does not import FabulAWS get ``fab`` unchanged; so does
invoke's ``inv``.

This module imports nothing heavy: it is also where the project's files are found.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from .errors import EXIT_USAGE

CONFIG_FILE_NAMES = ("fabulaws-config.yml", "fabulaws-config.yaml")


def locate_config_file(start: Path | str | None = None) -> Path | None:
    """The nearest configuration file in ``start`` (default: the working directory) or its parents, as Fabric finds fabfiles."""
    directory = Path(start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        for name in CONFIG_FILE_NAMES:
            if (candidate / name).is_file():
                return candidate / name
    return None


def running_program() -> Any:
    """The invoke ``Program`` whose method is on the call stack, or None (a plain import)."""
    program_module = sys.modules.get("invoke.program")
    if program_module is None:
        return None
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, program_module.Program):
            return candidate
        frame = frame.f_back
    return None


def upgrade_running_program() -> Any:
    """Make the running ``fab`` (if any) a FabulAWS program; returns the program, or None when there is none."""
    program = running_program()
    fabric_main = sys.modules.get("fabric.main")
    if program is None or fabric_main is None or not isinstance(program, fabric_main.Fab):
        return None  # a plain import, or invoke's ``inv``: left alone
    from . import cli

    if isinstance(program, cli.FabulawsProgram):
        return program
    base = type(program)
    program.__class__ = type(f"FabulAWS{base.__name__}", (cli.FabulawsProgram, base), {})
    if program.executor_class is sys.modules["fabric"].Executor:
        program.executor_class = cli.Executor
    cli.log_to_stderr()
    cli.signals.install()  # SIGTERM and SIGHUP as Ctrl-C: the run rolls back; an interrupted run exits 130
    install_fabfile_excepthook()
    return program


def install_fabfile_excepthook() -> None:
    """A fabfile line that fails after the api import (``from fabric.api import env``) is one line, not a traceback."""
    previous = sys.excepthook

    def hook(kind, exc, tb):
        if isinstance(exc, (ImportError, NameError, AttributeError)) and any(
            Path(frame.f_code.co_filename).name == "fabfile.py" for frame, _ in _walk(tb)
        ):
            from .cli import fabfile_problem
            from .report import reporter

            reporter().notice(f"fabulaws: {fabfile_problem(exc)}")
            # The status fabulaws gives (2): an excepthook cannot choose it otherwise. Nothing is left to run.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_USAGE)
        previous(kind, exc, tb)

    sys.excepthook = hook


def _walk(tb):
    import traceback

    return traceback.walk_tb(tb)

"""1.x entry point, unchanged for fabfiles: ``from fabulaws.library.wsgiautoscale.api import *``.

Importing this module finds ``fabulaws-config.yml`` in the working directory or
its parents (as Fabric finds fabfiles) and defines every built-in task, including
one environment task per entry of ``environments``. Imported while Fabric's
``fab`` loads the fabfile, it also makes that ``fab`` run FabulAWS command lines
(fabulaws.fabhook).

Without a configuration file only the built-in tasks are defined (so ``--list``
works anywhere); running one says which file is missing. Under a program, a
configuration error is kept in ``config_problem`` and reported as one line before
any task runs; a plain import raises it, as 1.x did.
"""

from ...errors import ConfigError
from ...fabhook import locate_config_file, upgrade_running_program

_program = upgrade_running_program()

from .context import project_settings  # noqa: E402 - the program is upgraded first
from .tasks import STATIC_TASKS, builtin_tasks  # noqa: E402

config_problem: ConfigError | None = None
if locate_config_file() is None:
    _tasks = dict(STATIC_TASKS)
else:
    try:
        _tasks = builtin_tasks(project_settings())
    except ConfigError as exc:
        if _program is None:
            raise
        config_problem = exc
        _tasks = dict(STATIC_TASKS)
globals().update(_tasks)
__all__ = list(_tasks)

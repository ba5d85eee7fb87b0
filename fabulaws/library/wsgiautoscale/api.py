"""1.x entry point, unchanged for fabfiles: ``from fabulaws.library.wsgiautoscale.api import *``.

Importing this module finds ``fabulaws-config.yml`` in the working directory or
its parents (as Fabric finds fabfiles) and defines every built-in task, including
one environment task per entry of ``environments``. Imported while Fabric's
``fab`` loads the fabfile, it also makes that ``fab`` run FabulAWS command lines
(fabulaws.fabhook).

Without a configuration file only the built-in tasks are defined (so ``--list``
works anywhere); running one says which file is missing. Under a program, a
configuration error is kept in ``config_problem`` and reported as one line before
any task runs; a plain import raises it, as 1.x did. A program that will only
list, complete or show help gets stand-ins read from source (fabulaws.tasklist):
no boto3, no pydantic, no validation (unless the file has no readable list of
environments: then it is validated, so the error is named).
"""

from ...errors import ConfigError
from ...fabhook import locate_config_file, upgrade_running_program
from ...tasklist import environment_tasks, static_tasks, wants_listing_only

_program = upgrade_running_program()
_config_file = locate_config_file()
config_problem: ConfigError | None = None

_listed = environment_tasks(_config_file) if _config_file and wants_listing_only(_program) else None
if wants_listing_only(_program) and (_config_file is None or _listed is not None):
    _tasks = {**static_tasks(), **(_listed or {})}
else:  # running tasks, a plain import, or a configuration whose problem the validation below will name
    from .context import project_settings
    from .tasks import STATIC_TASKS, builtin_tasks

    _tasks = dict(STATIC_TASKS)
    if _config_file is not None:
        try:
            _tasks = builtin_tasks(project_settings(_config_file))
        except ConfigError as exc:
            if _program is None:
                raise
            config_problem = exc
globals().update(_tasks)
__all__ = list(_tasks)

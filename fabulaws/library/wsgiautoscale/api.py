"""1.x entry point, unchanged for fabfiles: ``from fabulaws.library.wsgiautoscale.api import *``.

Importing this module reads ``fabulaws-config.yml`` from the working directory
(as 1.x did) and defines every built-in task, including one environment task per
entry of ``environments``.
"""

from .context import project_settings
from .tasks import builtin_tasks

_tasks = builtin_tasks(project_settings())
globals().update(_tasks)
__all__ = list(_tasks)

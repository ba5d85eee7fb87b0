"""FabulAWS's tasks for ``fab`` and ``fabulaws`` run from this repository.

``fab --list`` lists them here; run from a project directory (one with
fabulaws-config.yml) they also get one environment task per configured
environment. A project's own fabfile is the same line (examples/myproject).
"""

from fabulaws.library.wsgiautoscale.api import *  # noqa: F401,F403

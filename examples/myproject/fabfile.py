"""myproject's fabfile, as a FabulAWS 1.x project wrote it: it works unchanged.

Run ``fab --list`` (or ``fabulaws --list``) here; ``fab deploy_full:myproject,staging``
and ``fab -u bob staging update_server_passwords`` work as they did with 1.x.
"""

import logging

logging.basicConfig(level=logging.INFO, format="%(message)s")
logging.getLogger("botocore").setLevel(logging.WARNING)

from fabulaws.library.wsgiautoscale.api import *  # noqa: E402,F401,F403

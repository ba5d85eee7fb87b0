"""The image future web servers launch from, taken from a running web server after its settings changed.

A web server knows the database and cache servers from files rendered into its image (pgbouncer's
configuration, the local settings). Once those servers change (promote_replica, recreate_servers), a server
the Auto Scaling group launches from the old image would reach the old ones. Imaging a web server that was
just pointed at the new servers keeps the code it runs (a bake would deploy the branch's head instead).
"""

from __future__ import annotations

import time

from fabric import Connection

from ....aws import Aws, images
from ....aws import tags as tagging
from ....remote.commands import sudo
from ..environment import Environment
from ..stack import Server


def image_name(env: Environment, changeset: str, stamp: str | None = None) -> str:
    """1.x's image name scheme: ``<dep>_<env>_web_<UTC stamp>_<changeset>``."""
    stamp = stamp or time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return f"{env.deployment}_{env.environment}_web_{stamp}_{changeset}"


def image_web_server(aws: Aws, cxn: Connection, env: Environment, server: Server, changeset: str,
                     timeout: float) -> str:
    """An image of ``server`` taken without a reboot (it keeps serving; its files are synced to disk first),
    tagged like it and with the changeset it runs; waits until the image is available."""
    sudo(cxn, "sync", hide=True)
    image_id = images.create(aws.ec2, server.instance_id, image_name(env, changeset), no_reboot=True)
    images.tag_like(aws.ec2, image_id, {"Tags": tagging.to_list(server.tags)})
    tagging.add(aws.ec2, [image_id], {"fabulaws:changeset": changeset})
    images.wait_available(aws.ec2, image_id, timeout)
    return image_id

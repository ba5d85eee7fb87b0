"""Create servers in parallel as ``create_environment`` does: ``provision_driver.py USER KEY ROLE:ZONE...``.

Run in a project directory with the AWS environment pointing at the sandbox; exits 1 on failure.
"""

import sys

from fabric import Config
from fabulaws.errors import DeployError
from fabulaws.library.wsgiautoscale.context import environment_of
from fabulaws.library.wsgiautoscale.servers.provision import ServerSpec
from fabulaws.library.wsgiautoscale.tasks.servers import create_servers
from invoke import Context


def main(user: str, key: str, *requests: str) -> int:
    config = Config(overrides={"connect_kwargs": {"key_filename": key}, "fabulaws": {"user": user}})
    specs = [ServerSpec("myproject", "testing", *request.split(":")) for request in requests]
    try:
        c = Context(config=config)
        create_servers(c, environment_of(c, "myproject", "testing"), specs)
    except DeployError as exc:
        print(f"fabulaws: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

"""``fabulaws init [DIR]``: a starter fabulaws-config.yml and a 1.x-style fabfile.py.

The configuration loads as written (every required key, with placeholder
values to replace); existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .report import reporter

CONFIG_NAME = "fabulaws-config.yml"
FABFILE_NAME = "fabfile.py"
DEFAULT_PROJECT = "myproject"

CONFIG_TEMPLATE = """\
# yaml-language-server: $schema=fabulaws-config.schema.json
# FabulAWS configuration for {project}. Replace the placeholder values (ami, repo, domains...).
# Every key: docs/configuration.rst, or `fabulaws schema -o fabulaws-config.schema.json`
# for completion and checking in your editor (the line above points at that file).
# Check it with `fabulaws staging`: a mistake is reported as one line naming the key.

## ENVIRONMENTS, ROLES, DEPLOYMENTS ##
default_deployment: {project}
deployments: [{project}]
environments: [staging, production]
production_environments: [production]
valid_roles: [cache, db-primary, db-replica, web, worker]

## AWS ##
# Region of every AWS call; --region, AWS_REGION or AWS_DEFAULT_REGION beat it.
# Leave it out to use your AWS profile's region.
region: us-east-1
# aws_profile: {project}-admin
avail_zones: [a, b]
security_groups:
  web: [{project}-sg, {project}-web-sg]
  worker: [{project}-sg]
  cache: [{project}-sg]
  db-primary: [{project}-sg, {project}-db-sg]
  db-replica: [{project}-sg, {project}-db-sg]
instance_types:
  production:
    web: c5.large
    worker: m5.large
    cache: t3.medium
    db-primary: m5.large
    db-replica: m5.large
  web: t3.small
  worker: t3.small
  cache: t3.small
  db-primary: t3.small
  db-replica: t3.small
volume_sizes: {{web: 10, worker: 20, cache: 10, db-primary: 100, db-replica: 100}}
volume_types: {{web: gp3, worker: gp3, cache: gp3, db-primary: gp3, db-replica: gp3}}
auto_scaling_groups:
  {project}:
    staging: {project}-staging-ag
    production: {project}-production-ag
target_groups:
  {project}:
    staging: [{project}-staging-tg]
    production: [{project}-production-tg]
instance_settings:
  ami: ami-0123456789abcdef0
  key_prefix: {project}-

## SERVERS AND THE APPLICATION ##
deploy_user: {project}
webserver_user: {project}-web
home: /home/{project}/
project: {project}
wsgi_app: {project}.wsgi:application
settings_managepy: {project}.local_settings
repo: git@github.com:example/{project}.git
branches:
  {project}:
    staging: main
    production: main
server_ports: {{staging: 8000, production: 8001}}
site_domains_map:
  staging: [staging.example.com]
  production: [example.com]
database_user: {project}
password_names: [database_password, broker_password, secret_key]
# One public key file per sysadmin (new servers let only them in).
# ssh_keys: deployment/users/
"""

FABFILE_TEMPLATE = '''\
"""{project}'s fabfile: FabulAWS's built-in tasks, as in 1.x (`fabulaws --list` shows them)."""

from fabulaws.library.wsgiautoscale.api import *  # noqa: F401,F403
'''


def project_name(directory: Path) -> str:
    """A project name from the directory's name (lower case, letters, digits and _), else myproject."""
    name = re.sub(r"[^a-z0-9_]+", "_", directory.resolve().name.lower()).strip("_")
    return name if name and name[0].isalpha() else DEFAULT_PROJECT


def starter_files(project: str) -> dict[str, str]:
    """File name -> text of the starter files (pure)."""
    return {CONFIG_NAME: CONFIG_TEMPLATE.format(project=project), FABFILE_NAME: FABFILE_TEMPLATE.format(project=project)}


def main(argv: list[str]) -> None:
    """``fabulaws init [DIR]``: write the starter files into DIR (default: here); exit 2 if one exists."""
    parser = argparse.ArgumentParser(
        prog="fabulaws init",
        description=f"Write a starter {CONFIG_NAME} and a 1.x-style {FABFILE_NAME} (existing files are kept).",
    )
    parser.add_argument("directory", nargs="?", default=".", metavar="DIR", help="where to write them (default: here)")
    parser.add_argument("--project", help="the project's name (default: from the directory's name)")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    files = starter_files(args.project or project_name(directory))
    existing = [name for name in (*files, "fabulaws-config.yaml") if (directory / name).exists()]
    if existing:
        reporter().notice(
            f"fabulaws init: {directory / existing[0]} already exists; nothing written "
            "(move it away or pick another directory)"
        )
        sys.exit(2)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        with open(directory / name, "x", encoding="utf-8") as handle:  # "x": never replace a file made meanwhile
            handle.write(text)
    reporter().info(f"Wrote {directory / CONFIG_NAME} and {directory / FABFILE_NAME}; replace the placeholder values, "
                    "then check them with `fabulaws staging` there.")

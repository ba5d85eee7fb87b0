"""What the engine asks of the servers: the steps that run over SSH.

The engine calls these at fixed points of deploy_full and deploy_serial; the
application tasks (issue: application deployment) provide the real ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ....errors import DeployError

if TYPE_CHECKING:
    from fabulaws.library.wsgiautoscale.deploy.run import DeployContext


class ServerSteps(Protocol):
    def bake_image(self, ctx: DeployContext) -> tuple[str, str]:
        """Build a web server at the branch's changeset and image it: (image id, changeset).
        Temporary resources go into ``ctx.journal.track`` so they never outlive the operation."""

    def servers_ready(self, ctx: DeployContext, instance_ids: list[str]) -> None:
        """Return once new web servers are ready to serve (replaces 1.x's fixed 120 s sleep)."""

    def begin_upgrade(self, ctx: DeployContext, servers: list[Any]) -> None:
        """Maintenance page on every web server (the health check stays green)."""

    def end_upgrade(self, ctx: DeployContext, servers: list[Any]) -> None:
        """Maintenance page off."""

    def deploy_worker(self, ctx: DeployContext, changeset: str) -> None:
        """Update the workers to ``changeset``; migrate and collectstatic once."""


class StepsUnavailable(DeployError, NotImplementedError):
    """A server step this installation cannot run."""


class NoServerSteps:
    """For operations on a group whose servers need nothing from us (an image built elsewhere, e.g. by Packer)."""

    def bake_image(self, ctx: DeployContext) -> tuple[str, str]:
        raise StepsUnavailable("no image to deploy: pass ami=<image id> (image baking needs the application tasks)")

    def servers_ready(self, ctx: DeployContext, instance_ids: list[str]) -> None:
        pass

    def begin_upgrade(self, ctx: DeployContext, servers: list[Any]) -> None:
        pass

    def end_upgrade(self, ctx: DeployContext, servers: list[Any]) -> None:
        pass

    def deploy_worker(self, ctx: DeployContext, changeset: str) -> None:
        pass

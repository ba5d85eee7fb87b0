"""Runs one deploy operation and SIGKILLs itself right after a given step (fault injection for recover tests).

Usage: python deploy_driver.py PROJECT_DIR OPERATION KILL_AFTER_STEP STEPS_LOG [key=value ...]

KILL_AFTER_STEP may also be ``point_of_no_return`` (killed right after it is declared, before "migrate").
``bake=image`` makes the recording steps bake a real image. The lease length comes from FABULAWS_LEASE_SECONDS.
"""

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fabulaws.aws import Aws  # noqa: E402
from fabulaws.config import load_settings  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.journal import Journal  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.operation import execute  # noqa: E402
from fabulaws.library.wsgiautoscale.deploy.run import DeployContext  # noqa: E402
from fabulaws.library.wsgiautoscale.tasks.operations import OPERATIONS  # noqa: E402
from fabulaws.waits import Polling  # noqa: E402

from deploy_support import RecordingSteps  # noqa: E402


def main() -> None:
    project, operation_name, kill_after, log = sys.argv[1:5]
    params = dict(arg.split("=", 1) for arg in sys.argv[5:])
    bake = params.pop("bake", None)
    os.chdir(project)
    settings = load_settings(Path(project) / "fabulaws-config.yml")
    original_done = Journal.done
    original_point = DeployContext.point_of_no_return

    def done(self, step):
        original_done(self, step)
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def point_of_no_return(self):
        original_point(self)
        if kill_after == "point_of_no_return":
            os.kill(os.getpid(), signal.SIGKILL)

    Journal.done = done
    DeployContext.point_of_no_return = point_of_no_return
    operation = OPERATIONS[operation_name]
    journal = Journal.start(operation.name, "myproject", "testing", "myproject-testing-ag", params)  # no ami: bake
    steps = RecordingSteps(Path(log))
    steps.bake_real_image = bake == "image"
    ctx = DeployContext(Aws.from_settings(settings), settings, "myproject", "testing", "myproject-testing-ag",
                        steps, journal, Polling(0.1, 0.4), 120.0, lambda message: None)
    execute(operation, ctx)


if __name__ == "__main__":
    main()

"""One of two racers for the environment's lock: each round, both call the real ``Lease.acquire`` at the same
instant (a barrier of files), then write won/lost; the winner checks the lock names it, then releases it.

Usage: python lock_race_driver.py BARRIER_DIR NAME OTHER ROUNDS   (run in the racer's own working directory)
"""

import json
import sys
import time
from pathlib import Path

from fabulaws.aws import Aws
from fabulaws.aws.statestore import StateStore
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.deploy.lease import GroupLocked, Lease


def wait_for(path: Path, deadline: float = 60.0) -> None:
    ends = time.monotonic() + deadline
    while not path.exists():
        if time.monotonic() > ends:
            raise SystemExit(f"{path.name} never appeared")
        time.sleep(0.001)


def main() -> None:
    barrier, me, other, rounds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    settings = load_settings(Path.cwd() / "fabulaws-config.yml")
    store = StateStore.for_environment(Aws.from_settings(settings), "myproject", "testing", report=lambda m: None)
    results = []
    for number in range(rounds):
        (barrier / f"ready-{number}-{me}").touch()
        wait_for(barrier / f"ready-{number}-{other}")
        try:
            lease = Lease.acquire(store, f"{me}-{number}", "deploy_full")
        except GroupLocked:
            lease = None
        holder = store.read(store.lock_key)
        results.append({"round": number, "won": lease is not None,
                        "lock_names_me": bool(holder) and holder[0]["run"] == f"{me}-{number}"})
        (barrier / f"tried-{number}-{me}").touch()
        wait_for(barrier / f"tried-{number}-{other}")
        if lease is not None:
            lease.release()
        (barrier / f"released-{number}-{me}").touch()
        wait_for(barrier / f"released-{number}-{other}")
    (barrier / f"results-{me}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main()

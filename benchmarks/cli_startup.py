"""Start-up time of the commands a shell runs often (hyperfine-style: warm-up runs, then N timed runs).

Target: ``fabulaws --version``, ``--list`` and ``--complete`` under 0.25 s, next to
``fab --version``. Run: ``.venv/bin/python benchmarks/cli_startup.py [runs]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EXAMPLE = REPO / "examples" / "myproject"
COMMANDS = [
    ("fab --version", [BIN / "fab", "--version"], REPO),
    ("fabulaws --version", [BIN / "fabulaws", "--version"], REPO),
    ("fabulaws --list (repository)", [BIN / "fabulaws", "--list"], REPO),
    ("fabulaws --list (examples/myproject)", [BIN / "fabulaws", "--list"], EXAMPLE),
    ("fab --list (examples/myproject)", [BIN / "fab", "--list"], EXAMPLE),
    ("fabulaws --complete (TAB)", [BIN / "fabulaws", "--complete", "--", "fabulaws", "dep"], EXAMPLE),
    ("fabulaws -h deploy_full", [BIN / "fabulaws", "-h", "deploy_full"], EXAMPLE),
    ("fabulaws testing (loads the config)", [BIN / "fabulaws", "testing"], EXAMPLE),
]


def timed(argv: list, cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run; CPU time varies less on a busy machine."""
    start = time.perf_counter()
    process = subprocess.Popen([str(a) for a in argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, argv
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main(runs: int = 20, warmup: int = 3) -> None:
    for label, argv, cwd in COMMANDS:
        for _ in range(warmup):
            timed(argv, cwd)
        walls, cpus = zip(*(timed(argv, cwd) for _ in range(runs)), strict=True)
        print(f"{label:38} wall mean {statistics.mean(walls):.3f} s ± {statistics.stdev(walls):.3f}"
              f"  min {min(walls):.3f}  median {statistics.median(walls):.3f}"
              f"  | cpu median {statistics.median(cpus):.3f} s  ({runs} runs)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

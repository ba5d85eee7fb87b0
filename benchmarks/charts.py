"""Charts of the benchmarks' results: each benchmarks/results/<name>.json becomes <name>.png beside it.

Run with a Python that has matplotlib (`make bench` installs it in .tools-bench, apart from the
project's own dependencies): python benchmarks/charts.py benchmarks/results/*.json
A result file says what it holds in ``kind``:

- ``capacity``: healthy in-service servers over time, one panel per (time scale, N), a line per strategy
  (rolling_deploy.py); ``runs`` is a list of {scale, size, strategy, samples: [[aws_seconds, healthy, total]]}.
- ``phases``: a timeline of named phases per run; ``runs`` is a list of {name, phases: [[phase, start, end]]}
  (seconds), one bar per run.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def capacity(data: dict, path: Path) -> None:
    """One panel per (scale, N): healthy in-service servers over AWS time; the dotted line is N."""
    panels: dict[tuple[float, int], list[dict]] = defaultdict(list)
    for run in data["runs"]:
        panels[(run["scale"], run["size"])].append(run)
    keys = sorted(panels, key=lambda k: (-k[0], k[1]))
    columns = min(2, len(keys))
    rows = (len(keys) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(7 * columns, 3.6 * rows), squeeze=False)
    for axis, key in zip(axes.flat, keys, strict=False):
        scale, size = key
        for run in panels[key]:
            times = [s[0] for s in run["samples"]]
            axis.step(times, [s[1] for s in run["samples"]], where="post", label=f"{run['strategy']} ({run['aws_time']:.0f} s)")
        axis.axhline(size, color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"N={size}, time scale " + ("1 (real AWS time)" if scale == 1 else f"1:{scale:g}"))
        axis.set_xlabel("AWS seconds since the deploy began")
        axis.set_ylabel("healthy in-service servers")
        axis.set_ylim(bottom=0, top=size * 1.6 + 1)
        axis.legend(fontsize=7, loc="lower right")
    for axis in list(axes.flat)[len(keys):]:
        axis.set_visible(False)
    figure.suptitle(data.get("title", path.stem) + (f"\n{data['machine']}" if data.get("machine") else ""), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def phases(data: dict, path: Path) -> None:
    """One horizontal bar per run, a coloured segment per phase."""
    runs = data["runs"]
    figure, axis = plt.subplots(figsize=(10, 1 + 0.6 * len(runs)))
    colours: dict[str, str] = {}
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, run in enumerate(runs):
        for name, start, end in run["phases"]:
            colour = colours.setdefault(name, palette[len(colours) % len(palette)])
            axis.barh(row, end - start, left=start, color=colour)
            axis.text(start + (end - start) / 2, row, f"{name}\n{end - start:.0f} s", ha="center", va="center", fontsize=7)
    axis.set_yticks(range(len(runs)), [run["name"] for run in runs])
    axis.set_xlabel("seconds")
    axis.invert_yaxis()
    axis.set_title(data.get("title", path.stem), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


CHARTS = {"capacity": capacity, "phases": phases}


def main() -> None:
    for name in sys.argv[1:]:
        source = Path(name)
        data = json.loads(source.read_text())
        draw = CHARTS.get(data.get("kind", ""))
        if draw is None:
            print(f"{source}: no chart for kind {data.get('kind')!r} (known: {', '.join(CHARTS)})")
            continue
        target = source.with_suffix(".png")
        draw(data, target)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()

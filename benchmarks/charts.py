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
    """A column per (scale, N), a row per strategy: healthy in-service servers over AWS time, N dotted."""
    panels: dict[tuple[float, int], list[dict]] = defaultdict(list)
    for run in data["runs"]:
        panels[(run["scale"], run["size"])].append(run)
    keys = sorted(panels, key=lambda k: (-k[0], k[1]))
    rows = max(len(runs) for runs in panels.values())
    figure, axes = plt.subplots(rows, len(keys), figsize=(7 * len(keys), 1.5 * rows + 1), squeeze=False, sharex="col")
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(dict.fromkeys(run["strategy"] for run in data["runs"]))
    for column, key in enumerate(keys):
        scale, size = key
        for row in range(rows):
            axis = axes[row][column]
            if row >= len(panels[key]):
                axis.set_visible(False)
                continue
            run = panels[key][row]
            colour = palette[names.index(run["strategy"]) % len(palette)]
            axis.step([s[0] for s in run["samples"]], [s[1] for s in run["samples"]], where="post", color=colour)
            axis.axhline(size, color="grey", linestyle=":", linewidth=1)
            axis.set_ylim(max(0, size - 3), size + 2.5)
            axis.set_yticks(sorted({max(0, size - 2), size, size + 2}))
            axis.text(0.01, 0.93, f"{run['strategy']}: {run['aws_time']:.0f} s, {run['calls']} calls, "
                      f"at least {run['min_healthy']} healthy", transform=axis.transAxes, fontsize=7, va="top")
            if row == 0:
                axis.set_title(f"N={size}, time scale " + ("1 (real AWS time)" if scale == 1 else f"1:{scale:g}"), fontsize=9)
        axes[min(rows, len(panels[key])) - 1][column].set_xlabel("AWS seconds since the deploy began")
    figure.supylabel("healthy in-service servers (dotted: N)", fontsize=8)
    figure.suptitle(data.get("title", path.stem) + (f"\n{data['machine']}" if data.get("machine") else ""), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def phases(data: dict, path: Path) -> None:
    """One horizontal bar per run, a coloured segment per phase (named in the legend; labelled where it is wide
    enough), the run's total at its end."""
    runs = data["runs"]
    figure, axis = plt.subplots(figsize=(10, 1.4 + 0.6 * len(runs)))
    colours: dict[str, str] = {}
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    longest = max(end for run in runs for _, _, end in run["phases"])
    for row, run in enumerate(runs):
        for name, start, end in run["phases"]:
            label = None if name in colours else name
            colour = colours.setdefault(name, palette[len(colours) % len(palette)])
            axis.barh(row, end - start, left=start, color=colour, label=label)
            if end - start >= 0.06 * longest:
                axis.text(start + (end - start) / 2, row, f"{name}\n{end - start:.0f} s", ha="center", va="center", fontsize=7)
        axis.text(run["phases"][-1][2], row, f" {run['phases'][-1][2]:.0f} s", va="center", fontsize=8)
    axis.set_xlim(0, longest * 1.08)
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(colours), fontsize=7, frameon=False)
    axis.set_yticks(range(len(runs)), [run["name"] for run in runs])
    axis.set_xlabel("seconds")
    axis.invert_yaxis()
    figure.suptitle(data.get("title", path.stem) + (f"\n{data['machine']}" if data.get("machine") else ""), fontsize=9)
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

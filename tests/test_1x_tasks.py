"""Every 1.x task name is a task here or is listed in docs/migration.rst with what to do meanwhile."""

from __future__ import annotations

from pathlib import Path

from fabulaws.library.wsgiautoscale.tasks import STATIC_TASKS

REPO = Path(__file__).resolve().parent.parent
TASKS_1X = (REPO / "tests" / "data" / "fabulaws-1x-tasks.txt").read_text().split()
ENVIRONMENT_TASKS = {"testing", "staging", "production"}  # one per configured environment here


def not_yet_available() -> dict[str, str]:
    """The table of docs/migration.rst's "1.x tasks not yet available": task -> what to do meanwhile."""
    text = (REPO / "docs" / "migration.rst").read_text()
    section = text.split("1.x tasks not yet available\n---", 1)[1].split("\n.. _", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("``"):
            name, _, meanwhile = line[2:].partition("``")
            rows[name] = meanwhile.strip()
    return rows


def test_the_list_has_all_62_tasks_of_1x():
    assert len(set(TASKS_1X)) == 62


def test_every_1x_task_is_a_task_or_documented_as_not_yet_available():
    documented = not_yet_available()
    available = set(STATIC_TASKS) | ENVIRONMENT_TASKS
    missing = [name for name in TASKS_1X if name not in available and not documented.get(name)]
    assert not missing, f"1.x tasks neither available nor in docs/migration.rst's table: {missing}"
    stale = sorted(set(documented) & available)
    assert not stale, f"docs/migration.rst lists as not yet available tasks that exist: {stale}"
    assert documented.keys() <= set(TASKS_1X), "docs/migration.rst's table names a task 1.x did not have"


def test_the_readme_counts_what_is_here():
    available = [name for name in TASKS_1X if name in STATIC_TASKS or name in ENVIRONMENT_TASKS]
    readme = " ".join((REPO / "README.rst").read_text().split())
    if len(available) == 62:
        assert "All 62 of 1.x's tasks are here" in readme
        assert "not yet ported" not in readme
    else:
        assert f"{len(available)} of 1.x's 62 tasks are here" in readme
        assert f"lists the {62 - len(available)} tasks not yet ported" in readme

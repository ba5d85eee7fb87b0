"""docs/migration.rst's "Porting a fabfile" examples are true: each ported fabfile loads in a project and its task
is listed; each 1.x original is refused with the one line that points to that section."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, run_cli


def examples() -> list[tuple[str, str]]:
    """(1.x fabfile, ported fabfile) pairs: the literal blocks after "...::" in the section, in order."""
    text = (REPO / "docs" / "migration.rst").read_text()
    section = text.split("\nPorting a fabfile\n---", 1)[1].split("\n.. _", 1)[0]
    section = re.split(r"\n\S[^\n]*\n-{3,}\n", section)[0]  # up to the next section
    blocks = [re.sub(r"^    ", "", block, flags=re.M) for block in re.findall(r"::\n\n((?:    .*\n|\n)+)", section)]
    fabfiles = [block for block in blocks if "@task" in block]
    assert len(fabfiles) % 2 == 0 and fabfiles, "each example: a 1.x fabfile, then its port"
    return list(zip(fabfiles[::2], fabfiles[1::2], strict=True))


def task_names(fabfile: str) -> list[str]:
    return re.findall(r"^def (\w+)\(", fabfile, flags=re.M)


@pytest.mark.parametrize("index", range(len(examples())))
def test_the_ported_fabfile_loads_and_lists_its_task(example_project, index):
    original, ported = examples()[index]
    assert "fabric.api" in original and "fabric.api" not in ported
    (example_project / "fabfile.py").write_text(ported)
    listed = run_cli(["--list"], example_project)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert task_names(ported) and all(name in names or name.replace("_", "-") in names for name in task_names(ported))
    helped = run_cli(["--help", task_names(ported)[0]], example_project)  # imports the fabfile and the real tasks
    assert helped.returncode == 0, helped.stderr

    (example_project / "fabfile.py").write_text(original)
    refused = run_cli(["--list"], example_project)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith('see "Porting a fabfile" in docs/migration.rst')


def test_the_helpers_the_examples_import_exist():
    from fabulaws.library.wsgiautoscale import context
    from fabulaws.library.wsgiautoscale.servers import each

    for name in ("discover", "selected", "settings_for", "narrowed_to", "task_roles"):
        assert callable(getattr(context, name)), name
    assert callable(each.on_each)

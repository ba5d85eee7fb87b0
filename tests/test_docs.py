"""Docs grow with the code: every built-in task is documented with the 1.x command it replaces."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fabulaws.library.wsgiautoscale.tasks import STATIC_TASKS

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("name", sorted(STATIC_TASKS))
def test_every_task_is_documented_with_what_it_replaces(name):
    text = (DOCS / "tasks.rst").read_text()
    entry = text.index(f"\n``{name}") + 1
    following = text[entry:].split("\n``", 1)[0]
    assert "Replaces: " in following, f"docs/tasks.rst: {name} does not say which 1.x command it replaces (or that none)"


def test_the_docs_build_without_warnings(tmp_path):
    sphinx = shutil.which("sphinx-build", path=str(Path(sys.executable).parent))
    if sphinx is None:
        pytest.skip("sphinx-build is not installed in this environment (make test installs it)")
    result = subprocess.run([sphinx, "-q", "-W", "-b", "html", str(DOCS), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_readme_opens_with_exactly_the_two_set_up_commands():
    """The demo and the tests, nothing else, in README.rst's first literal block (a third one crept in once)."""
    text = (DOCS.parent / "README.rst").read_text()
    block = text.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"], block

"""What a user gets from ``pip install``: one version, a complete sdist, the sandbox behind its extra."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import fabulaws

REPO = Path(__file__).resolve().parent.parent


def build_sdist(out: Path) -> Path:
    """The sdist as setuptools builds it from this checkout (no network: the installed setuptools)."""
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


def test_sdist_is_complete_and_carries_one_version(tmp_path):
    sdist = build_sdist(tmp_path)
    assert sdist.name == f"fabulaws-{fabulaws.__version__}.tar.gz"
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("LICENSE", "fabulaws-config.yml.example", "tests/conftest.py", "tests/configs/base.yml",
                   "tests/data/fabulaws-1x-sample/fabulaws-config.yaml", "examples/myproject/fabulaws-config.yml",
                   "docs/index.rst", "Makefile"):
        assert needed in names, f"{needed} missing from the sdist"
    assert not [name for name in names if "__pycache__" in name]


def test_docs_and_package_share_the_version():
    conf = (REPO / "docs" / "conf.py").read_text()
    assert "__version__" in conf and fabulaws.__version__ not in conf
    assert 'version = "' not in (REPO / "pyproject.toml").read_text()


def test_sandbox_without_its_extra_is_one_line_naming_the_extra(tmp_path):
    # A Python where moto's server stack is not installed: imports of it fail as they would after `pip install fabulaws`.
    blocker = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("moto", "werkzeug", "flask"):
                    raise ModuleNotFoundError(name)
                return None
        sys.meta_path.insert(0, Block())
        import importlib.util
        find = importlib.util.find_spec
        def find_spec(name, package=None):
            if name.split(".")[0] in ("moto", "werkzeug", "flask"):
                return None
            return find(name, package)
        importlib.util.find_spec = find_spec
        from fabulaws.cli import main
        main(["fabulaws", "sandbox", "up"])
        """
    )
    done = subprocess.run([sys.executable, "-c", blocker], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "FABULAWS_SANDBOX_DIR": str(tmp_path / "state")})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'fabulaws[sandbox]'" in lines[0], done.stderr
    assert not (tmp_path / "state").exists()

"""Environment: one (deployment, environment) and every name the configuration derives for it (no AWS, no hosts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabulaws.config import load_settings
from fabulaws.library.wsgiautoscale.app import cdn

BASE = Path(__file__).parent / "configs" / "base.yml"


def settings_with(tmp_path: Path, extra: str):
    (tmp_path / "fabulaws-config.yml").write_text(BASE.read_text() + extra)
    return load_settings(tmp_path / "fabulaws-config.yml")


@pytest.mark.parametrize("extra, expected", [
    ("cloudfront_distribution_ids:\n  myproject:\n    testing: E1\n", "E1"),  # deployment, then environment
    ("cloudfront_distribution_ids:\n  testing: E2\n", "E2"),  # keyed by environment alone
    ("cloudfront_distribution_ids:\n  myproject: E3\n", "E3"),  # one value for the whole deployment
    ("cloudfront_distribution_ids:\n  myproject:\n    production: E4\n", None),  # another environment's only
    ("", None),
], ids=["deployment-environment", "environment", "deployment-wide", "other-environment", "none"])
def test_the_cloudfront_distribution_is_read_by_the_lookup_rule(tmp_path, extra, expected):
    settings = settings_with(tmp_path, extra)
    assert cdn.distribution_of(settings, "myproject", "testing") == expected

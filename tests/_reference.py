"""Locate the shared reference data (R mice results) beside the repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def reference_path(name: str = "") -> Path:
    """Return the path of a reference file, skipping the test when it is absent."""
    for base in (REPO.parent / "shared" / "reference", REPO / "shared" / "reference"):
        path = base / name
        if path.exists():
            return path
    pytest.skip(f"reference file {name!r} not found beside the repository")


def load_json(name: str) -> dict:
    """Load a JSON reference file (skip when absent)."""
    with open(reference_path(name)) as fh:
        return json.load(fh)

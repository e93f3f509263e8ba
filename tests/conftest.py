"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _ijw_xsd_dir() -> Path:
    configured = os.environ.get("PILOTMONITOR_IJW_XSD_DIR")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "reference" / "ijw-3.2" / "xsd"


@pytest.fixture(scope="session")
def ijw_xsd_dir() -> Path:
    """Directory with the iJw 3.2 XSDs (basisschema.xsd, JW301.xsd, ...).

    The schemas are public reference material kept outside the repository; tests that
    need them skip with a clear reason where they are absent.
    """
    path = _ijw_xsd_dir()
    if not (path / "basisschema.xsd").is_file():
        pytest.skip(f"iJw 3.2 XSDs not found at {path} (set PILOTMONITOR_IJW_XSD_DIR)")
    return path

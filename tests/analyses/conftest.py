"""Shared data for the analyses tests."""

from __future__ import annotations

import importlib.util
import os

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def prop99() -> pd.DataFrame:
    """The California Proposition 99 panel (per-capita cigarette sales, 39 states,
    1970-2000; Abadie, Diamond & Hainmueller 2010) as shipped with ``synthdid-py``
    (``synthdid/data/california_prop99.csv``, dev extra). Only the data file is read."""
    spec = importlib.util.find_spec("synthdid")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("synthdid-py (ships the Proposition 99 data) not installed")
    path = os.path.join(spec.submodule_search_locations[0], "data", "california_prop99.csv")
    if not os.path.exists(path):
        pytest.skip("california_prop99.csv not found in the installed synthdid package")
    return pd.read_csv(path, sep=";")

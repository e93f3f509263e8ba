"""Fixtures for the disclosure-control tests: rules, a release in a temp dir, microdata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pilotmonitor.disclosure import DisclosureRules, Release
from pilotmonitor.ingest.pseudonymise import Pseudonymiser, PseudonymKey


@pytest.fixture
def rules() -> DisclosureRules:
    return DisclosureRules.from_acro()


@pytest.fixture
def release(tmp_path, rules) -> Release:
    return Release("test-release", out_dir=tmp_path / "release", rules=rules)


@pytest.fixture(scope="session")
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(PseudonymKey("k1", bytes(range(32)), "test"))


def micro_costs(
    cells: dict[tuple[str, int], list[float]], lines_per_pupil: int = 1
) -> pd.DataFrame:
    """Microdata: per (group, year) cell one pupil per listed amount, each amount
    spread over `lines_per_pupil` invoice lines."""
    rows = []
    for (group, year), amounts in cells.items():
        for i, amount in enumerate(amounts):
            for _ in range(lines_per_pupil):
                rows.append(
                    {
                        "group": group,
                        "year": year,
                        "pupil_pseudonym": f"{group}-{year}-{i}",
                        "cost_eur": amount / lines_per_pupil,
                    }
                )
    return pd.DataFrame(rows)


def spread(n: int, low: float = 100.0, high: float = 200.0, seed: int = 0) -> list[float]:
    """n amounts with no dominant contributor."""
    return list(np.random.default_rng(seed).uniform(low, high, n).round(2))

"""Synthetic citizen and education numbers drawn from a region's slice of prefixes: as
many as asked, distinct, valid (python-stdnum's BSN check, the education number's own
remainder), inside the slice; a slice that cannot hold them is refused."""

from __future__ import annotations

import numpy as np
import pytest
from stdnum.nl import bsn

from pilotmonitor.synth import identities


@pytest.mark.parametrize("remainder", [0, 5])
@pytest.mark.parametrize("n", [0, 1, 1_000, 8_000])  # 8,000 of a 10,000-prefix slice: nearly all
def test_drawn_numbers_are_distinct_valid_and_in_the_slice(n, remainder):
    low, high = 91_230_000, 91_240_000
    numbers = identities.draw_from_prefixes(n, (low, high), remainder, np.random.default_rng(3))
    assert len(numbers) == n and len(set(numbers.tolist())) == n
    assert ((numbers // 10 >= low) & (numbers // 10 < high)).all()
    assert (identities.weighted_sum_mod11(numbers) == remainder).all()
    if remainder == 0:
        assert all(bsn.is_valid(f"{x:09d}") for x in numbers.tolist())


def test_the_same_seed_draws_the_same_numbers():
    draw = lambda seed: identities.draw_from_prefixes(  # noqa: E731
        500, (95_000_000, 95_100_000), 0, np.random.default_rng(seed)
    )
    assert (draw(1) == draw(1)).all() and not (draw(1) == draw(2)).all()


def test_a_slice_too_small_is_refused():
    with pytest.raises(ValueError, match="prefix range 91230000-91230100 holds"):
        identities.draw_from_prefixes(100, (91_230_000, 91_230_100), 0, np.random.default_rng(3))

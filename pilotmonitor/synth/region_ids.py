"""Where a region's numbers start, so regions generated apart never share one.

A large scenario is generated region by region, possibly in parallel; trajectory ids,
declaration-line references, ground-truth pupil ids and citizen numbers must still be
unique over the whole country. Each region gets fixed strides of ids and a disjoint range
of number prefixes. The demo is one region with the demo's own draws (``WHOLE_WORLD``).
"""

from __future__ import annotations

from dataclasses import dataclass

# A region of 40k pupils has about 100k pupils over ten years and 20k trajectories;
# the strides leave room for many times that.
TRAJECTORY_STRIDE = 2_000_000
REFERENCE_STRIDE = 20_000_000
PUPIL_STRIDE = 10_000_000
PLANTED_STRIDE = 100_000


@dataclass(frozen=True)
class RegionIds:
    index: int
    bsn_prefixes: tuple[int, int] | None  # eight-digit prefixes [low, high); None: the demo's draw
    education_prefixes: tuple[int, int] | None

    @property
    def trajectory_offset(self) -> int:
        return self.index * TRAJECTORY_STRIDE

    @property
    def reference_offset(self) -> int:
        return self.index * REFERENCE_STRIDE

    @property
    def pupil_offset(self) -> int:
        return self.index * PUPIL_STRIDE

    @property
    def planted_offset(self) -> int:
        return self.index * PLANTED_STRIDE


WHOLE_WORLD = RegionIds(0, None, None)

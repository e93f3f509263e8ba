"""Estimators for evaluating school-level pilots with few treated clusters.

Every estimator works on a plain :class:`pandas.DataFrame` and returns an
:class:`~analyses.results.EffectResult`. See ``analyses/README.md``.
"""

from . import power  # module: analyses.power.power(effect, se) is the power function
from .did import did_2x2, twfe, twfe_poisson_refit
from .inference import (
    randomization_inference,
    twfe_randomization_inference,
    wild_cluster_bootstrap,
    wild_cluster_bootstrap_wald,
)
from .multiple_testing import adjust_pvalues, benjamini_hochberg, holm
from .power import (
    PilotMDE,
    design_effect,
    mde_difference,
    mde_rate_ratio,
    pilot_mde,
    power_difference,
    power_rate_ratio,
    power_schools,
    power_ttest,
    sample_size_ttest,
    schools_needed,
)
from .results import EffectResult

__all__ = [
    "EffectResult",
    "did_2x2",
    "twfe",
    "twfe_poisson_refit",
    "wild_cluster_bootstrap",
    "randomization_inference",
    "wild_cluster_bootstrap_wald",
    "twfe_randomization_inference",
    "adjust_pvalues",
    "holm",
    "benjamini_hochberg",
    "power",
    "design_effect",
    "mde_difference",
    "mde_rate_ratio",
    "power_difference",
    "power_rate_ratio",
    "power_ttest",
    "sample_size_ttest",
    "schools_needed",
    "power_schools",
    "pilot_mde",
    "PilotMDE",
]
from .binary import binary_did
from .costs import CostEffectivenessResult, cost_effectiveness
from .count import count_regression
from .event_study import EventStudyResult, event_study
from .its import ITSResult, interrupted_time_series
from .staggered import AggregatedResult, StaggeredResult, callaway_santanna
from .synthetic_control import synthetic_control
from .synthetic_did import synthetic_did

__all__ += [
    "event_study",
    "EventStudyResult",
    "callaway_santanna",
    "StaggeredResult",
    "AggregatedResult",
    "interrupted_time_series",
    "ITSResult",
    "synthetic_control",
    "synthetic_did",
    "binary_did",
]
__all__ += ["cost_effectiveness", "CostEffectivenessResult"]
__all__ += ["count_regression"]

"""Disclosure thresholds, read from ACRO's default configuration.

ACRO ships its risk appetite as ``acro/default.yaml``. We read that file directly
(not through ``acro.ACRO()``) so that looking up thresholds neither configures the
root logger nor opens an ACRO session. When ACRO is not installed, or a key is
missing, the documented fallback constants below apply; they equal ACRO 1.0.x's
defaults and the rules in DOMAIN.md, and the log records which source was used.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

# Fallbacks = ACRO 1.0.x default.yaml = DOMAIN.md "Statistical disclosure control".
FALLBACK = {
    "safe_threshold": 10,  # minimum number of contributing units per cell
    "safe_dof_threshold": 10,  # minimum residual degrees of freedom of a model
    "safe_nk_n": 2,  # N-K dominance: the largest n contributors ...
    "safe_nk_k": 0.90,  # ... may hold less than k of the cell total
    "safe_pratio_p": 0.10,  # p% rule: the rest must be at least p of the largest
    "zeros_are_disclosive": True,  # a zero count is suppressed like any small count
}


def acro_config_path() -> Path | None:
    """Where ACRO's default.yaml lives, without importing acro."""
    spec = importlib.util.find_spec("acro")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default.yaml"
    return path if path.is_file() else None


@dataclass(frozen=True)
class DisclosureRules:
    """Thresholds of one release; `source` says where they came from."""

    min_count: int = FALLBACK["safe_threshold"]
    min_df_resid: int = FALLBACK["safe_dof_threshold"]
    nk_n: int = FALLBACK["safe_nk_n"]
    nk_k: float = FALLBACK["safe_nk_k"]
    p_ratio: float = FALLBACK["safe_pratio_p"]
    zeros_are_disclosive: bool = FALLBACK["zeros_are_disclosive"]
    blocked_extensions: tuple[str, ...] = (".svg", ".gph")  # figure file types ACRO refuses
    acro_crosscheck: bool = True  # also run ACRO's own checks on magnitude tables
    source: str = "fallback constants (ACRO 1.0.x defaults)"

    @classmethod
    def from_acro(cls, path: Path | None = None) -> DisclosureRules:
        """Thresholds from ACRO's config (or `path`); fallback constants for missing keys."""
        path = path or acro_config_path()
        if path is None:
            return cls()
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        missing = sorted(k for k in FALLBACK if k not in config)
        values = {**FALLBACK, **{k: config[k] for k in FALLBACK if k in config}}
        source = f"ACRO config {path}" + (
            f" (fallback for {', '.join(missing)})" if missing else ""
        )
        return cls(
            min_count=int(values["safe_threshold"]),
            min_df_resid=int(values["safe_dof_threshold"]),
            nk_n=int(values["safe_nk_n"]),
            nk_k=float(values["safe_nk_k"]),
            p_ratio=float(values["safe_pratio_p"]),
            zeros_are_disclosive=bool(values["zeros_are_disclosive"]),
            blocked_extensions=tuple(config.get("blocked_extensions") or cls.blocked_extensions),
            source=source,
        )

    def with_(self, **changes) -> DisclosureRules:
        return replace(self, **changes)

    def as_acro_config(self) -> dict:
        """The same thresholds under ACRO's key names (to configure an ACRO session)."""
        return {
            "safe_threshold": self.min_count,
            "safe_dof_threshold": self.min_df_resid,
            "safe_nk_n": self.nk_n,
            "safe_nk_k": self.nk_k,
            "safe_pratio_p": self.p_ratio,
            "zeros_are_disclosive": self.zeros_are_disclosive,
        }

    def to_dict(self) -> dict:
        return asdict(self)

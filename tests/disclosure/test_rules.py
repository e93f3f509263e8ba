"""Thresholds come from ACRO's config, with documented fallbacks."""

from pathlib import Path

from pilotmonitor.disclosure import DisclosureRules
from pilotmonitor.disclosure.rules import acro_config_path


def test_thresholds_are_read_from_acro_default_config():
    rules = DisclosureRules.from_acro()
    assert acro_config_path() is not None
    assert "ACRO config" in rules.source and "default.yaml" in rules.source
    assert (rules.min_count, rules.min_df_resid, rules.nk_n, rules.nk_k, rules.p_ratio) == (
        10,
        10,
        2,
        0.9,
        0.1,
    )
    assert rules.zeros_are_disclosive is True
    assert ".svg" in rules.blocked_extensions


def test_a_config_file_is_honoured_and_missing_keys_fall_back(tmp_path: Path):
    config = tmp_path / "strict.yaml"
    config.write_text("safe_threshold: 20\nzeros_are_disclosive: false\n", encoding="utf-8")
    rules = DisclosureRules.from_acro(config)
    assert rules.min_count == 20 and rules.zeros_are_disclosive is False
    assert rules.nk_k == 0.9 and rules.min_df_resid == 10
    assert "fallback for" in rules.source and "safe_nk_k" in rules.source

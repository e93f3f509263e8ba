"""Fixtures shared by the health tests."""

import pytest


@pytest.fixture()
def cli_env(tmp_path, monkeypatch):
    """The data directory the CLI sees (created by the test), with a Dagster home that holds no
    instance."""
    data = tmp_path / "data"
    monkeypatch.setenv("PILOTMONITOR_DATA_DIR", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no_dagster_home"))
    return data

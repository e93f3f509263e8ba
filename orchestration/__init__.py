"""The Dagster code location of Pilotmonitor: one Definitions object in definitions.py."""

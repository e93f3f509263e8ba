"""Data quality and pipeline health, the data steward's view: freshness per source and
sender against the expected cadence (cadence.yml), the status with its publication
verdict (`pilotmonitor status`) and the static pipeline-health page (`pilotmonitor health`,
Dagster asset `pipeline_health`)."""

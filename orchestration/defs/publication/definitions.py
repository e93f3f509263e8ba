"""The publication group: the gate that copies the marts to schema published only when
no blocking check failed, and the policymaker reports through disclosure control."""

import dagster as dg

from orchestration.defs.publication.assets import published_marts
from orchestration.defs.publication.reports import pilot_reports

defs = dg.Definitions(assets=[published_marts, pilot_reports])

"""Publication: `published_marts` copies the marts to schema `published` (what analyses
and the report read) only when the latest evaluation of every blocking-severity check
passed. Otherwise it keeps the previous publication, logs the reasons and fails, so the
run reports publication as blocked and the published results show as stale.
"""

import dagster as dg
from pydantic import Field

from orchestration.defs.warehouse.assets import warehouse_dbt_assets
from orchestration.resources import WarehouseResource
from pilotmonitor.publication.check_results import (
    checks_from_instance,
    defined_in_run,
    only_defined,
)
from pilotmonitor.publication.gate import IdentifierInMartsError, blocking_failures, publish

GROUP = "publication"
MART_KEYS = [spec.key for spec in warehouse_dbt_assets.specs if spec.key.path[0] == "marts"]


class PublicationConfig(dg.Config):
    verify_published: bool = Field(
        default=False,
        description=(
            "Hash the marts and the published tables in full instead of trusting the gate's "
            "record and dbt's build stamps: after a mart or a published table was edited by "
            "hand (not by dbt), this run publishes what the marts hold."
        ),
    )


@dg.asset(group_name=GROUP, kinds={"python", "duckdb"}, deps=MART_KEYS)
def published_marts(
    context: dg.AssetExecutionContext, config: PublicationConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The marts as published for analyses: copied only when no blocking check failed."""
    # a check the definitions no longer hold (a dbt test removed) cannot block today's data
    checks = only_defined(checks_from_instance(context.instance), defined_in_run(context))
    failures = blocking_failures(checks)
    with warehouse.get_connection() as conn:
        try:
            state = publish(conn, context.run.run_id, failures, verify=config.verify_published)
        except IdentifierInMartsError as exc:
            raise dg.Failure(
                description=f"{exc}; the previous results stay published and are marked stale"
            ) from None
    if failures:
        listed = "\n".join(f"- {f}" for f in failures[:20])
        raise dg.Failure(
            description=(
                f"publication blocked by {len(failures)} failed check(s); the previous results "
                "stay published and are marked stale.\n"
                f"{listed}"
            ),
            metadata={"publication": state.summary()},
        )
    context.log.info(state.summary())
    metadata = {"publication": state.summary(), "rows": state.rows or 0}
    if state.run_id != context.run.run_id:
        metadata["reused"] = (
            f"the marts equal the publication of run {str(state.run_id)[:8]}: nothing copied"
        )
    return dg.MaterializeResult(metadata=metadata)

"""Analysis: `effect_estimates` runs every pilot's pre-registered analysis plan on the
published marts and writes `results.effect_estimates` plus a JSON artifact per run
(`<data dir>/results/<run_id>.json`).

It depends on `published_marts`, so it runs only after a successful publication: when
a blocking check fails, publication fails, this asset is skipped and the previous
estimates stay in place.
"""

import dagster as dg

from orchestration.defs.publication.assets import published_marts
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.evaluation.sample import read_published
from pilotmonitor.evaluation.spec import effective_plan
from pilotmonitor.evaluation.store import (
    compute_effect_estimates,
    reusable_estimates,
    write_artifact,
    write_effect_estimates,
)
from pilotmonitor.pilots import PilotConfigError, published_registry

GROUP = "analysis"


@dg.asset(group_name=GROUP, kinds={"python", "duckdb"}, deps=[published_marts])
def effect_estimates(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    pilotmonitor: PilotmonitorSettings,
) -> dg.MaterializeResult:
    """Every pilot's pre-registered plan (primary IRR with few-cluster p-values, secondary
    outcomes, robustness, pre-trend test, multiple-testing correction) on published.*."""
    settings = pilotmonitor.settings()
    with warehouse.get_connection() as conn:
        try:  # the registry the published marts were built with
            pilots = published_registry(conn)
        except PilotConfigError as exc:
            raise dg.Failure(str(exc)) from exc
        inputs = read_published(conn)
        # A monthly run without new published data, plans or code costs nothing here.
        table, why = reusable_estimates(conn, pilots, inputs)
        reused = table is not None
        if reused:
            context.log.info(f"estimates reused ({why})")
        else:
            context.log.info(f"estimates recomputed ({why})")
            table = compute_effect_estimates(
                conn,
                pilots,
                run_id=context.run.run_id,
                progress=context.log.info,
                inputs=inputs,
                workers=settings.read_workers,
            )
            write_effect_estimates(conn, table, pilots)
    path = write_artifact(
        table, settings.data_dir / "results", plans={p.id: effective_plan(p) for p in pilots}
    )
    primary = table[table["role"] == "primary"]
    lines = [
        "| pilot | estimator | estimate | 95% CI | p (CR1) | p (wild bootstrap) | p "
        "(randomization) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in primary.itertuples():
        if not r.estimable:
            lines.append(
                f"| {r.pilot_id} | {r.estimator} | not estimable: {r.not_estimable_reason} | | | "
                "| |"
            )
            continue
        lines.append(
            f"| {r.pilot_id} | {r.estimator} | {r.estimate:.3f} | [{r.ci_lower:.3f}, "
            f"{r.ci_upper:.3f}] | {r.p_value:.3f} | {r.p_value_wild_bootstrap:.3f} | "
            f"{r.p_value_randomization:.3f} |"
        )
    failed = int((~table["estimable"].astype(bool)).sum())
    if failed:
        context.log.warning(
            f"{failed} estimate(s) not estimable; see the not_estimable_reason column"
        )
    return dg.MaterializeResult(
        metadata={
            "rows": len(table),
            "not_estimable": failed,
            "artifact": str(path),
            **({"reused": why} if reused else {}),
            "input_hash": str(table["input_hash"].iloc[0]) if len(table) else "",
            "primary": dg.MetadataValue.md("\n".join(lines)),
        }
    )

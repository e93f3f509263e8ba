"""Publication: `pilot_reports` writes one policymaker report per pilot (Dutch and English,
HTML and PDF) from the published marts and the latest effect estimates, with every table
and chart through disclosure control and a disclosure log beside each report
(`<data dir>/reports/<pilot id>/`).

It depends on `effect_estimates`, which depends on `published_marts`: when a blocking
check fails, nothing downstream runs and the previous reports stay as they were.
"""

import dagster as dg

from orchestration.defs.analysis.assets import effect_estimates
from orchestration.resources import PilotmonitorSettings, WarehouseResource
from pilotmonitor.pilots import published_registry
from pilotmonitor.report import build_reports

GROUP = "publication"


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html", "pdf"},
    deps=[effect_estimates],
    check_specs=[
        dg.AssetCheckSpec(
            "disclosure_control",
            asset="pilot_reports",
            description=(
                "No output of any report failed disclosure control (failed outputs are withheld "
                "from the page; an output checker reads disclosure_log.json)."
            ),
        )
    ],
)
def pilot_reports(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    pilotmonitor: PilotmonitorSettings,
) -> dg.MaterializeResult:
    """Per pilot: report.nl.html / report.en.html (+ PDF) and disclosure_log.json."""
    settings = pilotmonitor.settings()
    synthetic = (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file()
    with warehouse.get_connection() as conn:
        # the pilots the published marts were built with
        pilot_ids = [p.id for p in published_registry(conn)]
        files = build_reports(
            conn,
            pilot_ids,
            settings.data_dir / "reports",
            synthetic=synthetic,
            run_id=context.run.run_id,
        )
    lines = ["| pilot | result | disclosure | Dutch | English | PDF |", "|---|---|---|---|---|---|"]
    for f in files:
        if f.error:
            lines.append(f"| {f.pilot_id} | no report: {f.error} | | | | |")
            context.log.warning(f"{f.pilot_id}: no report: {f.error}")
            continue
        lines.append(
            f"| {f.pilot_id} | {f.result} | {f.disclosure_status} | {f.html['nl']} | "
            f"{f.html['en']} | {'yes' if len(f.pdf) == 2 else 'no: ' + (f.pdf_error or '')} |"
        )
        if f.pdf_error:
            context.log.warning(f"{f.pilot_id}: {f.pdf_error}")
    failed = [f.pilot_id for f in files if f.disclosure_status == "fail"]
    if failed:
        context.log.warning(
            f"disclosure control withheld parts of the report(s) of {', '.join(failed)}; see "
            "their disclosure_log.json"
        )
    statuses = {f.pilot_id: f.disclosure_status for f in files}
    check = dg.AssetCheckResult(
        check_name="disclosure_control",
        passed=not failed,
        # WARN: the failed outputs are already withheld from the pages; an ERROR here would
        # also block the next publication of the marts (the gate blocks on every ERROR check).
        severity=dg.AssetCheckSeverity.WARN,
        description=("outputs withheld in: " + ", ".join(failed))
        if failed
        else "every report passed or needs review only",
        metadata={"status_per_pilot": dg.MetadataValue.json(statuses)},
    )
    reused = [f.pilot_id for f in files if f.reused]
    if reused:
        context.log.info(f"reports kept (inputs, code and packages unchanged): {', '.join(reused)}")
    return dg.MaterializeResult(
        check_results=[check],
        metadata={
            **({"reused": "every report unchanged"} if files and len(reused) == len(files) else {}),
            "reports_reused": len(reused),
            "reports": dg.MetadataValue.md("\n".join(lines)),
            "directory": str(settings.data_dir / "reports"),
            "synthetic": synthetic,
            "pdf_missing": sum(len(f.pdf) < 2 for f in files),
        },
    )

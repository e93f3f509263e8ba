"""The `pilotmonitor` command line.

pilotmonitor synth | run | docs | pull | rekey | ui | status | health | report | round |
reproduce | plan | export; e.g. ``pilotmonitor run [--demo]`` materializes every asset
in-process (ingestion, then dbt build). ``status`` and ``health`` exit 0 ready, 1 blocked,
2 warehouse unreadable, 3 latest run interrupted.

Design notes: docs/design/cli.md#pilotmonitorclipy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Set
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pilotmonitor.settings import Settings
from pilotmonitor.warehouse_access import (
    WarehouseConnectionError,
    connect,
    shared_attachments,
    warehouse,
)

app = typer.Typer(
    help="Pilotmonitor: evaluate school-based youth support pilots.",
    no_args_is_help=True,
    add_completion=False,
)
# soft wrap: a path or message longer than the terminal stays on one line, so it can be
# copied (tables are still laid out to the terminal's width)
console = Console(soft_wrap=True)


def _dagster_home(settings: Settings) -> Path:
    """Run history lives beside the warehouse, so `ui` shows the runs of `run`."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # written when missing, or when it is the earlier default (telemetry only); a home
    # configured by hand is left alone
    if not config.exists() or config.read_text(encoding="utf-8") == _EARLIER_DAGSTER_YAML:
        from orchestration.event_log_storage import DAGSTER_YAML

        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


_EARLIER_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


@app.command()
def synth(
    scale: Annotated[
        float, typer.Option(help="Pupils per school relative to the scenario (1.0 = demo size).")
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; default: the scenario's seed.")
    ] = None,
    scenario: Annotated[
        str, typer.Option(help="Scenario name in the scenarios directory (demo, national).")
    ] = "demo",
    provinces: Annotated[
        str | None,
        typer.Option(help="Only these provinces' regions of a regional scenario, e.g. GR,FR,DR."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Regions generated at the same time (regional scenarios).")
    ] = 2,
    truth_only: Annotated[
        bool,
        typer.Option(
            help="Only the ground truth, no delivery file (power studies; the same truth).",
        ),
    ] = False,
) -> None:
    """Write a SYNTHETIC landing area (deliveries in their real formats) and its ground truth."""
    from pilotmonitor.dbt_project import finish_background_parse, start_parse_if_stale
    from pilotmonitor.synth.generate import generate

    settings = Settings.from_env()
    scenario_path = settings.scenarios_dir / f"{scenario}.yml"
    if not scenario_path.is_file():
        raise typer.BadParameter(f"no scenario file {scenario_path}", param_hint="--scenario")
    steps = [
        "simulating pupils and enrolments",
        "simulating referrals, absence and youth care",
        "writing school exports",
        "writing iJw message archives",
        "writing public data, pilot deliveries and surveys",
        "writing ground truth",
    ]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("generating SYNTHETIC data", total=len(steps))

        def advance(message: str) -> None:
            if (
                message not in steps
            ):  # a region finished (regional scenarios): keep a line per region
                progress.console.print(message)
                return
            progress.update(task, completed=steps.index(message), description=message)

        chosen = [p.strip().upper() for p in provinces.split(",")] if provinces else None
        # a run usually comes next (make demo): a stale dbt manifest, which it would wait for,
        # is parsed now on the core the simulation leaves idle (about 4 s on a fresh clone)
        start_parse_if_stale()
        try:
            result = generate(
                settings.data_dir,
                scenario_path,
                settings.pilots_dir,
                scale=scale,
                seed=seed,
                progress=advance,
                provinces=chosen,
                workers=workers,
                truth_only=truth_only,
            )
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        finally:
            finish_background_parse()
        progress.update(task, completed=len(steps), description="done")
    table = Table(
        title=f"SYNTHETIC scenario '{scenario}' (scale {scale}) in {result.seconds:.1f} s"
    )
    table.add_column("what")
    table.add_column("rows", justify="right")
    for name, count in result.row_counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("files delivered", f"{result.files:,}")
    table.add_row("planted bad records", f"{result.planted_defects:,}")
    console.print(table)
    if truth_only:
        console.print(f"ground truth only (no deliveries): {result.ground_truth_dir}")
    else:
        console.print(
            f"landing area: {result.landing_dir}\nground truth: {result.ground_truth_dir}"
        )


DEMO_HELP = (
    "Demo mode: create/use a local pseudonymisation key in the data directory (synthetic data "
    "only)."
)


def _set_demo(demo: bool) -> None:
    if demo:
        os.environ["PILOTMONITOR_DEMO"] = "1"
        console.print(
            "[yellow]DEMO MODE[/yellow]: pseudonyms use a local key in the data directory; never "
            "use this for real data."
        )


EXIT_RUN_IN_PROGRESS = 2


@app.command()
def run(
    demo: Annotated[bool, typer.Option("--demo", help=DEMO_HELP)] = False,
    skip_analyses: Annotated[
        bool,
        typer.Option(
            "--skip-analyses",
            help="Ingest, check, build and publish the warehouse only: no effect estimates, "
            "reports or evaluation rounds (the next run without this option makes them).",
        ),
    ] = False,
    verify_publication: Annotated[
        bool,
        typer.Option(
            "--verify-publication",
            help="Hash the marts and the published tables in full instead of trusting the "
            "publication gate's record and dbt's build stamps: after a mart or a published table "
            "was edited by hand (not by dbt), this run publishes what the marts hold.",
        ),
    ] = False,
) -> None:
    """Materialize the whole asset graph in-process (the same graph the UI shows):
    landing inventory, pilot registry, ingestion, then `dbt build` of the warehouse.
    One run per data directory: a second one stops at once (exit 2), before any work."""
    from pilotmonitor.run_lock import RunInProgress, RunLock, lock_path

    settings = Settings.from_env()
    _refuse_what_cannot_run(settings, demo)
    try:
        with RunLock(lock_path(settings.data_dir)) as lock:
            _run_locked(settings, demo, lock.path, skip_analyses, verify_publication)
    except (RunInProgress, WarehouseConnectionError) as exc:
        Console(stderr=True, width=160).print(f"[red]not started[/red]: {exc}", soft_wrap=True)
        raise typer.Exit(code=EXIT_RUN_IN_PROGRESS) from None


def _refuse_what_cannot_run(settings: Settings, demo: bool) -> None:
    """Every ingestion step needs the landing area and, outside demo mode, the
    pseudonymisation key: without them the run stops here, before any step, with the
    reason (exit 1), instead of failing every ingestion step."""
    from pilotmonitor.ingest.pseudonymise import PseudonymKeyError, load_key

    reason = settings.missing_landing_area()
    in_demo_mode = demo or os.environ.get("PILOTMONITOR_DEMO", "") == "1"  # a local key
    if reason is None and not in_demo_mode:
        try:
            load_key(settings.data_dir)
        except PseudonymKeyError as exc:
            reason = str(exc)
    if reason:
        console.print(f"[red]not started[/red]: {reason}", soft_wrap=True)
        raise typer.Exit(code=1)


def _run_locked(
    settings: Settings,
    demo: bool,
    lock: Path,
    skip_analyses: bool = False,
    verify_publication: bool = False,
) -> None:
    from pilotmonitor.dbt_project import start_parse_if_stale

    start_parse_if_stale()  # a stale manifest is parsed while Dagster and the assets load
    from pilotmonitor import run_helpers

    # started now: their imports overlap the run's start-up
    with run_helpers.started(settings.read_workers):
        _materialize_and_report(settings, demo, lock, skip_analyses, verify_publication)
        if demo and not skip_analyses:
            _demo_rounds(settings)


def _materialize_and_report(
    settings: Settings, demo: bool, lock: Path, skip_analyses: bool, verify_publication: bool
) -> None:
    import dagster as dg

    _dagster_home(settings)
    _set_demo(demo)
    from orchestration.definitions import ANALYSIS_ASSETS, defs
    from pilotmonitor.health.interrupted import RUN_LOCK_TAG
    from pilotmonitor.run_progress import stage_progress

    log_path = settings.data_dir / "logs" / "run.log"
    with stage_progress(console, log_path), shared_attachments():
        # the tag lets `status` tell a run killed outright (lock free, record still STARTED) from
        # one going on
        result = dg.materialize(
            list(defs.assets or []),
            resources=defs.resources,
            instance=dg.DagsterInstance.get(),
            raise_on_error=False,
            tags={RUN_LOCK_TAG: str(lock)},
            selection=dg.AssetSelection.all() - ANALYSIS_ASSETS if skip_analyses else None,
            run_config=(
                {"ops": {"published_marts": {"config": {"verify_published": True}}}}
                if verify_publication
                else None
            ),
        )
    for event in result.get_step_failure_events():  # the reasons, which the log file holds in full
        error = event.step_failure_data.error
        while error is not None and error.cause is not None and "Failure" not in error.cls_name:
            error = error.cause
        message = (error.message if error is not None else "").strip()
        console.print(f"[red]{event.step_key} failed[/red]: {message}", soft_wrap=True)
    left_out = ANALYSIS_ASSETS.resolve(defs.resolve_asset_graph()) if skip_analyses else set()
    table, failed = run_summary(defs, result, left_out)
    console.print(table)
    console.print(f"warehouse: {warehouse(settings.warehouse_path).describe()}")
    _health_page_after_run(settings, result)
    _print_reports(settings)
    if not result.success or failed:
        raise typer.Exit(code=1)


def _demo_rounds(settings: Settings) -> None:
    """The demo scenario's evaluation rounds (pilotmonitor/rounds/demo.py), created when
    missing; the caller holds the run lock and the run's connections are closed."""
    from pilotmonitor.report import ChartWorker
    from pilotmonitor.report.browser import PdfPrinter
    from pilotmonitor.rounds.demo import planned_rounds
    from pilotmonitor.rounds.registry import RoundError, rounds

    planned = planned_rounds(settings.data_dir, settings.scenarios_dir)
    if not planned:
        return
    with (
        connect(settings.warehouse_path) as conn,
        PdfPrinter() as printer,
        ChartWorker(wanted=True) as chart_worker,
    ):
        for p in planned:
            if rounds(conn, name=p.name):
                console.print(
                    f"evaluation round {p.name} exists (rounds are immutable): kept; pilotmonitor "
                    "round list"
                )
                continue
            console.print(
                f"evaluation round {p.name} ({p.pilot}, as of {p.as_of}) (SYNTHETIC DATA):"
            )
            charts = chart_worker.pool()  # the run's helpers (run_helpers): warm by now
            try:
                create_rounds(
                    settings,
                    conn,
                    p.name,
                    p.as_of,
                    p.pilot,
                    pdf=True,
                    printer=printer,
                    charts=charts,
                )
            except RoundError as exc:
                console.print(
                    f"[yellow]evaluation round {p.name} not created[/yellow]: {exc}", soft_wrap=True
                )


def _health_page_after_run(settings: Settings, result) -> None:
    """The `pipeline_health` asset runs last and writes the page from the run's final
    state; when something upstream failed, Dagster skipped it, so write the page here,
    now that the run has finished (its unreached checks show as not run)."""
    import dagster as dg

    if dg.AssetKey("pipeline_health") in {
        event.asset_key for event in result.get_asset_materialization_events()
    }:
        return
    from pilotmonitor.health.page import write_page_after_run
    from pilotmonitor.health.status import WarehouseUnreadable

    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    as_of = _parse_as_of(os.environ.get("PILOTMONITOR_AS_OF"))
    try:
        page = write_page_after_run(
            settings.warehouse_path, settings.data_dir, settings.landing_dir, home, as_of
        )
    except WarehouseUnreadable as exc:
        console.print(f"[yellow]pipeline-health page not written[/yellow]: {exc}", soft_wrap=True)
        return
    console.print(f"pipeline health: {page}", soft_wrap=True)


def _print_reports(settings: Settings) -> None:
    """Where the policymaker reports of this data directory are (after a run)."""
    reports = sorted((settings.data_dir / "reports").glob("*/report.nl.html"))
    if not reports:
        return
    synthetic = (
        " (SYNTHETIC DATA)" if (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file() else ""
    )
    console.print(f"policymaker reports{synthetic}, Dutch (English and PDF beside them):")
    for path in reports:
        pdf = path.with_suffix(".pdf")
        console.print(
            f"  {path.parent.name}: {path}"
            + ("" if pdf.is_file() else "  [yellow](no PDF)[/yellow]"),
            soft_wrap=True,
        )


def run_summary(defs, result, left_out: Set = frozenset()) -> tuple[Table, list]:
    """The summary table of a run and its failed (error-severity) checks.

    Python assets get a row each; dbt models and seeds are counted per group (the
    warehouse has dozens); checks are counted per kind (the assets' own checks, dbt
    tests), with every failing check named. A failing check of warn severity is shown
    but does not fail the run. An asset whose materialization says it was ``reused``
    (nothing it depends on changed) is shown as unchanged (the reason is in its metadata).
    Assets ``left_out`` of the run on purpose (``--skip-analyses``) are shown as such, and
    their checks are not counted as not run.
    """
    import dagster as dg

    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    is_dbt = {key: "dbt" in (spec.kinds or set()) for key, spec in specs.items()}
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    table = Table(title="pipeline run")
    table.add_column("asset")
    table.add_column("result")
    reused = {}
    for event in result.get_asset_materialization_events():
        note = event.materialization.metadata.get("reused")
        if note is not None:
            reused[event.asset_key] = str(getattr(note, "value", note))
        if not is_dbt.get(event.asset_key, False):
            table.add_row(
                event.asset_key.to_user_string(),
                "unchanged" if event.asset_key in reused else "materialized",
            )
    for key in sorted(left_out, key=lambda k: k.to_user_string()):
        table.add_row(key.to_user_string(), "not run (--skip-analyses)")
    dbt_groups: dict[str, list] = {}
    for key, spec in specs.items():
        if is_dbt[key]:
            dbt_groups.setdefault(spec.group_name or "default", []).append(key)
    for group, keys in dbt_groups.items():
        done = sum(key in materialized for key in keys)
        colour = "" if done == len(keys) else "[red]"
        kept = sum(key in reused for key in keys)
        note = " (unchanged)" if kept and kept == done else f" ({kept} unchanged)" if kept else ""
        table.add_row(
            f"{group} (dbt, {len(keys)} assets)",
            f"{colour}{done} of {len(keys)} materialized{note}",
        )

    evaluations = result.get_asset_check_evaluations()
    defined = [
        k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key not in left_out
    ]
    failed = [e for e in evaluations if not e.passed and e.severity != dg.AssetCheckSeverity.WARN]
    warned = [e for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.WARN]
    for evaluation in failed:
        table.add_row(
            f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name}",
            "[red]check failed[/red]",
        )
    for evaluation in warned:
        table.add_row(
            f"{evaluation.asset_key.to_user_string()} / {evaluation.check_name}",
            "[yellow]check warned[/yellow]",
        )
    for label, dbt in (("asset checks", False), ("dbt tests (asset checks)", True)):
        kind_defined = [k for k in defined if is_dbt.get(k.asset_key, False) == dbt]
        kind_evaluated = [e for e in evaluations if is_dbt.get(e.asset_key, False) == dbt]
        if not kind_defined and not kind_evaluated:
            continue
        passed = sum(e.passed for e in kind_evaluated)
        text = f"{passed} of {len(kind_defined)} passed"
        not_run = len(kind_defined) - len({e.asset_check_key for e in kind_evaluated})
        if not_run > 0:
            text += f" ([yellow]{not_run} not run: upstream blocked or failed[/yellow])"
        table.add_row(label, text)
    for event in result.all_events:
        if event.is_step_failure:
            message = event.event_specific_data.error.message.strip()  # type: ignore[union-attr]
            lines = message.splitlines()
            if len(lines) > 20:
                message = "\n".join(
                    [*lines[:20], f"... ({len(lines) - 20} more lines in the run log)"]
                )
            table.add_row(event.step_key or "?", f"[red]failed[/red]: {message}")
    return table, failed


@app.command()
def docs(
    serve: Annotated[
        bool,
        typer.Option(
            "--serve", help="Serve the documentation site after generating it (dbt docs serve)."
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="Port of `dbt docs serve`.")] = 8080,
) -> None:
    """Generate the dbt documentation of the warehouse (dbt docs generate, with the catalog
    read from the warehouse) and print where index.html is; --serve also serves it."""
    from pilotmonitor.dbt_project import (
        DBT_PROJECT_DIR,
        TARGET_DIR,
        DbtNotFoundError,
        dbt_env,
        dbt_executable,
    )

    settings = Settings.from_env()
    if not warehouse(settings.warehouse_path).exists():
        console.print(
            f"[red]no warehouse at {warehouse(settings.warehouse_path).describe()}[/red]: run "
            "`pilotmonitor run` first "
            "(the catalog is read from it)"
        )
        raise typer.Exit(code=1)
    try:
        executable = dbt_executable()
    except DbtNotFoundError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=1) from None
    env = {**os.environ, **dbt_env(settings.warehouse_path)}
    common = [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(TARGET_DIR),
    ]
    code = subprocess.call([executable, "docs", "generate", *common], cwd=DBT_PROJECT_DIR, env=env)
    index = TARGET_DIR / "index.html"
    if code != 0 or not index.is_file():
        console.print(f"[red]dbt docs generate failed[/red] (exit {code})")
        raise typer.Exit(code=code or 1)
    console.print(f"documentation: {index}")
    if serve:
        raise typer.Exit(
            subprocess.call(
                [executable, "docs", "serve", "--port", str(port), *common],
                cwd=DBT_PROJECT_DIR,
                env=env,
            )
        )


@app.command()
def pull(
    source: Annotated[str, typer.Argument(help="cbs, duo-schools or duo-pupils")],
    table: Annotated[str, typer.Option(help="CBS StatLine table id.")] = "85098NED",
    year: Annotated[int | None, typer.Option(help="Count year of the DUO pupil counts.")] = None,
) -> None:
    """Pull a public source from its endpoint into the landing area (URLs are settings:
    PILOTMONITOR_CBS_BASE_URL, PILOTMONITOR_DUO_SCHOOLS_URL, PILOTMONITOR_DUO_PUPILS_URL)."""
    from datetime import date

    from pilotmonitor.ingest import pull as pulling

    settings = Settings.from_env()
    endpoints = pulling.settings_from_env()
    today = date.today()
    try:
        with pulling.make_client() as client:
            if source == "cbs":
                path = pulling.pull_cbs_table(
                    table, endpoints.cbs_base_url, settings.landing_dir, client, today
                )
            elif source == "duo-schools":
                path = pulling.pull_duo_file(
                    endpoints.require_duo_schools_url(),
                    settings.landing_dir,
                    "duo_vestigingen_po",
                    client,
                    today,
                )
            elif source == "duo-pupils":
                if year is None:
                    raise typer.BadParameter(
                        "the count year is required for duo-pupils", param_hint="--year"
                    )
                path = pulling.pull_duo_file(
                    endpoints.require_duo_pupils_url(),
                    settings.landing_dir,
                    f"duo_leerlingen_po_leeftijd_{year}",
                    client,
                    today,
                )
            else:
                raise typer.BadParameter(
                    f"unknown source {source!r}: choose cbs, duo-schools or duo-pupils",
                    param_hint="SOURCE",
                )
    except pulling.PullError as exc:
        console.print(f"[red]pull failed[/red]: {exc}")
        raise typer.Exit(code=1) from None
    console.print(f"pulled into {path}")


@app.command()
def rekey(demo: Annotated[bool, typer.Option("--demo", help=DEMO_HELP)] = False) -> None:
    """After a key change: re-read every loaded delivery pseudonymised under another key
    version from the landing area under the current key (PILOTMONITOR_PSEUDONYM_KEY[_FILE]
    and PILOTMONITOR_PSEUDONYM_KEY_VERSION), replacing its rows; then `pilotmonitor run`
    rebuilds. Exit 0 when every such delivery was rekeyed, 1 when some could not be (file
    gone, changed or unreadable: listed), 2 when there is no key or the warehouse cannot
    be opened (no warehouse yet, or a run holds its writer lock)."""
    from pilotmonitor.ingest.rekey import RekeyError, rekey_warehouse

    settings = Settings.from_env()
    _set_demo(demo)
    try:
        report = rekey_warehouse(settings, demo)
    except RekeyError as exc:
        Console(stderr=True, width=160).print(
            f"[red]rekey not possible[/red]: {exc}", soft_wrap=True
        )
        raise typer.Exit(code=2) from None
    console.print(
        f"key version {report.key_version}: {len(report.rekeyed)} "
        f"deliver{'y' if len(report.rekeyed) == 1 else 'ies'} re-pseudonymised",
        soft_wrap=True,
    )
    for line in report.missing + report.failed:
        console.print(f"[red]not rekeyed[/red]: {line}", soft_wrap=True)
    if report.rekeyed:
        console.print("run `pilotmonitor run` to rebuild the warehouse on the new pseudonyms")
    if not report.complete:
        raise typer.Exit(code=1)


@app.command()
def ui(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    demo: Annotated[bool, typer.Option("--demo", help=DEMO_HELP)] = False,
) -> None:
    """Start the Dagster UI (dagster dev) on this project."""
    settings = Settings.from_env()
    _dagster_home(settings)
    _set_demo(demo)
    command = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-m",
        "orchestration.definitions",
        "-h",
        host,
        "-p",
        str(port),
    ]
    raise typer.Exit(subprocess.call(command))


AS_OF_HELP = (
    "Judge freshness on this date (YYYY-MM-DD; default today). Deliveries dated later are ignored."
)


def _parse_as_of(value: str | None):
    from datetime import date

    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--as-of"
        ) from None


def _read_status(as_of: str | None):
    """The status from the warehouse (read-only) and the Dagster instance's latest check
    results, or a clear message and exit code 2 when the warehouse cannot be read (none
    yet, no delivery register, or a run holds the writer lock)."""
    from pilotmonitor.health.status import WarehouseUnreadable, status_from_files

    day = _parse_as_of(as_of)
    settings = Settings.from_env()
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir / "dagster_home")
    try:
        return settings, status_from_files(
            settings.warehouse_path, day, landing_dir=settings.landing_dir, dagster_home=home
        )
    except WarehouseUnreadable as exc:
        Console(stderr=True, width=160).print(
            f"[red]could not read the warehouse[/red]: {exc}", soft_wrap=True
        )
        raise typer.Exit(code=exc.exit_code) from None


@app.command()
def status(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as JSON instead of a table.")
    ] = False,
) -> None:
    """Per source: senders, last delivery, periods, deliveries loaded/failed/duplicate, rows
    loaded and quarantined, validation results, freshness, the top quarantine and
    validation failure reasons; then the publication verdict. Exit code 0 when ready for
    publication, 1 when something blocks it, 2 when the warehouse could not be read, 3
    when the latest run was interrupted (rerun it)."""
    _, result = _read_status(as_of)
    if as_json:
        typer.echo(result.to_json())
    else:
        from pilotmonitor.health.report import render

        # piped or captured output has no width: use a readable one rather than 80 columns
        render(result, console if console.is_terminal else Console(width=160))
    raise typer.Exit(code=result.exit_code)


@app.command()
def health(as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None) -> None:
    """Write the pipeline-health page (<data dir>/health/index.html): the status with
    trends per source and links to the validation and dbt documentation. Exit codes as
    `status`: 0 ready for publication, 1 blocked, 2 the warehouse could not be read (no
    page written), 3 the latest run was interrupted."""
    from pilotmonitor.health.page import write_page
    from pilotmonitor.health.report import VERDICT_STYLE

    settings, result = _read_status(as_of)
    page = write_page(result, settings.data_dir)
    console.print(f"pipeline health: {page}", soft_wrap=True)
    console.print(result.verdict, style=VERDICT_STYLE[result.verdict_kind], soft_wrap=True)
    raise typer.Exit(code=result.exit_code)


def _open_warehouse_read_only(settings: Settings):
    """Read-only connection (the pipeline may hold the writer), or a clear message and exit
    2, the code `status` and `health` use when the warehouse cannot be read."""
    from pilotmonitor.export import ExportError, open_warehouse

    try:
        return open_warehouse(settings.warehouse_path)
    except ExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None


# a report never shows an output that failed disclosure control: it withholds it and says why
DISCLOSURE_STATUS_SHOWN = {
    "pass": "pass",
    "review": "review (cells suppressed)",
    "fail": "parts withheld",
}


def print_report_locations(files) -> None:
    """One block per pilot with full paths (a table would cut them off)."""
    synthetic = " (SYNTHETIC DATA)" if files and files[0].synthetic else ""
    console.print(f"policymaker reports{synthetic}:")
    for f in files:
        if f.error:
            console.print(f"  {f.pilot_id}: [yellow]no report[/yellow]: {f.error}", soft_wrap=True)
            continue
        pdf = (
            "PDF beside them"
            if len(f.pdf) == 2
            else f"[red]no PDF[/red]: {f.pdf_error}"
            if f.pdf_error
            else "no PDF (--no-pdf)"
        )
        kept = "; unchanged, kept as it was" if f.reused else ""
        disclosure = DISCLOSURE_STATUS_SHOWN.get(f.disclosure_status, f.disclosure_status)
        console.print(
            f"  {f.pilot_id} ({f.result} result; disclosure control: {disclosure}; {pdf}{kept})",
            soft_wrap=True,
        )
        console.print(f"    {f.html.get('nl')}", soft_wrap=True)
        console.print(f"    {f.html.get('en')}", soft_wrap=True)
        console.print(f"    {f.disclosure_log}", soft_wrap=True)


@app.command()
def report(
    pilot: Annotated[
        list[str] | None,
        typer.Option(
            "--pilot", help="Only this pilot (repeatable); default every pilot in the registry."
        ),
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf/--no-pdf", help="Also print each report to PDF (needs Chromium).")
    ] = True,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild", help="Rebuild even reports whose inputs, code and packages are unchanged."
        ),
    ] = False,
    round_name: Annotated[
        str | None,
        typer.Option(
            "--round",
            help=(
                "The report of this evaluation round (its frozen data and estimates, with what "
                "changed since the previous round)."
            ),
        ),
    ] = None,
) -> None:
    """Write the policymaker reports from the published marts and the latest estimates:
    per pilot report.nl.html / report.en.html (+ PDF) and disclosure_log.json. With
    --round NAME: the round's report in <data dir>/reports/<pilot>/rounds/NAME/."""
    from pilotmonitor.pilots import load_registry
    from pilotmonitor.report import build_reports

    settings = Settings.from_env()
    if round_name is not None:
        _round_report(settings, round_name, pilot[0] if pilot else None, pdf)
        return
    ids = pilot or [p.id for p in load_registry(settings.pilots_dir)]
    synthetic = (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file()
    with _open_warehouse_read_only(settings) as conn:
        files = build_reports(
            conn,
            ids,
            settings.data_dir / "reports",
            synthetic=synthetic,
            pdf=pdf,
            reuse=not rebuild,
        )
    print_report_locations(files)
    if any(f.error for f in files):
        raise typer.Exit(code=1)


@app.command()
def reproduce(
    result: Annotated[
        str,
        typer.Argument(
            help="RUN_ID[:PILOT[:OUTCOME[:ESTIMATOR]]] or a pilot id (its latest primary estimate)."
        ),
    ],
) -> None:
    """Re-run a published estimate from its provenance (same plan, seed and published
    data) and confirm the numbers are identical, or explain what changed. Exit 1 when not."""
    from pilotmonitor.evaluation.reproduce import ResultNotFound
    from pilotmonitor.evaluation.reproduce import reproduce as run_reproduction
    from pilotmonitor.pilots import load_registry

    settings = Settings.from_env()
    with _open_warehouse_read_only(settings) as conn:
        try:
            outcome = run_reproduction(conn, result, load_registry(settings.pilots_dir))
        except ResultNotFound as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(code=1) from None
    console.print(outcome.explanation(), style="bold green" if outcome.identical else "bold red")
    for d in outcome.differences[:20]:
        console.print(
            f"  {d.get('pilot_id')} {d.get('outcome', '')} {d.get('estimator', '')} "
            f"{d['column']}: stored {d['stored']} now {d['now']}"
        )
    if not outcome.identical:
        raise typer.Exit(code=1)


def _round_report(settings: Settings, name: str, pilot_id: str | None, pdf: bool) -> None:
    from pilotmonitor.report.round_report import build_round_reports
    from pilotmonitor.rounds.registry import RoundError

    synthetic = (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file()
    with _open_warehouse_read_only(settings) as conn:
        try:
            files = build_round_reports(
                conn, name, settings.data_dir / "reports", synthetic, pdf=pdf, pilot_id=pilot_id
            )
        except RoundError as exc:
            console.print(f"[red]{exc}[/red]", soft_wrap=True)
            raise typer.Exit(code=1) from None
    console.print(f"evaluation round {name}:")
    print_report_locations(files)


round_app = typer.Typer(
    help="Evaluation rounds of a learning cycle: frozen data, estimates and report per as-of date.",
    no_args_is_help=True,
)
app.add_typer(round_app, name="round")


def create_rounds(
    settings: Settings,
    conn,
    name: str,
    as_of,
    pilot_id: str | None,
    pdf: bool,
    printer=None,
    charts=None,
) -> None:
    """Create a round on an open write connection and write its reports (shared by
    `round create` and the demo's rounds at the end of `run --demo`, which hand every
    round the same PDF printer and chart worker: one browser launch and one worker
    process instead of one per round)."""
    from pilotmonitor.pilots import load_registry
    from pilotmonitor.report.round_report import build_round_reports
    from pilotmonitor.rounds.create import create_round

    created = create_round(
        conn,
        name,
        as_of,
        load_registry(settings.pilots_dir),
        settings.data_dir / "results",
        progress=lambda m: console.print(f"  {m}"),
        only_pilot=pilot_id,
    )
    for r in created.rounds:
        console.print(
            f"round {r.name} ({r.pilot_id}): as of {r.as_of}, data to {r.data_through:%Y-%m}, run "
            f"{r.run_id}",
            soft_wrap=True,
        )
    for skipped in created.skipped:
        console.print(
            f"  {skipped}: not in the round (no pilot months by "
            f"{created.rounds[0].data_through:%Y-%m})"
        )
    synthetic = (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file()
    print_report_locations(
        build_round_reports(
            conn,
            name,
            settings.data_dir / "reports",
            synthetic,
            pdf=pdf,
            printer=printer,
            charts=charts,
        )
    )


@round_app.command("create")
def round_create(
    name: Annotated[
        str,
        typer.Argument(
            help="The round's name (lower-case letters, digits, '.', '_', '-'); taken once."
        ),
    ],
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of", help="The date the round freezes (YYYY-MM-DD): months that ended by then."
        ),
    ],
    pilot: Annotated[
        str | None,
        typer.Option(
            "--pilot", help="Only this pilot (default: every pilot started by the as-of date)."
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf/--no-pdf", help="Also print the round's reports to PDF (needs Chromium)."
        ),
    ] = True,
) -> None:
    """Freeze what was known at the as-of date, run the pre-registered plan on it, keep the
    round (results.rounds, its estimates under its own run id) and write its report.
    Exit 1 when the round cannot be made (name taken: rounds are immutable), 2 when a
    pipeline run holds the warehouse."""
    from pilotmonitor.rounds.create import WarehouseBusy, warehouse_for_writing
    from pilotmonitor.rounds.registry import RoundError

    settings = Settings.from_env()
    day = _parse_as_of(as_of)
    try:
        with warehouse_for_writing(settings.data_dir, settings.warehouse_path) as conn:
            create_rounds(settings, conn, name, day, pilot, pdf)
    except WarehouseBusy as exc:
        Console(stderr=True, width=160).print(
            f"[red]round not created[/red]: {exc}", soft_wrap=True
        )
        raise typer.Exit(code=2) from None
    except RoundError as exc:
        Console(stderr=True, width=160).print(
            f"[red]round not created[/red]: {exc}", soft_wrap=True
        )
        raise typer.Exit(code=1) from None


@round_app.command("list")
def round_list() -> None:
    """Every evaluation round: name, pilot, as-of date, data to, created, run id, hashes."""
    from pilotmonitor.rounds.registry import rounds

    settings = Settings.from_env()
    with _open_warehouse_read_only(settings) as conn:
        found = rounds(conn)
    if not found:
        console.print("no evaluation rounds yet (pilotmonitor round create NAME --as-of DATE)")
        return
    synthetic = (
        " (SYNTHETIC DATA)" if (settings.landing_dir / "SYNTHETIC_DATA.txt").is_file() else ""
    )
    table = Table(title=f"evaluation rounds{synthetic}")
    for column in (
        "round",
        "pilot",
        "as of",
        "data to",
        "created (UTC)",
        "run id",
        "input",
        "plan",
    ):
        table.add_column(column)
    for r in found:
        table.add_row(
            r.name,
            r.pilot_id,
            str(r.as_of),
            f"{r.data_through:%Y-%m}",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.run_id,
            r.input_hash[:12],
            r.plan_hash[:12],
        )
    Console(width=200).print(table)


plan_app = typer.Typer(
    help="The pre-registered analysis plans: show one, compare runs.", no_args_is_help=True
)
app.add_typer(plan_app, name="plan")


@plan_app.command("show")
def plan_show(
    pilot_id: Annotated[str, typer.Argument(help="Pilot id (file name in the pilots directory).")],
) -> None:
    """Print the pilot's effective analysis plan: every parameter with defaults filled in,
    its plan_hash and the pre-registered (outcome, estimator) pairs."""
    from pilotmonitor.evaluation.plan_view import show
    from pilotmonitor.pilots import PilotConfigError, load_pilot

    settings = Settings.from_env()
    path = settings.pilots_dir / f"{pilot_id}.yml"
    if not path.is_file():
        known = ", ".join(sorted(f.stem for f in settings.pilots_dir.glob("*.yml")))
        console.print(f"[red]no pilot {pilot_id!r} in {settings.pilots_dir} (known: {known})[/red]")
        raise typer.Exit(code=1)
    try:
        pilot = load_pilot(path)
    except PilotConfigError as exc:
        console.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(code=1) from None
    print(show(pilot))


@plan_app.command("diff")
def plan_diff(
    run_a: Annotated[
        str | None, typer.Argument(help="A run id (default: the latest analysis run).")
    ] = None,
    run_b: Annotated[
        str | None, typer.Argument(help="Another run id (default: the plans in the registry now).")
    ] = None,
) -> None:
    """Show which plan parameters changed between two analysis runs, or between a run and
    the registry now. Exit 1 when something changed."""
    from pilotmonitor.evaluation.plan_view import PlanNotFound, diff_plans, latest_run, run_plans
    from pilotmonitor.evaluation.spec import effective_plan
    from pilotmonitor.pilots import PilotConfigError, load_registry

    settings = Settings.from_env()
    with _open_warehouse_read_only(settings) as conn:
        try:
            first = run_a or latest_run(conn)
            before = run_plans(conn, first)
            if run_b:
                after, label = run_plans(conn, run_b), f"run {run_b}"
            else:
                after, label = (
                    {p.id: effective_plan(p) for p in load_registry(settings.pilots_dir)},
                    "the registry now",
                )
        except (PlanNotFound, PilotConfigError) as exc:
            console.print(f"[red]{exc}[/red]", soft_wrap=True)
            raise typer.Exit(code=2) from None
    changes = diff_plans(before, after)
    console.print(f"plans of run {first} -> {label}:", soft_wrap=True)
    if not changes:
        console.print("  no parameter changed", style="green")
        return
    for pilot_id, items in changes.items():
        console.print(f"  {pilot_id}:")
        for path, old, new in items:
            console.print(f"    {path}: {old!r} -> {new!r}", soft_wrap=True)
    raise typer.Exit(code=1)


@app.command()
def export(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Target folder (default <data dir>/exports/secure or /release)."
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="parquet or csv (secure export; a release is CSV).")
    ] = "parquet",
    table: Annotated[
        list[str] | None,
        typer.Option("--table", help="Only this mart (repeatable; secure export)."),
    ] = None,
    release: Annotated[
        bool,
        typer.Option(
            "--release",
            help=(
                "Aggregate tables through disclosure control, for use OUTSIDE the secure "
                "environment."
            ),
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that already holds an export.")
    ] = False,
) -> None:
    """SECURE export (default): every published mart as Parquet/CSV with a data dictionary
    from the dbt docs and a manifest; row-level and pseudonymised, so it stays inside the
    secure environment. --release: aggregate tables through disclosure control (suppressed
    cells as 'x'), with the disclosure log, for R or Stata users outside it."""
    from pilotmonitor.export import ExportError, export_marts, export_release

    settings = Settings.from_env()
    target = out or settings.data_dir / "exports" / ("release" if release else "secure")
    if (target / "manifest.json").exists() and not force:
        console.print(
            f"[red]{target} already holds an export: choose another --out or pass --force[/red]"
        )
        raise typer.Exit(code=1)
    if not release and fmt not in ("parquet", "csv"):
        raise typer.BadParameter("--format must be parquet or csv", param_hint="--format")
    try:
        if release:
            manifest = export_release(
                settings.warehouse_path,
                target,
                synthetic=(settings.landing_dir / "SYNTHETIC_DATA.txt").is_file(),
            )
        else:
            manifest = export_marts(settings.warehouse_path, target, fmt=fmt, tables=table)
    except ExportError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=1) from None
    console.print(manifest.summary())
    if release:
        console.print(
            f"disclosure log: {target / 'disclosure_log.md'} "
            f"({manifest.warnings[0] if manifest.warnings else ''})"
        )
    else:
        console.print(
            "[yellow]SECURE export: row-level, pseudonymised data; it must stay inside the secure "
            "environment.[/yellow]"
        )


def main() -> None:
    """The `pilotmonitor` command. Before the interpreter exits, every object is moved out
    of the garbage collector's reach (gc.freeze): its final collection walked everything a
    run had loaded (Dagster's definitions, frames, the estimators) for 1.1-1.5 s after the
    demo's last line, only to free memory the process is about to give back. Resources are
    closed by the commands themselves (context managers), not by that collection."""
    import gc

    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()

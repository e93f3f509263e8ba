"""The report's charts as PNG bytes (matplotlib, no display). Each chart is drawn only from
tables that passed disclosure control: suppressed cells arrive as NaN and are left out
of the drawing (a gap in a line), never filled in."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display here; must precede pyplot
import matplotlib.dates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PILOT_COLOUR = "#c0392b"
COMPARISON_COLOUR = "#2c6fbb"


def _finish(fig, synthetic_label: str | None) -> bytes:
    if synthetic_label:
        fig.axes[0].text(
            0.995,
            0.985,
            synthetic_label,
            transform=fig.axes[0].transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="#a06000",
            weight="bold",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1},
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def trend_chart(
    trend: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp | None,
    labels: dict,
    synthetic_label: str | None,
) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for role, colour, name in (
        ("treated", PILOT_COLOUR, labels["pilot_schools"]),
        ("comparison", COMPARISON_COLOUR, labels["comparison_schools"]),
    ):
        part = trend[trend["role"] == role].sort_values("half_start")
        ax.plot(part["half_mid"], part["rate_per_100_year"], marker="o", color=colour, label=name)
    ax.axvline(start, color="black", linestyle="--", linewidth=1)
    ax.text(start, ax.get_ylim()[1] * 0.93, " " + labels["pilot_start"], va="top", fontsize=8)
    if end is not None:
        ax.axvline(end, color="grey", linestyle=":", linewidth=1)
        ax.text(
            end,
            ax.get_ylim()[1] * 0.93,
            labels["pilot_end"] + " ",
            va="top",
            ha="right",
            fontsize=8,
            color="grey",
        )
    ax.set_ylim(bottom=0)
    # a few ticks with year-first labels (2023, Jul, 2024, ...) instead of overlapping dates
    locator = matplotlib.dates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator, show_offset=False))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return _finish(fig, synthetic_label)


def event_chart(points: pd.DataFrame, labels: dict, synthetic_label: str | None) -> bytes:
    """points: rel_time_bin, estimate, ci_lower, ci_upper (reference bin -1 is 0 by
    construction)."""
    pts = pd.concat(
        [
            points,
            pd.DataFrame(
                {"rel_time_bin": [-1], "estimate": [0.0], "ci_lower": [0.0], "ci_upper": [0.0]}
            ),
        ]
    )
    pts = pts.sort_values("rel_time_bin")
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    colours = [PILOT_COLOUR if e >= 0 else COMPARISON_COLOUR for e in pts["rel_time_bin"]]
    ax.errorbar(
        pts["rel_time_bin"],
        pts["estimate"],
        yerr=[pts["estimate"] - pts["ci_lower"], pts["ci_upper"] - pts["estimate"]],
        fmt="none",
        ecolor="grey",
        capsize=3,
    )
    ax.scatter(pts["rel_time_bin"], pts["estimate"], c=colours, zorder=3)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="black", linestyle="--", linewidth=1)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel(labels["event_x"])
    ax.set_ylabel(labels["event_y"])
    ax.grid(alpha=0.3)
    return _finish(fig, synthetic_label)


def forest_chart(rows: pd.DataFrame, labels: dict, synthetic_label: str | None) -> bytes:
    """rows: name, pct, pct_low, pct_high (NaN rows are shown as a label without a bar)."""
    rows = rows.iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(rows) + 1.0))
    y = np.arange(len(rows))
    ok = rows["pct"].notna()
    ax.errorbar(
        rows.loc[ok, "pct"],
        y[ok.to_numpy()],
        xerr=[
            rows.loc[ok, "pct"] - rows.loc[ok, "pct_low"],
            rows.loc[ok, "pct_high"] - rows.loc[ok, "pct"],
        ],
        fmt="o",
        color=PILOT_COLOUR,
        ecolor="grey",
        capsize=3,
    )
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, rows["name"])
    ax.set_xlabel(labels["forest_x"])
    ax.grid(axis="x", alpha=0.3)
    return _finish(fig, synthetic_label)


def costs_chart(
    pilot_cost: float,
    avoided: float,
    low: float,
    high: float,
    labels: dict,
    synthetic_label: str | None,
) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 2.2))
    names = [labels["pilot_cost"], labels["avoided_cost"]]
    ax.barh([1, 0], [pilot_cost, avoided], color=["#7f8c8d", PILOT_COLOUR])
    ax.errorbar(
        [avoided],
        [0],
        xerr=[[avoided - low], [high - avoided]],
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    ax.set_yticks([1, 0], names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:,.0f}k"))
    ax.grid(axis="x", alpha=0.3)
    return _finish(fig, synthetic_label)


def dose_chart(
    activity: pd.DataFrame, labels: dict, series: dict[str, str], synthetic_label: str | None
) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    bottom = np.zeros(len(activity))
    for column, name in series.items():
        values = activity[column].astype(float).fillna(0).to_numpy()
        ax.bar(activity["month"], values, bottom=bottom, width=25, label=name)
        bottom += values
    suppressed = activity[list(series)].isna().any(axis=1)
    if suppressed.any():
        ax.scatter(
            activity.loc[suppressed, "month"],
            np.zeros(int(suppressed.sum())),
            marker="x",
            color="black",
            label=labels["suppressed"],
        )
    ax.set_ylabel(labels["dose_y"])
    ax.legend(frameon=False, fontsize=7, ncol=5, loc="lower left", bbox_to_anchor=(0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, synthetic_label)

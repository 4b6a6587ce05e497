"""Quality gates: whether a finished run may replace the one the API serves.

A run that computed without error is not yet a run to plan on. Before it is served it must
have every output (and no NaN where a planner reads a number), its forecasts must not have got
worse than the current champion's, and its calibrated intervals must cover about what they
claim. A run that fails a gate is kept (succeeded, with the failed checks in its metrics) but
not served; an admin can still promote it explicitly.

Backtest errors are compared as ``relative`` scores — the chosen forecast's MASE and sMAPE
divided by the naive forecast's on the *same* windows of the same run. A newer run backtests
on newer windows (the data moved on), and the naive ratio on those very windows is what makes
the two runs' errors comparable; for a retrain on unchanged data the windows are identical.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import pandas as pd

from data.store import Store
from data.store.runs import RunRecord
from data.store.tables import OUTPUT_SPECS, RunStatus

#: Outputs every servable run has (warnings may rightly be empty).
REQUIRED_OUTPUTS: Final = ("forecasts", "balance", "drivers", "programme_supply", "recommendations")
#: Columns a planner reads as numbers: NaN there makes a run unservable.
NUMBERS_READ: Final[dict[str, tuple[str, ...]]] = {
    "forecasts": ("forecast", "lo_80", "hi_80", "lo_95", "hi_95"),
    "recommendations": ("current_quota", "recommended_quota", "quota_p10", "quota_p90"),
}


class PromotionError(ValueError):
    """An explicit promotion or rollback cannot be done; the message says why."""


@dataclass(frozen=True)
class Gates:
    """Thresholds of the quality gates.

    ``max_worsening``: how much larger the chosen forecast's relative backtest score may be
    than the champion's, per series kind (0.1 = 10%); ``coverage_80``/``coverage_95``: bounds
    of the calibrated intervals' coverage on the backtest rows.
    """

    max_worsening: float = 0.10
    coverage_80: tuple[float, float] = (0.70, 0.95)
    coverage_95: tuple[float, float] = (0.88, 1.00)
    required_outputs: tuple[str, ...] = REQUIRED_OUTPUTS

    def __post_init__(self) -> None:
        if not 0 <= self.max_worsening <= 10:
            raise ValueError(f"max_worsening must be between 0 and 10, got {self.max_worsening}")
        for name in ("coverage_80", "coverage_95"):
            low, high = getattr(self, name)
            if not 0 <= low <= high <= 1:
                raise ValueError(f"{name} must be (low, high) within [0, 1], got {(low, high)}")
        unknown = set(self.required_outputs) - set(OUTPUT_SPECS)
        if unknown:
            raise ValueError(f"required_outputs has unknown outputs: {', '.join(sorted(unknown))}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    """Every check with its outcome; ``passed`` when all passed."""

    checks: tuple[Check, ...]
    champion_run: int | None = None
    failures: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        failed = tuple(check.detail for check in self.checks if not check.passed)
        object.__setattr__(self, "failures", failed)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "champion_run": self.champion_run,
            "checks": [asdict(check) for check in self.checks],
        }


def check_gates(
    outputs: Mapping[str, pd.DataFrame],
    backtests: pd.DataFrame,
    gates: Gates,
    champion: RunRecord | None = None,
) -> GateResult:
    """Run every gate on a computed run (its outputs and backtest table) against ``champion``
    (the served run, whose metrics hold its backtest table)."""
    checks: list[Check] = []
    for name in gates.required_outputs:
        frame = outputs.get(name)
        present = frame is not None and not frame.empty
        state = "present" if present else "missing or empty"
        checks.append(Check(f"output:{name}", present, f"output {name} is {state}"))
    for name, frame in outputs.items():
        columns = [c.name for c in OUTPUT_SPECS[name].columns if not c.nullable]
        columns += [c for c in NUMBERS_READ.get(name, ()) if c in frame.columns]
        numeric = frame.loc[:, [c for c in dict.fromkeys(columns) if c in frame.columns]]
        missing = int(numeric.isna().to_numpy().sum())
        checks.append(
            Check(f"no_nan:{name}", missing == 0, f"{name} has {missing} missing value(s)")
        )
    selected = _selected(backtests)
    for kind, row in selected.items():
        for level, (low, high) in ((80, gates.coverage_80), (95, gates.coverage_95)):
            value = row.get(f"coverage_{level}")
            ok = (
                value is None
                or (isinstance(value, float) and math.isnan(value))
                or (low <= float(value) <= high)
            )
            checks.append(
                Check(
                    f"coverage_{level}:{kind}",
                    bool(ok),
                    f"{kind}: {level}% intervals cover {_pct(value)} of backtest values "
                    f"(bounds {low:.0%}-{high:.0%})",
                )
            )
    if champion is not None:
        previous = _selected(pd.DataFrame(champion.metrics.get("backtest", [])))
        for kind, row in selected.items():
            if kind not in previous:
                continue
            new, old = _float(row.get("relative")), _float(previous[kind].get("relative"))
            if new is None or old is None:
                continue
            limit = old * (1 + gates.max_worsening)
            checks.append(
                Check(
                    f"backtest:{kind}",
                    new <= limit,
                    f"{kind}: relative backtest error {new:.3f} vs champion run "
                    f"{champion.id}'s {old:.3f} (limit {limit:.3f})",
                )
            )
    return GateResult(tuple(checks), champion.id if champion is not None else None)


def backtest_records(backtests: pd.DataFrame) -> list[dict[str, Any]]:
    """The backtest table as JSON-ready rows (NaN becomes None) for a run's metrics."""
    frame = backtests.astype(object).where(backtests.notna(), None)
    return [dict(row) for row in frame.to_dict(orient="records")]


def promote(store: Store, run_id: int, *, actor: str) -> RunRecord:
    """Serve ``run_id`` now (an admin's decision, gates or not); atomic in the store."""
    run = store.run(run_id)
    if run.status is not RunStatus.SUCCEEDED:
        raise PromotionError(f"run {run_id} is {run.status.value}: only succeeded runs are served")
    return store.set_served(run_id, actor=actor)


def rollback(store: Store, *, actor: str) -> RunRecord:
    """Serve again the run that was served before the current one."""
    served = store.served_run()
    if served is None:
        raise PromotionError("no run is served, so there is nothing to roll back from")
    for entry in store.audit_log(action="run.promote", limit=1000):
        run_id = _run_id(entry.target)
        ok = run_id is not None and run_id != served.id
        if ok and run_id is not None and store.run(run_id).status is RunStatus.SUCCEEDED:
            return store.set_served(run_id, actor=actor)
    raise PromotionError(f"run {served.id} is the only run ever served; nothing to roll back to")


def _run_id(target: str | None) -> int | None:
    if target and target.startswith("run #") and target[5:].isdigit():
        return int(target[5:])
    return None


def _selected(backtests: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if backtests.empty or "model" not in backtests.columns:
        return {}
    rows = backtests[backtests["model"] == "selected"]
    return {str(row["kind"]): dict(row) for row in rows.to_dict(orient="records")}


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _pct(value: Any) -> str:
    number = _float(value)
    return "n/a" if number is None else f"{number:.0%}"


__all__: Sequence[str] = (
    "Check",
    "GateResult",
    "Gates",
    "PromotionError",
    "backtest_records",
    "check_gates",
    "promote",
    "rollback",
)

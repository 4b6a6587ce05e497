"""Quality gates: whether a finished run may replace the one the API serves.

A run that computed without error is not yet a run to plan on. Before it is served it must
have every output (and no NaN where a planner reads a number), its forecasts must not have got
worse than the current champion's, and its calibrated intervals must cover about what they
claim. A run that fails a gate is kept (succeeded, with the failed checks in its metrics) but
not served; an admin can still promote it explicitly.

Backtest errors are compared as ``relative`` scores — the chosen forecast's MASE and sMAPE
(MASE alone for kinds selected on it, the ``score`` column) divided by the naive forecast's on
the *same* windows of the same run; scores of different kinds are not compared. A newer run
backtests on newer windows (the data moved on), and the naive ratio on those very windows is
what makes the two runs' errors comparable; for a retrain on unchanged data the windows are
identical.

Coverage is judged out of sample: the engine selects and calibrates as of its newest backtest
origin, on older origins only, and scores those intervals on the newest origin's rows
(``coverage_80``/``coverage_95`` with ``coverage_rows`` in the backtest table, see
:func:`forecasting.engine.backtest_report`). Coverage on the rows the intervals were
calibrated on is close to nominal by construction and hid a volatility break (83% stated, 22%
real). A share measured on a few rows is noisy, so the check fails only when the bounds lie
outside its one-sided Wilson interval: a new city's first run with a dozen series is not held
back by 100% coverage, a run covering 22% of 200 rows is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any, Final

import pandas as pd

from data.messages import DEFAULT_LANGUAGE, Lang, Param, render
from data.store import Store
from data.store.runs import RunRecord
from data.store.tables import OUTPUT_SPECS, RunStatus
from forecasting.gate_messages import GATE_MESSAGES

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
    of the calibrated intervals' out-of-sample coverage (scored on the newest backtest origin);
    ``coverage_confidence``: a coverage fails only when a bound lies outside its one-sided
    Wilson interval at this confidence, given the number of rows it was scored on (tables
    without that number are compared with the bounds as they are); ``balance_gate``: refuse a run
    whose balance backtest loses to a persistence baseline on both ranking and flags
    (:func:`check_balance_backtest`); ``change_gate``: refuse a run whose large moves against
    the served run come from a few new rows (:mod:`forecasting.changes`). Either refused run
    is kept for an admin's decision.
    """

    max_worsening: float = 0.10
    coverage_80: tuple[float, float] = (0.70, 0.95)
    coverage_95: tuple[float, float] = (0.88, 1.00)
    coverage_confidence: float = 0.95
    required_outputs: tuple[str, ...] = REQUIRED_OUTPUTS
    balance_gate: bool = True
    change_gate: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.max_worsening <= 10:
            raise ValueError(f"max_worsening must be between 0 and 10, got {self.max_worsening}")
        for name in ("coverage_80", "coverage_95"):
            low, high = getattr(self, name)
            if not 0 <= low <= high <= 1:
                raise ValueError(f"{name} must be (low, high) within [0, 1], got {(low, high)}")
        if not 0.5 <= self.coverage_confidence < 1:
            raise ValueError(
                f"coverage_confidence must be in [0.5, 1), got {self.coverage_confidence}"
            )
        unknown = set(self.required_outputs) - set(OUTPUT_SPECS)
        if unknown:
            raise ValueError(f"required_outputs has unknown outputs: {', '.join(sorted(unknown))}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """One gate check: its English ``detail`` as recorded, and the ``code`` (a key of
    :data:`~forecasting.gate_messages.GATE_MESSAGES`) and ``params`` it was worded from, so
    that it can be said in another language."""

    name: str
    passed: bool
    detail: str
    code: str | None = None
    params: tuple[tuple[str, Param], ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, name: str, passed: bool, code: str, /, **params: Param) -> Check:
        """The check ``name`` worded by ``code``, its ``detail`` written in English."""
        if code not in GATE_MESSAGES:
            raise KeyError(f"no message for the gate code {code!r}; add it to gate_messages")
        detail = render(GATE_MESSAGES, code, params, DEFAULT_LANGUAGE)
        return cls(name, passed, detail, code, tuple(params.items()))

    def to_dict(self) -> dict[str, Any]:
        """As a run's metrics record it (the parameters as an object)."""
        return {**asdict(self), "params": dict(self.params)}


def check_detail(check: Mapping[str, Any], lang: Lang) -> str:
    """A recorded check's detail in ``lang``: worded from its code and parameters, or its
    English detail as recorded (runs recorded before checks had codes, or in English)."""
    detail = str(check.get("detail"))
    code, params = check.get("code"), check.get("params")
    if lang == DEFAULT_LANGUAGE or code not in GATE_MESSAGES or not isinstance(params, dict):
        return detail
    try:
        return render(GATE_MESSAGES, str(code), params, lang)
    except (KeyError, ValueError, TypeError):  # parameters of another version: as recorded
        return detail


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
            "checks": [check.to_dict() for check in self.checks],
        }


@dataclass
class OutputTally:
    """Rows and missing values (in required and served number columns) of each output,
    added up over the parts a run's outputs come in: a province run stores each city's
    rows as soon as they are computed and keeps only their tally for the gates."""

    rows: dict[str, int] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)

    def add(self, outputs: Mapping[str, pd.DataFrame]) -> None:
        for name, frame in outputs.items():
            columns = [c.name for c in OUTPUT_SPECS[name].columns if not c.nullable]
            columns += [c for c in NUMBERS_READ.get(name, ()) if c in frame.columns]
            numeric = frame.loc[:, [c for c in dict.fromkeys(columns) if c in frame.columns]]
            self.rows[name] = self.rows.get(name, 0) + len(frame)
            self.missing[name] = self.missing.get(name, 0) + int(numeric.isna().to_numpy().sum())

    def merged(self, outputs: Mapping[str, pd.DataFrame]) -> OutputTally:
        """This tally with ``outputs`` added (a new tally: this one is unchanged)."""
        tally = OutputTally(dict(self.rows), dict(self.missing))
        tally.add(outputs)
        return tally


def check_gates(
    outputs: Mapping[str, pd.DataFrame],
    backtests: pd.DataFrame,
    gates: Gates,
    champion: RunRecord | None = None,
    *,
    stored: OutputTally | None = None,
) -> GateResult:
    """Run every gate on a computed run (its outputs and backtest table) against ``champion``
    (the served run, whose metrics hold its backtest table). ``stored`` tallies the outputs
    the run has stored already (:meth:`~data.store.Store.add_outputs`), which count as its
    outputs as well."""
    checks: list[Check] = []
    tally = (stored or OutputTally()).merged(outputs)
    for name in gates.required_outputs:
        present = tally.rows.get(name, 0) > 0
        code = "output.present" if present else "output.missing"
        checks.append(Check.of(f"output:{name}", present, code, output=name))
    for name, missing in tally.missing.items():
        checks.append(
            Check.of(
                f"no_nan:{name}",
                missing == 0,
                "output.missing_values",
                output=name,
                missing=missing,
            )
        )
    selected = _selected(backtests)
    checks.extend(_coverage_checks(selected, gates))
    if champion is not None:
        previous = _selected(pd.DataFrame(champion.metrics.get("backtest", [])))
        for kind, row in selected.items():
            if kind not in previous:
                continue
            new, old = _float(row.get("relative")), _float(previous[kind].get("relative"))
            if new is None or old is None or _score(row) != _score(previous[kind]):
                continue
            limit = old * (1 + gates.max_worsening)
            checks.append(
                Check.of(
                    f"backtest:{kind}",
                    new <= limit,
                    "backtest.worsening",
                    kind=kind,
                    new=new,
                    champion=champion.id,
                    old=old,
                    limit=limit,
                )
            )
    return GateResult(tuple(checks), champion.id if champion is not None else None)


def _score(row: dict[str, Any]) -> str:
    """The score a backtest row's ``relative`` is on (runs recorded before the column existed
    scored every kind on ``owa``): relative MASE and OWA are not comparable."""
    return str(row.get("score") or "owa")


def coverage_limits(share: float, rows: int, confidence: float) -> tuple[float, float]:
    """One-sided Wilson score limits (lower, upper), each at ``confidence``, of a coverage
    ``share`` measured on ``rows`` rows.

    Rows of one backtest origin are not quite independent (a shared shock moves them
    together), so the true noise is somewhat larger: the check errs toward failing after a
    shock, and a failed run is kept for an admin to promote.
    """
    if rows < 1:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(confidence)
    p = min(max(share, 0.0), 1.0)
    denominator = 1 + z**2 / rows
    centre = (p + z**2 / (2 * rows)) / denominator
    half = z * math.sqrt(p * (1 - p) / rows + z**2 / (4 * rows**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _coverage_checks(selected: Mapping[str, Mapping[str, Any]], gates: Gates) -> list[Check]:
    """Coverage of the chosen forecasts' intervals per kind and level, within the bounds up to
    sampling noise (see :func:`coverage_limits`)."""
    checks: list[Check] = []
    for kind, row in selected.items():
        rows = _float(row.get("coverage_rows"))
        for level, (low, high) in ((80, gates.coverage_80), (95, gates.coverage_95)):
            name = f"coverage_{level}:{kind}"
            value = _float(row.get(f"coverage_{level}"))
            if value is None:
                checks.append(Check.of(name, True, "coverage.unchecked", kind=kind, level=level))
                continue
            said: dict[str, Param] = {
                "kind": kind,
                "level": level,
                "share": _pct(value),
                "low": low,
                "high": high,
            }
            if rows is None:
                checks.append(Check.of(name, low <= value <= high, "coverage.bounds", **said))
                continue
            # Pooled over regions, the rows share their years' shocks: the noise is judged on
            # the largest region's rows (forecasting.regions.pool_backtests).
            effective = _float(row.get("coverage_effective_rows"))
            regions = _float(row.get("regions"))
            code, judged, more = "coverage.plausible", int(rows), {}
            if effective is not None and regions is not None and regions > 1:
                code, judged = "coverage.pooled", int(effective)
                more = {"regions": int(regions), "effective": judged}
            least, most = coverage_limits(value, judged, gates.coverage_confidence)
            ok = most >= low and least <= high
            checks.append(
                Check.of(
                    name,
                    bool(ok),
                    code,
                    **said,
                    rows=int(rows),
                    least=least,
                    most=most,
                    **more,
                )
            )
    return checks


def backtest_records(backtests: pd.DataFrame) -> list[dict[str, Any]]:
    """The backtest table as JSON-ready rows (NaN becomes None) for a run's metrics."""
    frame = backtests.astype(object).where(backtests.notna(), None)
    return [dict(row) for row in frame.to_dict(orient="records")]


def check_balance_backtest(backtest: pd.DataFrame, gates: Gates) -> Check:
    """Whether the run's balance backtest (the rows of ``balance_backtest`` in its metrics)
    beats doing nothing clever.

    The balance fails when, averaged over the cut years, its rank correlation *and* its
    macro-F1 are both below those of one persistence baseline (plain, or with a trend): a
    method that one simple rule beats on ranking fields and on flagging shortages should not
    reach planners unseen. Each baseline is compared on its own, as a whole method — taking the
    better of the two per measure would hold the balance to a rule nobody runs. A measure that
    either side could not compute (rank correlation needs four fields per level and year) is
    not a loss. A skipped backtest, or one without scorable cells, passes with a note: there is
    nothing to hold the run back on.
    """
    name = "balance_backtest"
    if not gates.balance_gate:
        return Check.of(name, True, "balance.gate_off")
    if backtest.empty or "method" not in backtest.columns:
        return Check.of(name, True, "balance.skipped")
    balance = backtest[backtest["method"].astype(str).str.startswith("balance")]
    baselines = backtest[backtest["method"].astype(str).str.startswith("persistence")]
    if balance.empty or pd.to_numeric(balance["cells"]).sum() == 0 or baselines.empty:
        return Check.of(name, True, "balance.no_cells")
    measures = ["rank corr", "macro-F1"]
    ours = balance[measures].apply(pd.to_numeric).mean()
    cuts = ", ".join(str(c) for c in sorted(set(balance["cut"])))
    lost, compared = [], []
    for method, rows in baselines.groupby("method"):
        theirs = rows[measures].apply(pd.to_numeric).mean()
        compared.append(f"{method} {_number(theirs['rank corr'])}/{_number(theirs['macro-F1'])}")
        if all(
            not math.isnan(ours[m]) and not math.isnan(theirs[m]) and ours[m] < theirs[m]
            for m in measures
        ):
            lost.append(str(method))
    scores: dict[str, Param] = {
        "rank": _number(ours["rank corr"]),
        "f1": _number(ours["macro-F1"]),
        "compared": ", ".join(compared),
        "cuts": cuts,
    }
    if lost:
        return Check.of(name, False, "balance.loses", lost=" and ".join(lost), **scores)
    return Check.of(name, True, "balance.scores", **scores)


def with_checks(result: GateResult, *checks: Check) -> GateResult:
    """``result`` with more checks (the balance backtest, the change check): one gate result
    holds every check a run was held to."""
    return GateResult((*result.checks, *checks), result.champion_run)


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


def not_served_reason(record: RunRecord, lang: Lang = DEFAULT_LANGUAGE) -> str | None:
    """Why a succeeded run is not served: its failed gate checks in ``lang``, joined (None for
    a served run, one that passed every gate, or one that did not succeed). The API, the
    dashboard and the CLI show the same sentence, so an admin deciding on a challenger reads
    one reason."""
    if record.served or record.status is not RunStatus.SUCCEEDED:
        return None
    checks = record.metrics.get("gates", {}).get("checks", [])
    failed = [check_detail(check, lang) for check in checks if not check.get("passed", True)]
    return ("；" if lang == "zh" else "; ").join(failed) or None


@dataclass(frozen=True)
class NothingServed:
    """Why no run is served, from the newest run: none trained yet, one still to finish, one
    that failed, or one that finished but that a gate refused (``reason``). Planners read this
    instead of a bare "nothing served", and it says what an admin can do."""

    run: RunRecord | None
    reason: str | None = None

    @property
    def state(self) -> str:
        """``none``, ``pending``, ``running``, ``failed`` or ``refused``."""
        if self.run is None:
            return "none"
        if self.run.status is RunStatus.SUCCEEDED:
            return "refused"
        return self.run.status.value


def nothing_served(store: Store, lang: Lang = DEFAULT_LANGUAGE) -> NothingServed:
    """Why nothing is served (call it when no run is): judged from the newest run, the
    reason in ``lang``."""
    newest = store.latest_run(status=None)
    reason = not_served_reason(newest, lang) if newest is not None else None
    return NothingServed(newest, reason or "no reason was recorded")


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


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _pct(value: Any) -> str:
    number = _float(value)
    return "n/a" if number is None else f"{number:.0%}"


__all__: Sequence[str] = (
    "Check",
    "GateResult",
    "Gates",
    "PromotionError",
    "backtest_records",
    "check_balance_backtest",
    "check_detail",
    "check_gates",
    "coverage_limits",
    "not_served_reason",
    "promote",
    "rollback",
    "with_checks",
)

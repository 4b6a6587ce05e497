"""Enrollment quota recommendations: the next intake year's quota for every programme.

The quotas minimise the expected cost of shortage and surplus in each programme's graduation
year over the balance's joint samples (sample average approximation), as a linear programme
solved with HiGHS (scipy). For sample s and cell c = (field, level, graduation year):

    Σ_p a[s,p,c]·q_p + u[s,c] − o[s,c] = D[s,c] − S[s,c] + Σ_p a[s,p,c]·E[s,p]

where q_p is the quota, E[s,p] the business-as-usual intake of the sample, a[s,p,c] the
supply one entrant adds (crosswalk weight × completion × rates), D and S the demand and
business-as-usual supply; u and o are shortage and surplus, costed by the catalog's weights per
field. Subject to:
capacity, the maximum yearly change per programme, the city's total per level (fixed or in a
band), minimum viable intake (or stop, if allowed: then binary variables make it a MILP), and
the employment rules' limits as hard constraints. A tiny cost per seat changed keeps quotas
where they are when nothing is gained by moving them.

How much a recommendation depends on the particular samples is measured by re-solving on
resampled scenario sets: the 10%-90% range of those solutions is the recommendation's interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Final, Literal

import numpy as np
import pandas as pd
from scipy import optimize, sparse

from data.vocabulary import LEVELS
from forecasting.executors import Executor, SerialExecutor
from forecasting.rules import LIMIT_COLUMNS, rule_names
from forecasting.scenarios import BalanceSamples, apply_quotas, cost_weights
from forecasting.wording import format_probability


class Reason(StrEnum):
    """Why a quota is what it is: the codes of a recommendation's ``reasons`` column (its
    ``reason_zh`` / ``reason_en`` say the same in sentences). Pages and exports name each code
    in the reader's language, so a new code needs its words there too."""

    RULE_STOP = "RULE_STOP"
    RULE_PAUSE = "RULE_PAUSE"
    RULE_LIMIT = "RULE_LIMIT"
    SHORTAGE_EXPAND = "SHORTAGE_EXPAND"
    SURPLUS_REDUCE = "SURPLUS_REDUCE"
    REBALANCE = "REBALANCE"
    UNCHANGED = "UNCHANGED"
    AT_CHANGE_CAP = "AT_CHANGE_CAP"
    AT_CAPACITY = "AT_CAPACITY"
    STOPPED = "STOPPED"


#: Smallest intake that keeps a programme running, per level (a class, a cohort of doctors).
DEFAULT_MIN_VIABLE: Final[dict[str, float]] = {
    "secondary_vocational": 20.0,
    "higher_vocational": 20.0,
    "bachelor": 20.0,
    "master": 5.0,
    "doctor": 3.0,
}


class QuotaError(ValueError):
    """The quota problem cannot be solved as set; the message says which setting to change."""


@dataclass(frozen=True)
class QuotaSettings:
    """Policy levers of the optimiser.

    ``max_change``: largest yearly change of a programme's quota, as a share of its current
    quota; ``totals``: city total quota per level (default: this year's intake); ``total_band``:
    allowed deviation from it (0: exactly); ``allow_stop``: whether the optimiser may stop a
    programme by itself (rules may always); ``costs``: (shortage, surplus) cost per person for
    the fields of a tier, instead of the catalog's per-field weights;
    ``scenarios``/``resamples``: samples in the optimisation and re-solves for the interval.
    """

    max_change: float = 0.2
    totals: Mapping[str, float] | None = None
    total_band: float = 0.0
    allow_stop: bool = False
    min_viable: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_VIABLE))
    costs: Mapping[str, tuple[float, float]] | None = None
    capacity_factor: float = 1.5
    scenarios: int = 200
    resamples: int = 8
    change_penalty: float = 1e-3
    seed: int = 7

    def __post_init__(self) -> None:
        if not 0 <= self.max_change <= 1:
            raise QuotaError(f"max_change must be between 0 and 1, got {self.max_change}")
        if not 0 <= self.total_band <= 1:
            raise QuotaError(f"total_band must be between 0 and 1, got {self.total_band}")
        if self.scenarios < 10:
            raise QuotaError(f"scenarios must be at least 10, got {self.scenarios}")
        if self.capacity_factor < 1:
            raise QuotaError(f"capacity_factor must be at least 1, got {self.capacity_factor}")


@dataclass(frozen=True)
class _Problem:
    """The programmes decided on and the bounds of their quotas."""

    positions: np.ndarray
    current: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    viable: np.ndarray
    stoppable: np.ndarray
    upper_reason: list[str]
    rule_codes: list[str]
    rule_actions: list[str]


Bound = Literal["capacity", "change_up", "change_down", "rule", "total_quota"]


def recommend_quotas(
    samples: BalanceSamples,
    limits: pd.DataFrame,
    settings: QuotaSettings,
    programme_fields: Mapping[str, str],
    field_names: Mapping[str, tuple[str, str]] | None = None,
    *,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Recommended quotas for the intake year after the last observed one, per programme.

    ``limits`` are the rules' hard limits (:data:`forecasting.rules.LIMIT_COLUMNS`; the
    ``action`` column, when present, tells a pause from a stop in the reasons);
    ``programme_fields`` the main field of each programme (``code|level`` → field);
    ``field_names`` the Chinese and English name of each field, for the reasons' text.
    The solve and its re-solves on resampled scenarios are independent tasks on ``executor``
    (default: one after another here); every scenario set is drawn before any is solved, so
    the result is the same on any executor.
    """
    problem = _bounds(samples, limits, settings)
    rng = np.random.default_rng(settings.seed)
    take = min(settings.scenarios, samples.n_samples)
    chosen = rng.choice(samples.n_samples, size=take, replace=False)
    draws = [
        chosen,
        *(rng.choice(chosen, size=take, replace=True) for _ in range(settings.resamples)),
    ]
    solve = partial(_solve, samples, problem, settings)
    solution, *resampled = (executor or SerialExecutor()).map(solve, draws)
    spread = np.array(resampled) if resampled else solution[None, :]
    return _report(
        samples,
        problem,
        settings=settings,
        solution=_whole_seats(samples, problem, solution),
        spread=spread,
        programme_fields=programme_fields,
        field_names=field_names or {},
    )


def _bounds(samples: BalanceSamples, limits: pd.DataFrame, settings: QuotaSettings) -> _Problem:
    missing = [column for column in LIMIT_COLUMNS if column not in limits.columns]
    if missing:
        raise QuotaError(
            f"the rules' limits lack the column(s) {', '.join(missing)}; build them with "
            "forecasting.rules.quota_limits"
        )
    current = samples.current_quota
    positions = np.flatnonzero(current > 0)
    rule_max = pd.Series(np.inf, index=list(samples.programmes))
    rule_codes = pd.Series("", index=list(samples.programmes))
    rule_actions = pd.Series("", index=list(samples.programmes))
    for row in limits.itertuples(index=False):
        key = f"{row.programme_code}|{row.level}"
        if key in rule_max.index and pd.notna(row.max_quota):
            if float(row.max_quota) < rule_max[key]:
                rule_actions[key] = str(row.action)
            rule_max[key] = min(rule_max[key], float(row.max_quota))
            rule_codes[key] = ",".join(filter(None, (rule_codes[key], str(row.rules))))
    lower, upper, viable, stoppable, reasons, codes, actions = [], [], [], [], [], [], []
    for p in positions:
        key = samples.programmes[p]
        level = key.split("|")[1]
        c = float(current[p])
        candidates = {
            "change_up": (1 + settings.max_change) * c,
            "capacity": max(float(samples.capacity[p]), c),
            "rule": float(rule_max[key]),
        }
        reason = min(candidates, key=lambda name: candidates[name])
        # Whole seats: bounds are rounded inwards, so that rounding the solution cannot leave
        # them (a 20% cap on 37 seats allows 44, not 44.4).
        high = float(np.floor(candidates[reason] + 1e-9))
        low = float(np.ceil((1 - settings.max_change) * c - 1e-9))
        if high < low:  # a rule overrides the change limit
            low = 0.0
        minimum = float(settings.min_viable.get(level, 0.0))
        lower.append(low)
        upper.append(high)
        viable.append(min(max(low, minimum), high))
        stoppable.append(settings.allow_stop or high == 0.0)
        reasons.append(reason)
        codes.append(str(rule_codes[key]))
        actions.append(str(rule_actions[key]))
    return _Problem(
        positions,
        current[positions],
        np.array(lower),
        np.array(upper),
        np.array(viable),
        np.array(stoppable),
        reasons,
        codes,
        actions,
    )


def _level_totals(
    samples: BalanceSamples, problem: _Problem, settings: QuotaSettings
) -> dict[int, tuple[float, float]]:
    totals: dict[int, tuple[float, float]] = {}
    levels = samples.level_index[problem.positions]
    for index, level in enumerate(samples.levels):
        members = levels == index
        if not members.any():
            continue
        target = (
            float(settings.totals[level])
            if settings.totals and level in settings.totals
            else float(problem.current[members].sum())
        )
        low = float(np.ceil(target * (1 - settings.total_band) - 1e-9))
        high = float(np.floor(target * (1 + settings.total_band) + 1e-9))
        floors = np.where(problem.stoppable[members], 0, problem.viable[members])
        reachable_low = float(floors.sum())
        reachable_high = float(problem.upper[members].sum())
        if reachable_low > high + 1e-6 or reachable_high < low - 1e-6:
            raise QuotaError(
                f"the {level} total quota {target:,.0f} (band ±{settings.total_band:.0%}) cannot "
                f"be met: programme limits allow {reachable_low:,.0f}-{reachable_high:,.0f}. "
                "Raise max_change or total_band, or set a reachable total"
            )
        totals[index] = (low, high)
    return totals


def _solve(
    samples: BalanceSamples, problem: _Problem, settings: QuotaSettings, chosen: np.ndarray
) -> np.ndarray:
    """Optimal quotas (per decided programme) on the scenarios ``chosen``."""
    n_p = len(problem.positions)
    year = samples.first_year
    shortage_w, surplus_w = cost_weights(samples, settings.costs)
    # Cells touched by some programme's graduation year, with demand data and a cost.
    contributions: dict[tuple[int, int, int], dict[int, np.ndarray]] = {}
    baseline_shift: dict[tuple[int, int, int], np.ndarray] = {}
    for i, p in enumerate(problem.positions):
        j, per_entrant = samples.contribution(int(p), year)
        if j < 0:
            continue
        level = int(samples.level_index[p])
        for target in np.flatnonzero(samples.weights[p] > 0):
            if not samples.observed[target, level] or shortage_w[target] + surplus_w[target] == 0:
                continue
            cell = (int(target), level, j)
            # Coefficients below a millionth of a person are noise to the solver (rates of
            # 1e-80 occur in far tails) and can stall it: they are zero.
            a = per_entrant[chosen, target]
            a = np.where(a < 1e-6, 0.0, a)
            contributions.setdefault(cell, {})[i] = a
            shift = a * samples.intake[chosen, p, 0]
            baseline_shift[cell] = baseline_shift.get(cell, 0) + shift
    cells = sorted(contributions)
    n_s, n_c = len(chosen), len(cells)
    stop_vars = settings.allow_stop or bool(problem.stoppable.any())
    n_z = n_p if stop_vars else 0
    # Variable layout: q (n_p) | z (n_z) | u (n_s·n_c) | o (n_s·n_c) | up (n_p) | down (n_p)
    q0, z0 = 0, n_p
    u0 = n_p + n_z
    o0 = u0 + n_s * n_c
    d0 = o0 + n_s * n_c
    n_vars = d0 + 2 * n_p
    cost = np.zeros(n_vars)
    rows, cols, vals, lower_b, upper_b = [], [], [], [], []
    row = 0
    for k, cell in enumerate(cells):
        f, level, j = cell
        cost[u0 + k * n_s : u0 + (k + 1) * n_s] = shortage_w[f] / n_s
        cost[o0 + k * n_s : o0 + (k + 1) * n_s] = surplus_w[f] / n_s
        rhs = (
            samples.demand[chosen, f, level, j]
            - samples.supply[chosen, f, level, j]
            + baseline_shift[cell]
        )
        for s in range(n_s):
            for i, a in contributions[cell].items():
                rows.append(row)
                cols.append(q0 + i)
                vals.append(a[s])
            rows += [row, row]
            cols += [u0 + k * n_s + s, o0 + k * n_s + s]
            vals += [1.0, -1.0]
            lower_b.append(rhs[s])
            upper_b.append(rhs[s])
            row += 1
    cost[d0:] = settings.change_penalty
    for i in range(n_p):  # q − up + down = current
        rows += [row, row, row]
        cols += [q0 + i, d0 + i, d0 + n_p + i]
        vals += [1.0, -1.0, 1.0]
        lower_b.append(problem.current[i])
        upper_b.append(problem.current[i])
        row += 1
    for index, (low, high) in _level_totals(samples, problem, settings).items():
        members = np.flatnonzero(samples.level_index[problem.positions] == index)
        rows += [row] * len(members)
        cols += [q0 + int(i) for i in members]
        vals += [1.0] * len(members)
        lower_b.append(low)
        upper_b.append(high)
        row += 1
    var_low = np.zeros(n_vars)
    var_high = np.full(n_vars, np.inf)
    integrality = np.zeros(n_vars)
    if stop_vars:
        # q ≤ upper·z and q ≥ viable·z; z fixed to 1 where stopping is not allowed.
        for i in range(n_p):
            rows += [row, row]
            cols += [q0 + i, z0 + i]
            vals += [1.0, -problem.upper[i]]
            lower_b.append(-np.inf)
            upper_b.append(0.0)
            row += 1
            rows += [row, row]
            cols += [q0 + i, z0 + i]
            vals += [1.0, -problem.viable[i]]
            lower_b.append(0.0)
            upper_b.append(np.inf)
            row += 1
        var_high[z0 : z0 + n_p] = 1.0
        var_low[z0 : z0 + n_p] = np.where(problem.stoppable, 0.0, 1.0)
        integrality[z0 : z0 + n_p] = 1
        var_high[q0 : q0 + n_p] = problem.upper
        var_low[q0 : q0 + n_p] = np.where(problem.stoppable, 0.0, problem.lower)
    else:
        var_low[q0 : q0 + n_p] = problem.lower
        var_high[q0 : q0 + n_p] = problem.upper
    matrix = sparse.csr_array((vals, (rows, cols)), shape=(row, n_vars))
    result = optimize.milp(
        cost,
        constraints=optimize.LinearConstraint(matrix, np.array(lower_b), np.array(upper_b)),
        bounds=optimize.Bounds(var_low, var_high),
        integrality=integrality if stop_vars else None,
        options={"time_limit": 60.0},
    )
    if result.x is None:
        raise QuotaError(f"the quota problem has no solution: {result.message}")
    return np.asarray(result.x[q0 : q0 + n_p])


def _report(
    samples: BalanceSamples,
    problem: _Problem,
    *,
    settings: QuotaSettings,
    solution: np.ndarray,
    spread: np.ndarray,
    programme_fields: Mapping[str, str],
    field_names: Mapping[str, tuple[str, str]],
) -> pd.DataFrame:
    year = samples.first_year
    quotas = {
        samples.programmes[p]: {year: float(q)}
        for p, q in zip(problem.positions, solution, strict=True)
    }
    after = apply_quotas(samples, quotas)
    totals = _level_totals(samples, problem, settings)
    level_sums = {
        index: float(solution[samples.level_index[problem.positions] == index].sum())
        for index in totals
    }
    rows = []
    for i, p in enumerate(problem.positions):
        key = samples.programmes[p]
        code, level = key.split("|")
        field_code = programme_fields.get(key, "other")
        f = samples.fields.index(field_code) if field_code in samples.fields else -1
        lv = int(samples.level_index[p])
        graduation = year + int(samples.duration[p])
        j = graduation - year
        before = after_gap = p_before = p_after = np.nan
        if f >= 0 and 0 <= j < len(samples.years) and samples.observed[f, lv]:
            gap_before = samples.demand[:, f, lv, j] - samples.supply[:, f, lv, j]
            gap_after = samples.demand[:, f, lv, j] - after[:, f, lv, j]
            before, after_gap = float(gap_before.mean()), float(gap_after.mean())
            p_before, p_after = float((gap_before > 0).mean()), float((gap_after > 0).mean())
        quota, current = float(solution[i]), float(problem.current[i])
        binding = _binding(problem, i, quota, level_sums.get(lv), totals.get(lv))
        reasons = _reasons(
            problem, i, quota=quota, current=current, p_before=p_before, binding=binding
        )
        names = field_names.get(field_code, (field_code, field_code))
        zh, en = _texts(
            reasons,
            quota=quota,
            current=current,
            names=names,
            graduation=graduation,
            p_before=p_before,
            rule_cap=(float(problem.upper[i]), problem.rule_codes[i]),
        )
        rows.append(
            {
                "programme_code": code,
                "level": level,
                "field_code": field_code,
                "intake_year": year,
                "graduation_year": graduation,
                "current_quota": current,
                "recommended_quota": quota,
                "change": quota - current,
                "change_pct": (quota - current) / current if current else np.nan,
                "quota_p10": float(np.percentile(spread[:, i], 10)),
                "quota_p90": float(np.percentile(spread[:, i], 90)),
                "gap_before": before,
                "gap_after": after_gap,
                "p_shortage_before": p_before,
                "p_shortage_after": p_after,
                "binding": ",".join(binding),
                "reasons": ",".join(reasons),
                "reason_zh": zh,
                "reason_en": en,
            }
        )
    frame = pd.DataFrame(rows)
    order = {level: i for i, level in enumerate(LEVELS)}
    return frame.sort_values(
        ["level", "programme_code"], key=lambda c: c.map(order) if c.name == "level" else c
    ).reset_index(drop=True)


def with_stopped(
    recommendations: pd.DataFrame,
    stopped: pd.DataFrame,
    last_year: int,
    programme_fields: Mapping[str, str],
) -> pd.DataFrame:
    """The recommendations with a row for each programme that has stopped enrolling
    (:func:`forecasting.rules.stopped_programmes`): quota 0, kept at 0 and said so, rather than
    no row at all (the optimiser decides only programmes that take students).

    ``last_year`` is the last year with enrollment data; ``programme_fields`` the main field
    of each programme (``code|level`` → field). A programme the optimiser did decide keeps its
    row.
    """
    keys = set(zip(recommendations["programme_code"], recommendations["level"], strict=True))
    intake_year = last_year + 1
    rows = []
    for row in stopped.itertuples(index=False):
        if (row.programme_code, row.level) in keys:
            continue
        since = int(row.stopped_since)
        span_zh = f"{since}年" if since == last_year else f"{since}—{last_year}年"
        span_en = f"{since}" if since == last_year else f"{since}-{last_year}"
        rows.append(
            {
                "programme_code": row.programme_code,
                "level": row.level,
                "field_code": programme_fields.get(f"{row.programme_code}|{row.level}", "other"),
                "intake_year": intake_year,
                "current_quota": 0.0,
                "recommended_quota": 0.0,
                "change": 0.0,
                "quota_p10": 0.0,
                "quota_p90": 0.0,
                "binding": "",
                "reasons": Reason.STOPPED.value,
                "reason_zh": f"自{since}年起停止招生（{span_zh}无新生），不安排招生计划。",
                "reason_en": f"Stopped enrolling in {since} (no intake {span_en}): no quota.",
                "stopped_since": since,
            }
        )
    if not rows:
        return recommendations.assign(stopped_since=pd.array([None] * len(recommendations)))
    combined = pd.concat([recommendations, pd.DataFrame(rows)], ignore_index=True)
    combined["stopped_since"] = combined["stopped_since"].astype("Int64")
    order = {level: i for i, level in enumerate(LEVELS)}
    return combined.sort_values(
        ["level", "programme_code"], key=lambda c: c.map(order) if c.name == "level" else c
    ).reset_index(drop=True)


def _binding(
    problem: _Problem,
    i: int,
    quota: float,
    level_sum: float | None,
    band: tuple[float, float] | None,
) -> list[str]:
    tolerance = max(0.5, 1e-4 * problem.upper[i])
    binding: list[str] = []
    if quota >= problem.upper[i] - tolerance:
        binding.append(problem.upper_reason[i])
    if problem.lower[i] > 0 and quota <= problem.lower[i] + tolerance:
        binding.append("change_down")
    if level_sum is not None and band is not None:
        low, high = band
        if abs(level_sum - low) < 1.0 or abs(level_sum - high) < 1.0:
            binding.append("total_quota")
    return binding


def _reasons(
    problem: _Problem,
    i: int,
    *,
    quota: float,
    current: float,
    p_before: float,
    binding: list[str],
) -> list[str]:
    reasons: list[str] = []
    if problem.upper_reason[i] == "rule" and "rule" in binding:
        if problem.upper[i] > 0:
            reasons.append(Reason.RULE_LIMIT)
        elif problem.rule_actions[i] == "alternate_years":
            reasons.append(Reason.RULE_PAUSE)
        else:
            reasons.append(Reason.RULE_STOP)
    change = quota - current
    if abs(change) < 0.5:
        reasons.append(Reason.UNCHANGED)
    elif change > 0:
        reasons.append(Reason.SHORTAGE_EXPAND if p_before > 0.5 else Reason.REBALANCE)
    elif not {Reason.RULE_STOP, Reason.RULE_PAUSE, Reason.RULE_LIMIT} & set(reasons):
        # Without demand data for its field (NaN) a cut only makes room elsewhere.
        known = not np.isnan(p_before)
        reasons.append(Reason.SURPLUS_REDUCE if known and p_before <= 0.5 else Reason.REBALANCE)
    if "change_up" in binding or "change_down" in binding:
        reasons.append(Reason.AT_CHANGE_CAP)
    if "capacity" in binding:
        reasons.append(Reason.AT_CAPACITY)
    return reasons


def _texts(
    reasons: list[str],
    *,
    quota: float,
    current: float,
    names: tuple[str, str],
    graduation: int,
    p_before: float,
    rule_cap: tuple[float, str],
) -> tuple[str, str]:
    """Reasons a planner can read out, in Chinese and English."""
    probability = "" if np.isnan(p_before) else format_probability(p_before)
    name_zh, name_en = names
    cap, codes = rule_cap
    named = rule_names(codes, "zh")
    zh, en = [], []
    for reason in reasons:
        if reason == Reason.RULE_STOP:
            zh.append(f"就业规则要求停止招生（{named}）")
            en.append(f"employment rules require stopping enrollment ({codes})")
        elif reason == Reason.RULE_PAUSE:
            zh.append(f"就业规则要求隔年招生，本年度暂停招生（{named}）")
            en.append(
                f"employment rules allow enrollment only every other year: no intake this year "
                f"({codes})"
            )
        elif reason == Reason.RULE_LIMIT:
            zh.append(f"就业规则将招生上限定为{cap:,.0f}人（{named}）")
            en.append(f"employment rules cap the quota at {cap:,.0f} ({codes})")
        elif reason == Reason.SHORTAGE_EXPAND:
            zh.append(f"{graduation}年{name_zh}领域人才短缺概率{probability}，扩大招生")
            en.append(
                f"{name_en} is short of graduates in {graduation} (probability {probability})"
            )
        elif reason == Reason.SURPLUS_REDUCE:
            zh.append(
                f"{graduation}年{name_zh}领域短缺概率仅{probability}，毕业生将供过于求，调减招生"
            )
            en.append(
                f"{name_en} is short in {graduation} with probability only {probability}: "
                "graduates would exceed openings"
            )
        elif reason == Reason.REBALANCE:
            zh.append("在全市招生总量内调配名额：本专业毕业生进入紧缺领域的比例较低")
            en.append(
                "places moved within the city's total quota to programmes whose graduates reach "
                "short fields more often"
            )
        elif reason == Reason.UNCHANGED:
            zh.append("维持现有规模")
            en.append("keep the current quota")
        elif reason == Reason.AT_CHANGE_CAP:
            zh.append("已达年度调整幅度上限")
            en.append("limited by the maximum yearly change")
        elif reason == Reason.AT_CAPACITY:
            zh.append("已达办学能力上限")
            en.append("limited by capacity")
    head_zh = f"建议招生{quota:,.0f}人（现为{current:,.0f}人）："
    head_en = f"Recommended {quota:,.0f} (now {current:,.0f}): "
    return head_zh + "；".join(zh) + "。", head_en + "; ".join(en) + "."


def _whole_seats(samples: BalanceSamples, problem: _Problem, solution: np.ndarray) -> np.ndarray:
    """Quotas in whole persons, each level's total kept (largest-remainder rounding), and
    never outside a programme's bounds."""
    rounded = np.floor(solution + 1e-6)
    levels = samples.level_index[problem.positions]
    for level in np.unique(levels):
        members = np.flatnonzero(levels == level)
        missing = round(float(solution[members].sum() - rounded[members].sum()))
        remainders = (solution - rounded)[members]
        for index in members[np.argsort(-remainders, kind="stable")]:
            if missing <= 0:
                break
            if rounded[index] + 1 <= problem.upper[index] + 1e-9:
                rounded[index] += 1
                missing -= 1
    return rounded

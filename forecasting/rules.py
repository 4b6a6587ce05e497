"""Employment rules: enrollment limits tied to the graduate destination rate (毕业去向落实率).

The Ministry of Education (2011) and Tianjin (2009) tie a programme's enrollment quota to how
many of its graduates found a destination (:meth:`Policy.default` holds them, each with its
source, threshold, years and action; `talentcast policy export` writes them out). These rules
are policy, not forecasts: they are applied to *observed* outcomes, shown beside the
forecast-based signals, and turned into hard limits the quota optimiser must respect.
Thresholds change with policy, so they are configuration (:class:`Policy`, JSON for the admin,
recorded with every run), never constants buried in code.

The metric is placed / graduates of a programme's graduating cohort per year, from the city
totals in :attr:`TalentData.outcomes`. A rule over N years fires when the rate is below its
threshold in each of the programme's latest N years *with outcome data* and those years are
consecutive calendar years: a year without data (or without graduates) is not evidence either
way, so it breaks the run rather than being bridged. The ``other`` lines (everything outside the
priority fields, one per level) are not programmes and never get warnings.

Beside the threshold rules, the duplicate-programme signal looks for several programmes of the
same main field and level that all place clearly worse than their level: Tianjin publishes
warning lists of over-supplied programmes, and such a cluster is the typical case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import pandas as pd

from data.catalog import OTHER, Catalog
from data.messages import Lang, Message
from data.vocabulary import LEVEL_NAMES_ZH
from features.rates import primary_fields
from features.talent import TalentData, programme_key

#: Rule code of the duplicate-programme signal (reserved: no threshold rule may use it).
DUPLICATE_RULE: Final = "duplicate_low_placement"

#: What planners call the rules in force by default (and the duplicate signal): a warning and a
#: rule-bound quota name its rule this way on a page. A city's own rule, from its policy file,
#: is named by its code, as the city wrote it.
RULE_NAMES: Final[dict[str, Message]] = {
    "moe_2011_reduce": Message(
        en="MoE 2011 rule: reduce the quota", zh="教育部2011年规定：调减招生计划"
    ),
    "tj_2009_cap_at_placed": Message(
        en="Tianjin 2009 rule: cap at last year's placed",
        zh="天津市2009年规定：不超过上年落实人数",
    ),
    "tj_2009_alternate_years": Message(
        en="Tianjin 2009 rule: alternate years", zh="天津市2009年规定：隔年招生"
    ),
    "tj_2009_stop_below_30": Message(
        en="Tianjin 2009 rule: stop below 30%", zh="天津市2009年规定：落实率低于30%停招"
    ),
    "tj_2009_stop_below_40_twice": Message(
        en="Tianjin 2009 rule: stop below 40% two years running",
        zh="天津市2009年规定：连续两年落实率低于40%停招",
    ),
    "tj_2009_no_new_points": Message(
        en="Tianjin 2009 rule: no new points", zh="天津市2009年规定：不得新增布点"
    ),
    DUPLICATE_RULE: Message(
        en="duplicate programmes with low placement", zh="重复设置且落实率偏低的专业"
    ),
}


def rule_name(code: str, lang: Lang) -> str:
    """The rule ``code`` as planners read it in ``lang``; a city's own code as written."""
    name = RULE_NAMES.get(code)
    return code if name is None else name.template(lang)


def rule_names(codes: str, lang: Lang) -> str:
    """Comma-separated rule codes (as quota limits store them) named in ``lang``."""
    named = [rule_name(code, lang) for code in codes.split(",") if code]
    return ("、" if lang == "zh" else ", ").join(named)


WARNING_COLUMNS: Final = (
    "programme_code",
    "level",
    "rule",
    "action",
    "first_year",
    "last_year",
    "rate_last",
    "rate_previous",
    "graduates_last",
    "placed_last",
    "threshold",
    "message_zh",
    "message_en",
)
_WARNING_DTYPES: Final[dict[str, str]] = {
    "first_year": "int64",
    "last_year": "int64",
    "rate_last": "float64",
    "rate_previous": "float64",
    "graduates_last": "int64",
    "placed_last": "int64",
    "threshold": "float64",
}
LIMIT_COLUMNS: Final = ("programme_code", "level", "max_quota", "action", "rules")
#: Years in a row without intake after which a programme counts as stopped (one is a pause).
STOPPED_AFTER_YEARS: Final = 2

_RULE_CODE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RULE_KEYS: Final = (
    "code",
    "authority",
    "threshold",
    "consecutive_years",
    "action",
    "description_zh",
    "description_en",
)
_POLICY_KEYS: Final = (
    "rules",
    "reduce_share",
    "duplicate_min_programmes",
    "duplicate_margin",
    "duplicate_years",
)
_COUNT_ZH: Final = {
    2: "两",
    3: "三",
    4: "四",
    5: "五",
    6: "六",
    7: "七",
    8: "八",
    9: "九",
    10: "十",
}
_COUNT_EN: Final = {
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
}


class PolicyError(ValueError):
    """The policy configuration is invalid: ``problems`` holds every problem found, each
    naming the offending rule, key or value (the message joins them)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class Action(StrEnum):
    """What a fired rule asks of next year's quota (or of the programme's expansion)."""

    STOP = "stop"
    ALTERNATE_YEARS = "alternate_years"
    CAP_AT_PLACED = "cap_at_placed"
    REDUCE = "reduce"
    NO_NEW_POINTS = "no_new_points"
    REVIEW_DUPLICATES = "review_duplicates"


#: Actions that never limit a quota: they are signals for the planner, not constraints.
_NON_LIMITING: Final = frozenset({Action.NO_NEW_POINTS, Action.REVIEW_DUPLICATES})
#: Limiting actions, harshest first (breaks ties between equal limits).
_SEVERITY: Final = (Action.STOP, Action.ALTERNATE_YEARS, Action.CAP_AT_PLACED, Action.REDUCE)


@dataclass(frozen=True)
class Rule:
    """One employment threshold: below ``threshold`` for ``consecutive_years`` → ``action``.

    ``code`` is a stable ASCII id (it is stored with warnings and quota limits, so renaming it
    breaks comparisons between runs); ``authority`` says whose rule it is ("MOE 2011");
    ``description_zh`` / ``description_en`` are the consequence as planners read it, and end
    each warning message.
    """

    code: str
    authority: str
    threshold: float
    consecutive_years: int
    action: Action
    description_zh: str
    description_en: str

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.code, str) or not _RULE_CODE.match(self.code):
            problems.append(
                f"rule code {self.code!r} must be an ASCII id (letters, digits, '_', '.', '-')"
            )
        if self.code == DUPLICATE_RULE:
            problems.append(
                f"rule code {DUPLICATE_RULE!r} is reserved for the duplicate-programme signal"
            )
        for name in ("authority", "description_zh", "description_en"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                problems.append(f"rule {self.code}: {name} must be a non-empty text")
        threshold = self.threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
            or not 0 < threshold <= 1
        ):
            problems.append(
                f"rule {self.code}: threshold must be a rate in (0, 1], got {threshold!r}"
            )
        years = self.consecutive_years
        if isinstance(years, bool) or not isinstance(years, int) or years < 1:
            problems.append(
                f"rule {self.code}: consecutive_years must be a whole number of at least 1, "
                f"got {years!r}"
            )
        try:
            action = _parse_action(self.action, f"rule {self.code}")
        except PolicyError as error:
            problems += error.problems
        else:
            if action is Action.REVIEW_DUPLICATES:
                problems.append(
                    f"rule {self.code}: {action.value!r} is the duplicate-programme signal's "
                    "action, set by the policy's duplicate_* settings, not by a threshold rule"
                )
        if problems:
            raise PolicyError(*problems)
        object.__setattr__(self, "action", action)
        object.__setattr__(self, "threshold", float(threshold))

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "authority": self.authority,
            "threshold": self.threshold,
            "consecutive_years": self.consecutive_years,
            "action": self.action.value,
            "description_zh": self.description_zh,
            "description_en": self.description_en,
        }

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], position: int | None = None) -> Rule:
        """A rule from its JSON object; ``position`` (1 for the first rule) names a rule
        without a code in the problems."""
        code = mapping.get("code") if isinstance(mapping, Mapping) else None
        where = f"rule {code}" if code is not None else f"rule #{position or '?'}"
        _check_keys(mapping, _RULE_KEYS, required=_RULE_KEYS, where=where)
        return cls(
            code=mapping["code"],
            authority=mapping["authority"],
            threshold=mapping["threshold"],
            consecutive_years=_whole(mapping["consecutive_years"], f"{where}: consecutive_years"),
            action=mapping["action"],
            description_zh=mapping["description_zh"],
            description_en=mapping["description_en"],
        )


@dataclass(frozen=True)
class Policy:
    """The employment rules in force, and the settings of the duplicate-programme signal.

    ``reduce_share``: a REDUCE rule caps next year's quota at (1 − reduce_share) × the current
    quota (the MoE rule says "reduce", not by how much, so the amount is policy).
    ``duplicate_min_programmes``: how many low-placing programmes of one main field and level
    make a duplicate cluster; ``duplicate_margin``: how far (as a rate) below the level's pooled
    placement a programme must be to count as low; ``duplicate_years``: how many recent years
    are pooled (one year of a small programme is mostly noise).
    """

    rules: tuple[Rule, ...]
    reduce_share: float = 0.1
    duplicate_min_programmes: int = 2
    duplicate_margin: float = 0.05
    duplicate_years: int = 2
    _rule_order: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.rules, str | bytes) or not isinstance(self.rules, Sequence):
            raise PolicyError(f"rules must be a sequence of rules, got {type(self.rules).__name__}")
        rules = tuple(self.rules)
        problems = [
            f"rules must hold Rule objects, got {type(rule).__name__}"
            for rule in rules
            if not isinstance(rule, Rule)
        ]
        codes = [rule.code for rule in rules if isinstance(rule, Rule)]
        duplicated = sorted({code for code in codes if codes.count(code) > 1})
        if duplicated:
            problems.append(f"rule codes must be unique, repeated: {', '.join(duplicated)}")
        problems += _setting_problems(self)
        if problems:
            raise PolicyError(*problems)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "reduce_share", float(self.reduce_share))
        object.__setattr__(self, "duplicate_margin", float(self.duplicate_margin))
        object.__setattr__(self, "_rule_order", {code: i for i, code in enumerate(codes)})

    @classmethod
    def default(cls) -> Policy:
        """The rules in force by default: MoE 2011 and Tianjin 2009 (each rule's text names it)."""
        moe = "依据教育部2011年规定，"
        moe_en = "under the 2011 Ministry of Education rule "
        tj = "依据天津市2009年规定，"
        tj_en = "under the 2009 Tianjin rule "
        return cls(
            rules=(
                Rule(
                    "moe_2011_reduce",
                    "MOE 2011",
                    0.6,
                    2,
                    Action.REDUCE,
                    moe + "应调减招生计划直至停招",
                    moe_en + "the quota should be reduced, up to stopping enrollment",
                ),
                Rule(
                    "tj_2009_cap_at_placed",
                    "Tianjin 2009",
                    0.6,
                    1,
                    Action.CAP_AT_PLACED,
                    tj + "下一年招生计划不得超过上一年实际落实去向的毕业生人数",
                    tj_en + "next year's quota may not exceed last year's number of graduates "
                    "actually placed",
                ),
                Rule(
                    "tj_2009_alternate_years",
                    "Tianjin 2009",
                    0.4,
                    1,
                    Action.ALTERNATE_YEARS,
                    tj + "该专业只能隔年招生",
                    tj_en + "the programme may enroll only every other year",
                ),
                Rule(
                    "tj_2009_stop_below_30",
                    "Tianjin 2009",
                    0.3,
                    1,
                    Action.STOP,
                    tj + "应停止招生",
                    tj_en + "enrollment should stop",
                ),
                Rule(
                    "tj_2009_stop_below_40_twice",
                    "Tianjin 2009",
                    0.4,
                    2,
                    Action.STOP,
                    tj + "应停止招生",
                    tj_en + "enrollment should stop",
                ),
                Rule(
                    "tj_2009_no_new_points",
                    "Tianjin 2009",
                    0.6,
                    3,
                    Action.NO_NEW_POINTS,
                    tj + "不得申请新增该专业布点",
                    tj_en + "no new points of this programme may be applied for",
                ),
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what the admin edits and what a run records)."""
        return {
            "rules": [rule.to_dict() for rule in self.rules],
            "reduce_share": self.reduce_share,
            "duplicate_min_programmes": self.duplicate_min_programmes,
            "duplicate_margin": self.duplicate_margin,
            "duplicate_years": self.duplicate_years,
        }

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> Policy:
        """Parse the admin's JSON policy; unknown keys and actions are refused, not ignored
        (a misspelt key silently falling back to a default would change quotas unnoticed).
        Every problem of the file is reported at once, not only the first."""
        if not isinstance(mapping, Mapping):
            raise PolicyError(f"policy must be an object with keys, got {type(mapping).__name__}")
        problems = _key_problems(mapping, _POLICY_KEYS, required=("rules",), where="policy")
        raw_rules = mapping.get("rules", [])
        if isinstance(raw_rules, str | bytes | Mapping) or not isinstance(raw_rules, Sequence):
            problems.append("policy: rules must be a list of rule objects")
            raw_rules = []
        settings: dict[str, Any] = {}
        for name in ("duplicate_min_programmes", "duplicate_years"):
            if name in mapping:
                settings[name] = _whole(mapping[name], f"policy: {name}")
        for name in ("reduce_share", "duplicate_margin"):
            if name in mapping:
                settings[name] = mapping[name]
        rules = []
        for position, item in enumerate(raw_rules, start=1):
            try:
                rules.append(Rule.from_dict(item, position))
            except PolicyError as error:
                problems += error.problems
        try:
            policy = cls(rules=tuple(rules), **settings)
        except PolicyError as error:
            problems += error.problems
        if problems:
            raise PolicyError(*problems)
        return policy

    def order(self, rule_code: str) -> int:
        """Position of a rule in the policy (the duplicate signal comes after every rule)."""
        return self._rule_order.get(rule_code, len(self._rule_order))


# -- evaluation ---------------------------------------------------------------------------------


def evaluate_rules(data: TalentData, policy: Policy) -> pd.DataFrame:
    """Warnings for every programme whose latest observed placement breaks a rule.

    One row per (programme, level, rule) that fires, in :data:`WARNING_COLUMNS`: the years the
    figures cover (``first_year``..``last_year``), the rate of the last year and of the calendar
    year before it (NaN without data), the last year's graduates and placed, the threshold and
    a sentence in Chinese and English with the figures. For the duplicate signal
    (``rule == "duplicate_low_placement"``) the figures cover the pooled window and
    ``threshold`` is the level's pooled rate minus the margin; the message gives the pooled
    rates and names the other programmes of the cluster.
    """
    rates = observed_rates(data)
    rows: list[dict[str, Any]] = []
    programmes = rates[rates["programme_code"] != OTHER]
    for (code, level), group in programmes.groupby(["programme_code", "level"], sort=True):
        history = group.set_index("year").sort_index()
        for rule in policy.rules:
            warning = _rule_warning(str(code), str(level), history, rule)
            if warning is not None:
                rows.append(warning)
    rows.extend(_duplicate_warnings(rates, data.catalog, policy))
    # A programme that takes no students any more has no quota to stop, pause, cap or reduce:
    # its graduates of earlier cohorts still show in the rates, but the limits would be noise.
    halted = stopped_programmes(data)
    stopped = set(zip(halted["programme_code"], halted["level"], strict=True))
    rows = [
        row
        for row in rows
        if Action(row["action"]) in _NON_LIMITING
        or (row["programme_code"], row["level"]) not in stopped
    ]
    if not rows:
        return _empty_warnings()
    warnings = pd.DataFrame(rows, columns=list(WARNING_COLUMNS))
    warnings["_order"] = warnings["rule"].map(policy.order)
    warnings = warnings.sort_values(["programme_code", "level", "_order"], kind="stable")
    return warnings.drop(columns="_order").reset_index(drop=True).astype(_WARNING_DTYPES)


def stopped_programmes(data: TalentData) -> pd.DataFrame:
    """Programmes that have stopped enrolling: zero intake reported for each of the last
    :data:`STOPPED_AFTER_YEARS` years with enrollment data. ``stopped_since`` is the first year
    without intake after the last one with some.

    One zero year is not a stop (an alternate-years programme pauses every other year), and a
    missing report is not a zero."""
    columns = ["programme_code", "level", "stopped_since"]
    enrollment = data.enrollment
    rows = []
    if not enrollment.empty:
        last = int(enrollment["year"].max())
        recent = list(range(last - STOPPED_AFTER_YEARS + 1, last + 1))
        lines = enrollment[enrollment["programme_code"] != OTHER]
        for (code, level), group in lines.groupby(["programme_code", "level"], sort=True):
            yearly = group.groupby("year")["enrolled"].sum().sort_index()
            if not all(year in yearly.index and yearly[year] == 0 for year in recent):
                continue
            taking = yearly[yearly > 0]
            since = int(taking.index.max()) + 1 if len(taking) else int(yearly.index.min())
            rows.append((str(code), str(level), since))
    return pd.DataFrame(rows, columns=columns).astype({"stopped_since": "int64"})


def observed_rates(data: TalentData) -> pd.DataFrame:
    """Yearly destination rate per programme line: programme_code, level, year, graduates,
    placed, rate. Years without graduates (or without counts) have no rate and are dropped."""
    columns = ["programme_code", "level", "year", "graduates", "placed"]
    outcomes = data.outcomes
    missing = [c for c in columns if c not in outcomes.columns]
    if missing:
        raise ValueError(f"outcomes lack the column(s) {', '.join(missing)}")
    frame = outcomes.loc[:, columns].dropna(subset=["graduates", "placed"])
    frame = frame.astype({"year": int, "graduates": float, "placed": float})
    frame = frame[frame["graduates"] > 0].copy()
    frame["rate"] = frame["placed"] / frame["graduates"]
    return frame.reset_index(drop=True)


def _rule_warning(
    code: str, level: str, history: pd.DataFrame, rule: Rule
) -> dict[str, Any] | None:
    """The warning of ``rule`` on one programme's yearly rates (indexed by year), if it fires."""
    n = rule.consecutive_years
    if len(history) < n:
        return None
    latest = history.iloc[-n:]
    years = [int(y) for y in latest.index]
    if years[-1] - years[0] != n - 1:  # a gap year among the latest N: not consecutive
        return None
    rates = [float(r) for r in latest["rate"]]
    if not all(rate < rule.threshold for rate in rates):
        return None
    last = latest.iloc[-1]
    placed = round(float(last["placed"]))
    zh, en = _rule_messages(rule, years, rates, placed)
    return _warning_row(
        code,
        level,
        rule_code=rule.code,
        action=rule.action,
        first_year=years[0],
        history=history,
        threshold=rule.threshold,
        message_zh=zh,
        message_en=en,
    )


def _warning_row(
    code: str,
    level: str,
    *,
    rule_code: str,
    action: Action,
    first_year: int,
    history: pd.DataFrame,
    threshold: float,
    message_zh: str,
    message_en: str,
) -> dict[str, Any]:
    last_year = int(history.index.max())
    last = history.loc[last_year]
    previous = (
        float(history.loc[last_year - 1, "rate"]) if last_year - 1 in history.index else math.nan
    )
    return {
        "programme_code": code,
        "level": level,
        "rule": rule_code,
        "action": action.value,
        "first_year": first_year,
        "last_year": last_year,
        "rate_last": float(last["rate"]),
        "rate_previous": previous,
        "graduates_last": round(float(last["graduates"])),
        "placed_last": round(float(last["placed"])),
        "threshold": float(threshold),
        "message_zh": message_zh,
        "message_en": message_en,
    }


def _rule_messages(
    rule: Rule, years: list[int], rates: list[float], placed: int
) -> tuple[str, str]:
    """'2022、2023年毕业去向落实率分别为58.4%、58.0%，连续两年低于60%：依据…。' and English."""
    limit = _percent_points(rule.threshold) + "%"
    n = len(years)
    if n == 1:
        figures_zh = f"{years[0]}年毕业去向落实率为{rates[0]:.1%}，低于{limit}"
        figures_en = f"Placement rate {rates[0]:.1%} ({years[0]}), below {limit}"
    else:
        figures_zh = (
            f"{'、'.join(str(y) for y in years)}年毕业去向落实率分别为"
            f"{'、'.join(f'{r:.1%}' for r in rates)}，连续{_COUNT_ZH.get(n, str(n))}年低于{limit}"
        )
        parts = [f"{r:.1%} ({y})" for y, r in zip(years, rates, strict=True)]
        figures_en = (
            f"Placement rate {', '.join(parts[:-1])} and {parts[-1]}, "
            f"below {limit} {_COUNT_EN.get(n, str(n))} years running"
        )
    tail_zh = tail_en = ""
    if rule.action is Action.CAP_AT_PLACED:
        tail_zh = f"（{years[-1]}年为{placed}人）"
        tail_en = f" ({placed} in {years[-1]})"
    message_zh = f"{figures_zh}：{rule.description_zh.rstrip('。.')}{tail_zh}。"
    message_en = f"{figures_en}: {rule.description_en.rstrip('。.')}{tail_en}."
    return message_zh, message_en


def _duplicate_warnings(
    rates: pd.DataFrame, catalog: Catalog, policy: Policy
) -> list[dict[str, Any]]:
    """The duplicate-programme signal: clusters of low placers in one main field and level.

    The benchmark is the level's pooled rate over its last ``duplicate_years`` calendar years
    with outcome data, counting the ``other`` line too (it is part of the level's graduates);
    programmes are pooled over the same window. Programmes whose main field is ``other`` are
    not grouped: sharing "no priority field" does not make two programmes duplicates.
    """
    fields = primary_fields(catalog)
    names = catalog.programmes.set_index(["programme_code", "level"])
    field_names = catalog.fields.set_index("field_code")
    rows: list[dict[str, Any]] = []
    for level, at_level in rates.groupby("level", sort=True):
        last_year = int(at_level["year"].max())
        window = at_level[at_level["year"] > last_year - policy.duplicate_years]
        level_rate = float(window["placed"].sum() / window["graduates"].sum())
        cutoff = level_rate - policy.duplicate_margin
        pooled = (
            window[window["programme_code"] != OTHER]
            .groupby("programme_code")[["graduates", "placed"]]
            .sum()
        )
        pooled["rate"] = pooled["placed"] / pooled["graduates"]
        pooled["field_code"] = [
            fields.get(programme_key(str(code), str(level)), OTHER) for code in pooled.index
        ]
        low = pooled[(pooled["rate"] < cutoff) & (pooled["field_code"] != OTHER)]
        for field_code, cluster in low.groupby("field_code", sort=True):
            if len(cluster) < policy.duplicate_min_programmes:
                continue
            for code in cluster.index:
                history = window[window["programme_code"] == code].set_index("year").sort_index()
                others = [str(c) for c in cluster.index if c != code]
                zh, en = _duplicate_messages(
                    history=history,
                    pooled_rate=float(cluster.loc[code, "rate"]),
                    level_rate=level_rate,
                    level=str(level),
                    field_code=str(field_code),
                    others=[(c, _programme_name(names, c, str(level))) for c in others],
                    field_names=field_names,
                    margin=policy.duplicate_margin,
                )
                rows.append(
                    _warning_row(
                        str(code),
                        str(level),
                        rule_code=DUPLICATE_RULE,
                        action=Action.REVIEW_DUPLICATES,
                        first_year=int(history.index.min()),
                        history=history,
                        threshold=cutoff,
                        message_zh=zh,
                        message_en=en,
                    )
                )
    return rows


def _duplicate_messages(
    *,
    history: pd.DataFrame,
    pooled_rate: float,
    level_rate: float,
    level: str,
    field_code: str,
    others: list[tuple[str, tuple[str, str]]],
    field_names: pd.DataFrame,
    margin: float,
) -> tuple[str, str]:
    first, last = int(history.index.min()), int(history.index.max())
    span_zh = f"{first}年" if first == last else f"{first}—{last}年"
    span_en = f"{first}" if first == last else f"{first}-{last}"
    level_zh = LEVEL_NAMES_ZH.get(level, level)
    level_en = level.replace("_", " ")
    if field_code in field_names.index:
        field_zh = str(field_names.loc[field_code, "name_zh"])
        field_en = str(field_names.loc[field_code, "name_en"])
    else:
        field_zh = field_en = field_code
    points = _percent_points(margin)
    others_zh = "、".join(f"{code} {zh}" for code, (zh, _) in others)
    others_en = ", ".join(f"{code} {en}" for code, (_, en) in others)
    verb = "is" if len(others) == 1 else "are"
    message_zh = (
        f"{span_zh}毕业去向落实率合计为{pooled_rate:.1%}，比{level_zh}平均水平（{level_rate:.1%}）"
        f"低{points}个百分点以上；同一领域（{field_zh}）同层次的{others_zh}落实率同样偏低："
        "可能存在重复设置，建议复核专业布局。"
    )
    message_en = (
        f"Pooled placement rate {pooled_rate:.1%} ({span_en}), more than {points} points below "
        f"the {level_en} average of {level_rate:.1%}; {others_en} in the same field "
        f"({field_en}) and level {verb} also low: possibly duplicate programmes, review the "
        "programme layout."
    )
    return message_zh, message_en


def _programme_name(names: pd.DataFrame, code: str, level: str) -> tuple[str, str]:
    if (code, level) in names.index:
        row = names.loc[(code, level)]
        return str(row["name_zh"]), str(row["name_en"])
    return "", ""


# -- quota limits -------------------------------------------------------------------------------


def quota_limits(
    warnings: pd.DataFrame, data: TalentData, intake_year: int, policy: Policy
) -> pd.DataFrame:
    """The hard upper bounds the rules put on each programme's quota for ``intake_year``.

    One row per programme with at least one limiting rule (:data:`LIMIT_COLUMNS`): STOP → 0;
    ALTERNATE_YEARS → 0 if the programme enrolled anyone in the year before, else no limit
    (it may enroll this year and must pause the next); CAP_AT_PLACED → the last year's placed
    graduates; REDUCE → (1 − reduce_share) × the current quota, i.e. the enrollment of the
    year before ``intake_year`` or, if that year is missing, the latest one before it (no
    enrollment at all: no limit can be computed). NO_NEW_POINTS and REVIEW_DUPLICATES limit
    nothing. The smallest limit wins and ``action`` is its action (on a tie the harsher
    action: stop before alternate years before a cap); ``rules`` lists every rule that set a
    limit, most restrictive first.
    """
    missing = [
        c
        for c in ("programme_code", "level", "rule", "action", "last_year", "placed_last")
        if c not in warnings.columns
    ]
    if missing:
        raise ValueError(f"warnings lack the column(s) {', '.join(missing)}")
    if warnings.empty:
        return _empty_limits()
    too_late = warnings[warnings["last_year"].astype(int) >= intake_year]
    if not too_late.empty:
        first = too_late.iloc[0]
        raise ValueError(
            f"intake year {intake_year} is not after the outcome year {int(first['last_year'])} "
            f"of the warning {first['rule']} for {first['programme_code']} ({first['level']}): "
            "rules constrain the quotas of later years only"
        )
    enrolled = _enrollment_before(data.enrollment, intake_year)
    limits: dict[tuple[str, str], list[tuple[float, int, int, str, Action]]] = {}
    for position, row in enumerate(warnings.itertuples(index=False)):
        code, level, rule_code = str(row.programme_code), str(row.level), str(row.rule)
        action = _parse_action(row.action, f"warning {rule_code} for {code} ({level})")
        if action in _NON_LIMITING:
            continue
        history = enrolled.get((code, level))
        limit: float | None
        if action is Action.STOP:
            limit = 0.0
        elif action is Action.ALTERNATE_YEARS:
            enrolled_last_year = history is not None and history.get(intake_year - 1, 0.0) > 0
            limit = 0.0 if enrolled_last_year else None
        elif action is Action.CAP_AT_PLACED:
            limit = float(row.placed_last)
        else:  # Action.REDUCE
            current = None if history is None or history.empty else float(history.iloc[-1])
            limit = None if current is None else (1 - policy.reduce_share) * current
        if limit is not None:
            severity = _SEVERITY.index(action)
            limits.setdefault((code, level), []).append(
                (limit, severity, position, rule_code, action)
            )
    if not limits:
        return _empty_limits()
    rows = []
    for (code, level), found in sorted(limits.items()):
        found.sort(key=lambda item: item[:3])
        codes = list(dict.fromkeys(item[3] for item in found))
        rows.append((code, level, float(found[0][0]), str(found[0][4]), ",".join(codes)))
    return pd.DataFrame(rows, columns=list(LIMIT_COLUMNS))


def _enrollment_before(
    enrollment: pd.DataFrame, intake_year: int
) -> dict[tuple[str, str], pd.Series]:
    """Each programme's enrollment by year (ascending) for the years before ``intake_year``."""
    if enrollment.empty:
        return {}
    frame = enrollment.dropna(subset=["enrolled"])
    frame = frame[frame["year"].astype(int) < intake_year]
    return {
        (str(code), str(level)): group.set_index(group["year"].astype(int))["enrolled"]
        .astype(float)
        .sort_index()
        for (code, level), group in frame.groupby(["programme_code", "level"])
    }


# -- helpers ------------------------------------------------------------------------------------


def _empty_warnings() -> pd.DataFrame:
    return pd.DataFrame(
        {column: pd.Series(dtype=_WARNING_DTYPES.get(column, object)) for column in WARNING_COLUMNS}
    )


def _empty_limits() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "programme_code": pd.Series(dtype=object),
            "level": pd.Series(dtype=object),
            "max_quota": pd.Series(dtype=float),
            "action": pd.Series(dtype=object),
            "rules": pd.Series(dtype=object),
        }
    )


def _parse_action(value: Any, where: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        known = ", ".join(action.value for action in Action)
        raise PolicyError(f"{where}: unknown action {value!r} (known: {known})") from None


def _check_keys(mapping: Any, allowed: Sequence[str], required: Sequence[str], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise PolicyError(f"{where} must be an object with keys, got {type(mapping).__name__}")
    problems = _key_problems(mapping, allowed, required, where)
    if problems:
        raise PolicyError(*problems)


def _key_problems(
    mapping: Mapping[Any, Any], allowed: Sequence[str], required: Sequence[str], where: str
) -> list[str]:
    problems = []
    unknown = sorted(str(key) for key in mapping if key not in allowed)
    if unknown:
        problems.append(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )
    absent = [key for key in required if key not in mapping]
    if absent:
        problems.append(f"{where}: missing key(s) {', '.join(absent)}")
    return problems


def _setting_problems(policy: Policy) -> list[str]:
    """What is wrong with the policy's settings besides its rules (reduce_share and the
    duplicate-programme signal's settings)."""
    problems = []
    share = policy.reduce_share
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        problems.append(f"reduce_share must be in (0, 1], got {share!r}")
    count = policy.duplicate_min_programmes
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        problems.append(
            f"duplicate_min_programmes must be a whole number of at least 2 (duplicates "
            f"need two programmes), got {count!r}"
        )
    margin = policy.duplicate_margin
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin < 1:
        problems.append(f"duplicate_margin must be a rate in [0, 1), got {margin!r}")
    years = policy.duplicate_years
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        problems.append(f"duplicate_years must be a whole number of at least 1, got {years!r}")
    return problems


def _whole(value: Any, where: str) -> Any:
    """JSON tools may write 2 as 2.0: accept integral floats as ints, leave the rest to the
    dataclass checks (which then name the bad value)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _percent_points(rate: float) -> str:
    """0.6 → '60', 0.055 → '5.5' (no float noise such as 60.00000000000001)."""
    return f"{round(rate * 100, 2):g}"

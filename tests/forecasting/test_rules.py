"""Employment rules: warnings from observed placement, quota limits, the policy as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from data.catalog import Catalog
from data.vocabulary import Kind
from features.talent import TalentData
from forecasting.rules import (
    DUPLICATE_RULE,
    LIMIT_COLUMNS,
    WARNING_COLUMNS,
    Action,
    Policy,
    PolicyError,
    Rule,
    evaluate_rules,
    quota_limits,
    stopped_programmes,
)

BACHELOR = "bachelor"
HV = "higher_vocational"
MOE = "moe_2011_reduce"
CAP = "tj_2009_cap_at_placed"
ALTERNATE = "tj_2009_alternate_years"
STOP_30 = "tj_2009_stop_below_30"
STOP_40 = "tj_2009_stop_below_40_twice"
NO_NEW = "tj_2009_no_new_points"

#: (code, level) -> {year: placement rate, or (graduates, placed)}
Outcomes = Mapping[tuple[str, str], Mapping[int, float | tuple[int, int]]]


def talent(
    catalog: Catalog,
    outcomes: Outcomes,
    enrollment: Mapping[tuple[str, str], Mapping[int, int]] | None = None,
) -> TalentData:
    """City data from rates per year (100 graduates each unless counts are given)."""
    rows = []
    for (code, level), years in outcomes.items():
        for year, value in years.items():
            graduates, placed = value if isinstance(value, tuple) else (100, round(value * 100))
            rows.append(
                {
                    "programme_code": code,
                    "level": level,
                    "year": year,
                    "graduates": graduates,
                    "placed": placed,
                    "employed_in_field": None,
                    "employed_locally": None,
                }
            )
    enrolled = [
        {"programme_code": code, "level": level, "year": year, "enrolled": count}
        for (code, level), years in (enrollment or {}).items()
        for year, count in years.items()
    ]
    frames = {
        Kind.OUTCOMES: pd.DataFrame(rows),
        Kind.ENROLLMENT: pd.DataFrame(
            enrolled, columns=["programme_code", "level", "year", "enrolled"]
        ),
    }
    return TalentData.from_observations(catalog, frames)


def fired(warnings: pd.DataFrame, code: str, level: str = BACHELOR) -> set[str]:
    return set(
        warnings.loc[(warnings["programme_code"] == code) & (warnings["level"] == level), "rule"]
    )


def warning(warnings: pd.DataFrame, code: str, rule: str, level: str = BACHELOR) -> pd.Series:
    rows = warnings[
        (warnings["programme_code"] == code)
        & (warnings["level"] == level)
        & (warnings["rule"] == rule)
    ]
    assert len(rows) == 1, f"expected one {rule} warning for {code}, got {len(rows)}"
    return rows.iloc[0]


def limit(limits: pd.DataFrame, code: str, level: str = BACHELOR) -> pd.Series:
    rows = limits[(limits["programme_code"] == code) & (limits["level"] == level)]
    assert len(rows) == 1
    return rows.iloc[0]


# -- the threshold rules --------------------------------------------------------------------------


def test_two_years_under_40_stop_with_every_rule_that_applies(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {("540101", HV): {2021: 0.65, 2022: 0.38, 2023: 0.36}},
        {("540101", HV): {2023: 200}},
    )
    warnings = evaluate_rules(data, Policy.default())
    assert list(warnings.columns) == list(WARNING_COLUMNS)
    assert fired(warnings, "540101", HV) == {MOE, CAP, ALTERNATE, STOP_40}
    stop = warning(warnings, "540101", STOP_40, HV)
    assert stop["action"] == Action.STOP
    assert (stop["first_year"], stop["last_year"]) == (2022, 2023)
    assert stop["rate_last"] == pytest.approx(0.36)
    assert stop["rate_previous"] == pytest.approx(0.38)
    assert (stop["graduates_last"], stop["placed_last"], stop["threshold"]) == (100, 36, 0.4)
    limits = quota_limits(warnings, data, 2024, Policy.default())
    assert list(limits.columns) == list(LIMIT_COLUMNS)
    row = limit(limits, "540101", HV)
    assert row["max_quota"] == 0.0
    assert row["action"] == "stop", "a stop outranks the alternate-years pause at the same 0"
    assert set(row["rules"].split(",")) == {STOP_40, ALTERNATE, CAP, MOE}
    assert row["rules"].split(",")[-1] == MOE  # most restrictive first: 0.9 × 200 comes last


def test_under_30_once_stops(default_catalog: Catalog) -> None:
    data = talent(default_catalog, {("080901", BACHELOR): {2022: 0.70, 2023: 0.29}})
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {STOP_30, ALTERNATE, CAP}
    assert warning(warnings, "080901", STOP_30)["first_year"] == 2023
    limits = quota_limits(warnings, data, 2024, Policy.default())
    assert limit(limits, "080901")["max_quota"] == 0.0


def test_under_60_once_caps_at_placed(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2022: 0.70, 2023: 0.58}},
        {("080901", BACHELOR): {2023: 150}},
    )
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {CAP}
    cap = warning(warnings, "080901", CAP)
    assert cap["rate_previous"] == pytest.approx(0.70)
    assert cap["message_zh"] == (
        "2023年毕业去向落实率为58.0%，低于60%：依据天津市2009年规定，"
        "下一年招生计划不得超过上一年实际落实去向的毕业生人数（2023年为58人）。"
    )
    assert "58.0% (2023), below 60%" in cap["message_en"]
    row = limit(quota_limits(warnings, data, 2024, Policy.default()), "080901")
    assert (row["max_quota"], row["rules"]) == (58.0, CAP)


def test_under_60_twice_also_reduces_the_current_quota(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2021: 0.61, 2022: (1000, 584), 2023: (1000, 580)}},
        {("080901", BACHELOR): {2022: 700, 2023: 600}},
    )
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {MOE, CAP}
    moe = warning(warnings, "080901", MOE)
    assert moe["action"] == Action.REDUCE
    assert moe["message_zh"] == (
        "2022、2023年毕业去向落实率分别为58.4%、58.0%，连续两年低于60%："
        "依据教育部2011年规定，应调减招生计划直至停招。"
    )
    assert moe["message_en"] == (
        "Placement rate 58.4% (2022) and 58.0% (2023), below 60% two years running: under the "
        "2011 Ministry of Education rule the quota should be reduced, up to stopping enrollment."
    )
    row = limit(quota_limits(warnings, data, 2024, Policy.default()), "080901")
    # 0.9 × 600 = 540 beats the 580 placed graduates; both rules limit, the tighter first
    assert row["max_quota"] == pytest.approx(540.0)
    assert row["rules"] == f"{MOE},{CAP}"
    halved = replace(Policy.default(), reduce_share=0.5)
    assert limit(quota_limits(warnings, data, 2024, halved), "080901")["max_quota"] == 300.0


def test_reduce_uses_the_latest_enrollment_before_the_intake_year(
    default_catalog: Catalog,
) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2022: 0.58, 2023: 0.57}},
        {("080901", BACHELOR): {2021: 40, 2024: 999}},  # 2023 missing; 2024 is the intake
    )
    warnings = evaluate_rules(data, Policy.default())
    row = limit(quota_limits(warnings, data, 2024, Policy.default()), "080901")
    assert row["max_quota"] == pytest.approx(36.0)
    assert row["rules"] == f"{MOE},{CAP}"


def test_under_60_three_years_bars_new_points_without_limiting(
    default_catalog: Catalog,
) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2021: 0.55, 2022: 0.57, 2023: 0.59}},
        {("080901", BACHELOR): {2023: 1000}},
    )
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {NO_NEW, MOE, CAP}
    no_new = warning(warnings, "080901", NO_NEW)
    assert (no_new["first_year"], no_new["last_year"]) == (2021, 2023)
    assert "连续三年低于60%" in no_new["message_zh"]
    assert "55.0% (2021), 57.0% (2022) and 59.0% (2023)" in no_new["message_en"]
    row = limit(quota_limits(warnings, data, 2024, Policy.default()), "080901")
    assert NO_NEW not in row["rules"]
    assert row["max_quota"] == 59.0


def test_a_stopped_programme_is_not_told_to_reduce(default_catalog: Catalog) -> None:
    low = {("080901", BACHELOR): {2022: 0.58, 2023: 0.57}}
    stopped = talent(
        default_catalog, low, {("080901", BACHELOR): {2020: 120, 2021: 0, 2022: 0, 2023: 0}}
    )
    halted = stopped_programmes(stopped)
    assert halted.to_dict("records") == [
        {"programme_code": "080901", "level": BACHELOR, "stopped_since": 2021}
    ]
    warnings = evaluate_rules(stopped, Policy.default())
    assert fired(warnings, "080901") == set()  # no quota left to reduce or cap
    assert limit_rows(quota_limits(warnings, stopped, 2024, Policy.default()), "080901") == 0
    # Still enrolling in the last year: the same rates reduce and cap.
    running = talent(default_catalog, low, {("080901", BACHELOR): {2020: 120, 2023: 50}})
    assert stopped_programmes(running).empty
    assert fired(evaluate_rules(running, Policy.default()), "080901") == {MOE, CAP}


@pytest.mark.parametrize(
    "enrolled",
    [{2021: 0, 2022: 0}, {2021: 0, 2023: 0}, {2022: 80, 2023: 0}],
    ids=["missing report", "gap year", "one pause"],
)
def test_a_missing_report_or_one_pause_is_not_a_stop(
    default_catalog: Catalog, enrolled: dict[int, int]
) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2022: 0.58, 2023: 0.57}},
        {("080901", BACHELOR): enrolled, ("080717T", BACHELOR): {2023: 80}},
    )
    assert stopped_programmes(data).empty
    assert fired(evaluate_rules(data, Policy.default()), "080901") == {MOE, CAP}


def test_non_limiting_signals_stay_for_a_stopped_programme(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {("080901", BACHELOR): {2021: 0.55, 2022: 0.57, 2023: 0.59}},
        {("080901", BACHELOR): {2022: 0, 2023: 0}},
    )
    assert fired(evaluate_rules(data, Policy.default()), "080901") == {NO_NEW}


def limit_rows(limits: pd.DataFrame, code: str, level: str = BACHELOR) -> int:
    return int(((limits["programme_code"] == code) & (limits["level"] == level)).sum())


def test_healthy_programme_gets_nothing(default_catalog: Catalog) -> None:
    data = talent(default_catalog, {("080901", BACHELOR): {2022: 0.65, 2023: 0.60}})
    warnings = evaluate_rules(data, Policy.default())
    assert warnings.empty
    assert list(warnings.columns) == list(WARNING_COLUMNS)
    limits = quota_limits(warnings, data, 2024, Policy.default())
    assert limits.empty
    assert list(limits.columns) == list(LIMIT_COLUMNS)


def test_a_gap_year_breaks_consecutive_years(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {
            ("080901", BACHELOR): {2021: 0.55, 2023: 0.57},  # no 2022 outcomes
            ("540101", HV): {2019: 0.35, 2020: 0.50, 2021: 0.50, 2023: 0.35},
        },
    )
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {CAP}
    # no rate for the calendar year before the last one
    assert math.isnan(warning(warnings, "080901", CAP)["rate_previous"])
    assert fired(warnings, "540101", HV) == {CAP, ALTERNATE}


def test_years_without_graduates_are_skipped(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {
            # the latest year has no graduates: the rules look at 2022, not at 0 / 0
            ("080901", BACHELOR): {2021: 0.70, 2022: 0.55, 2023: (0, 0)},
            # a year without graduates is no evidence, so it breaks a run like a gap
            ("080902", BACHELOR): {2021: 0.55, 2022: (0, 0), 2023: 0.57},
        },
    )
    warnings = evaluate_rules(data, Policy.default())
    assert fired(warnings, "080901") == {CAP}
    assert warning(warnings, "080901", CAP)["last_year"] == 2022
    assert fired(warnings, "080902") == {CAP}
    assert math.isnan(warning(warnings, "080902", CAP)["rate_previous"])


def test_other_lines_are_never_warned(default_catalog: Catalog) -> None:
    data = talent(
        default_catalog,
        {
            ("other", BACHELOR): {2021: 0.2, 2022: 0.2, 2023: 0.2},
            ("other", HV): {2022: 0.1, 2023: 0.1},
        },
    )
    assert evaluate_rules(data, Policy.default()).empty


def test_alternate_years_depends_on_last_years_enrollment(default_catalog: Catalog) -> None:
    outcomes = {("080901", BACHELOR): {2022: 0.70, 2023: 0.35}}
    policy = Policy.default()
    enrolled = talent(default_catalog, outcomes, {("080901", BACHELOR): {2022: 80, 2023: 80}})
    warnings = evaluate_rules(enrolled, policy)
    assert fired(warnings, "080901") == {ALTERNATE, CAP}
    row = limit(quota_limits(warnings, enrolled, 2024, policy), "080901")
    assert (row["max_quota"], row["action"], row["rules"]) == (
        0.0,
        "alternate_years",
        f"{ALTERNATE},{CAP}",
    )
    for paused in ({2022: 80, 2023: 0}, {2022: 80}):  # a 0 row and a missing row alike
        data = talent(default_catalog, outcomes, {("080901", BACHELOR): paused})
        row = limit(quota_limits(evaluate_rules(data, policy), data, 2024, policy), "080901")
        assert (row["max_quota"], row["action"], row["rules"]) == (35.0, "cap_at_placed", CAP)


def test_limits_apply_to_later_intakes_only(default_catalog: Catalog) -> None:
    data = talent(default_catalog, {("080901", BACHELOR): {2022: 0.70, 2023: 0.29}})
    warnings = evaluate_rules(data, Policy.default())
    with pytest.raises(ValueError, match=r"intake year 2023 .* 080901"):
        quota_limits(warnings, data, 2023, Policy.default())


# -- the duplicate-programme signal ---------------------------------------------------------------


def duplicate_data(catalog: Catalog, rates: Mapping[str, float]) -> TalentData:
    """Higher-vocational programmes at fixed rates in 2021-2023, beside a large healthy one."""
    outcomes: dict[tuple[str, str], dict[int, float | tuple[int, int]]] = {
        ("430301", HV): dict.fromkeys((2021, 2022, 2023), (1000, 920))
    }
    for code, rate in rates.items():
        outcomes[(code, HV)] = {2021: 0.95, 2022: rate, 2023: rate}
    return talent(catalog, outcomes)


def test_duplicate_signal_needs_two_low_programmes_of_one_field(
    default_catalog: Catalog,
) -> None:
    # next_gen_it: 510201 and 510202 low, 510203 fine; the level pools to about 88%
    data = duplicate_data(default_catalog, {"510201": 0.70, "510202": 0.72, "510203": 0.92})
    warnings = evaluate_rules(data, Policy.default())
    duplicates = warnings[warnings["rule"] == DUPLICATE_RULE]
    assert set(duplicates["programme_code"]) == {"510201", "510202"}
    first = warning(warnings, "510201", DUPLICATE_RULE, HV)
    assert first["action"] == Action.REVIEW_DUPLICATES
    assert (first["first_year"], first["last_year"]) == (2022, 2023)  # the pooled window
    level_rate = (920 * 2 + 70 * 2 + 72 * 2 + 92 * 2) / (1000 * 2 + 100 * 6)
    assert first["threshold"] == pytest.approx(level_rate - 0.05)
    assert "510202" in first["message_zh"]
    assert "510202" in first["message_en"]
    assert "510201" not in first["message_en"]
    # a REVIEW_DUPLICATES warning limits nothing
    assert quota_limits(duplicates, data, 2024, Policy.default()).empty
    # the policy decides how many low programmes make a cluster
    three = replace(Policy.default(), duplicate_min_programmes=3)
    assert DUPLICATE_RULE not in set(evaluate_rules(data, three)["rule"])


def test_no_duplicate_signal_for_one_low_programme_per_field(default_catalog: Catalog) -> None:
    alone = duplicate_data(default_catalog, {"510201": 0.70, "510202": 0.90})
    assert evaluate_rules(alone, Policy.default()).empty
    # two low programmes, but of different fields (next_gen_it and tourism)
    apart = duplicate_data(default_catalog, {"510201": 0.70, "540101": 0.70})
    assert evaluate_rules(apart, Policy.default()).empty


# -- the policy as configuration ------------------------------------------------------------------


def test_default_policy_encodes_the_reference_rules() -> None:
    rules = {rule.code: rule for rule in Policy.default().rules}
    summary = {
        code: (rule.authority, rule.threshold, rule.consecutive_years, rule.action)
        for code, rule in rules.items()
    }
    assert summary == {
        MOE: ("MOE 2011", 0.6, 2, Action.REDUCE),
        CAP: ("Tianjin 2009", 0.6, 1, Action.CAP_AT_PLACED),
        ALTERNATE: ("Tianjin 2009", 0.4, 1, Action.ALTERNATE_YEARS),
        STOP_30: ("Tianjin 2009", 0.3, 1, Action.STOP),
        STOP_40: ("Tianjin 2009", 0.4, 2, Action.STOP),
        NO_NEW: ("Tianjin 2009", 0.6, 3, Action.NO_NEW_POINTS),
    }


def test_policy_round_trips_through_json() -> None:
    policy = replace(Policy.default(), reduce_share=0.25, duplicate_years=3)
    text = json.dumps(policy.to_dict(), ensure_ascii=False)
    again = Policy.from_dict(json.loads(text))
    assert again == policy
    assert again.to_dict() == policy.to_dict()
    assert json.loads(text)["rules"][0]["action"] == "reduce"


def bad(change: dict[str, Any] | None = None, rule_change: dict[str, Any] | None = None) -> Any:
    config = Policy.default().to_dict()
    if rule_change:
        config["rules"][0].update(rule_change)
    config.update(change or {})
    return config


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (bad({"reduce_shares": 0.2}), "unknown key.*reduce_shares"),
        (bad(rule_change={"years": 2}), "moe_2011_reduce: unknown key.*years"),
        (bad(rule_change={"action": "halve"}), "unknown action 'halve'"),
        (bad(rule_change={"action": "review_duplicates"}), "duplicate-programme signal"),
        (bad(rule_change={"threshold": 1.5}), "threshold must be a rate in \\(0, 1\\]"),
        (bad(rule_change={"threshold": 0}), "threshold"),
        (bad(rule_change={"consecutive_years": 0}), "consecutive_years"),
        (bad(rule_change={"consecutive_years": 1.5}), "consecutive_years"),
        (bad(rule_change={"code": "调减"}), "ASCII"),
        (bad(rule_change={"code": DUPLICATE_RULE}), "reserved"),
        (bad(rule_change={"code": CAP}), f"repeated: {CAP}"),
        (bad(rule_change={"description_en": ""}), "description_en"),
        (bad({"reduce_share": 0}), "reduce_share"),
        (bad({"duplicate_min_programmes": 1}), "duplicate_min_programmes"),
        (bad({"duplicate_margin": -0.1}), "duplicate_margin"),
        (bad({"duplicate_years": 0}), "duplicate_years"),
        (bad({"rules": "moe"}), "rules must be a list"),
        ({"reduce_share": 0.1}, "missing key.*rules"),
        ([], "must be an object"),
    ],
)
def test_bad_policies_are_refused(config: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Policy.from_dict(config)


def test_missing_rule_keys_are_named() -> None:
    config = Policy.default().to_dict()
    del config["rules"][1]["threshold"]
    with pytest.raises(PolicyError, match=r"tj_2009_cap_at_placed: missing key.*threshold"):
        Policy.from_dict(config)


def test_rules_are_validated_when_built_in_code() -> None:
    with pytest.raises(PolicyError, match="consecutive_years"):
        Rule("x", "MOE 2011", 0.6, 0, Action.REDUCE, "说明", "text")
    assert Rule("x", "MOE 2011", 0.6, 1, "stop", "说明", "text").action is Action.STOP  # type: ignore[arg-type]


# -- the planted cases of the demo data -----------------------------------------------------------


@pytest.fixture(scope="module")
def demo(default_catalog: Catalog) -> TalentData:
    from data.demo import generate

    generated = generate(default_catalog)
    return TalentData.from_observations(
        default_catalog, {kind: generated.observations(kind) for kind in Kind}
    )


def test_demo_bachelor_logistics_under_60_two_years(demo: TalentData) -> None:
    as_of_2023 = demo.cut(2023)
    warnings = evaluate_rules(as_of_2023, Policy.default())
    moe = warning(warnings, "120602", MOE)
    assert (moe["first_year"], moe["last_year"]) == (2022, 2023)
    assert moe["rate_previous"] == pytest.approx(0.584, abs=0.001)
    assert moe["rate_last"] == pytest.approx(0.580, abs=0.001)
    limits = quota_limits(warnings, as_of_2023, 2024, Policy.default())
    assert MOE in limit(limits, "120602")["rules"]
    # it recovered to over 60% in 2024-2025: on the latest data the programme is clear
    assert fired(evaluate_rules(demo, Policy.default()), "120602") == set()


def test_demo_vocational_tourism_under_40_two_years_stops(demo: TalentData) -> None:
    as_of_2021 = demo.cut(2021)
    warnings = evaluate_rules(as_of_2021, Policy.default())
    stop = warning(warnings, "540101", STOP_40, HV)
    assert (stop["first_year"], stop["last_year"]) == (2020, 2021)
    assert stop["rate_last"] < 0.4
    assert stop["rate_previous"] < 0.4
    row = limit(quota_limits(warnings, as_of_2021, 2022, Policy.default()), "540101", HV)
    assert row["max_quota"] == 0.0
    assert STOP_40 in row["rules"].split(",")


def test_demo_vocational_tourism_stopped_in_2023(demo: TalentData) -> None:
    halted = stopped_programmes(demo).set_index(["programme_code", "level"])
    assert list(halted.index) == [("540101", HV)]
    assert halted.loc[("540101", HV), "stopped_since"] == 2023
    # Its graduates of earlier cohorts still place badly, but it has nothing left to reduce.
    assert fired(evaluate_rules(demo, Policy.default()), "540101", HV) == {NO_NEW}
    assert MOE in fired(evaluate_rules(demo.cut(2022), Policy.default()), "540101", HV)


def test_demo_duplicate_logistics_programmes(demo: TalentData) -> None:
    warnings = evaluate_rules(demo, Policy.default())
    duplicates = warnings[warnings["rule"] == DUPLICATE_RULE]
    assert set(zip(duplicates["programme_code"], duplicates["level"], strict=True)) == {
        ("530801", HV),
        ("530802", HV),
    }
    assert "530802" in warning(warnings, "530801", DUPLICATE_RULE, HV)["message_zh"]
    assert "530801" in warning(warnings, "530802", DUPLICATE_RULE, HV)["message_en"]

"""Quota recommendations and scenarios on crafted samples with known answers."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from support import crafted_samples

from forecasting.quotas import QuotaError, QuotaSettings, recommend_quotas, with_stopped
from forecasting.rules import LIMIT_COLUMNS
from forecasting.scenarios import BalanceSamples, ScenarioError, cost_weights, evaluate_scenario

MAIN_FIELD = {"080717T|bachelor": "ai", "080704|bachelor": "ic", "other|bachelor": "other"}
NO_LIMITS = pd.DataFrame(columns=list(LIMIT_COLUMNS))


def recommend(
    samples: BalanceSamples, limits: pd.DataFrame = NO_LIMITS, **settings: object
) -> pd.DataFrame:
    options = QuotaSettings(**{"scenarios": 100, "resamples": 3, **settings})  # type: ignore[arg-type]
    return recommend_quotas(samples, limits, options, MAIN_FIELD).set_index("programme_code")


def test_certain_shortage_with_spare_capacity_expands_to_the_yearly_cap() -> None:
    result = recommend(crafted_samples())
    assert result.loc["080717T", "recommended_quota"] == pytest.approx(120.0)
    assert "change_up" in result.loc["080717T", "binding"]
    assert "SHORTAGE_EXPAND" in result.loc["080717T", "reasons"]
    assert result.loc["080717T", "p_shortage_before"] == pytest.approx(1.0)
    assert result.loc["080717T", "gap_after"] == pytest.approx(
        result.loc["080717T", "gap_before"] - 10
    )
    assert result.loc["080704", "recommended_quota"] == pytest.approx(80.0), "IC in surplus"
    assert "SURPLUS_REDUCE" in result.loc["080704", "reasons"]
    assert result.loc["080717T", "intake_year"] == 2026
    assert result.loc["080717T", "graduation_year"] == 2030
    assert "扩大招生" in result.loc["080717T", "reason_zh"]
    assert "(probability 100%)" in result.loc["080717T", "reason_en"]  # exactly 1: certain


def test_a_stopped_programme_is_kept_at_zero_and_said_so() -> None:
    decided = recommend_quotas(
        crafted_samples(), NO_LIMITS, QuotaSettings(scenarios=100, resamples=3), MAIN_FIELD
    )
    stopped = pd.DataFrame(
        {"programme_code": ["080703"], "level": ["bachelor"], "stopped_since": [2023]}
    )
    fields = {**MAIN_FIELD, "080703|bachelor": "ic"}
    result = with_stopped(decided, stopped, 2025, fields)
    assert len(result) == len(decided) + 1
    assert list(result["programme_code"]) == sorted(result["programme_code"])
    row = result.set_index("programme_code").loc["080703"]
    assert (row["current_quota"], row["recommended_quota"], row["change"]) == (0, 0, 0)
    assert (row["field_code"], row["intake_year"], row["stopped_since"]) == ("ic", 2026, 2023)
    assert row["reasons"] == "STOPPED"
    assert row["reason_en"] == "Stopped enrolling in 2023 (no intake 2023-2025): no quota."
    assert row["reason_zh"] == "自2023年起停止招生（2023—2025年无新生），不安排招生计划。"
    assert result["stopped_since"].isna().sum() == len(decided)
    # A programme the optimiser decided (it reopened) keeps its decided row.
    reopened = stopped.assign(programme_code="080717T")
    again = with_stopped(decided, reopened, 2025, fields)
    assert again.drop(columns="stopped_since").equals(decided)


def test_the_total_quota_holds_exactly_or_within_its_band() -> None:
    fixed = recommend(crafted_samples())
    assert fixed["recommended_quota"].sum() == pytest.approx(1200.0)
    assert (fixed["recommended_quota"] == fixed["recommended_quota"].round()).all()
    surplus_everywhere = crafted_samples(ai_demand=10.0, ic_demand=10.0)
    banded = recommend(surplus_everywhere, total_band=0.1)
    # Both fields oversupplied: both cut by the yearly cap; the other line keeps its size, so
    # the total falls to 1,160, inside the band (1,080-1,320) ...
    assert banded.loc["080717T", "recommended_quota"] == pytest.approx(80.0)
    assert banded["recommended_quota"].sum() == pytest.approx(1160.0)
    # ... while a fixed total moves the freed places to the other line.
    held = recommend(surplus_everywhere)
    assert held.loc["other", "recommended_quota"] == pytest.approx(1040.0)
    chosen = recommend(crafted_samples(), totals={"bachelor": 1150.0})
    assert chosen["recommended_quota"].sum() == pytest.approx(1150.0)


def rule_limit(max_quota: float, action: str, rules: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "programme_code": ["080717T"],
            "level": ["bachelor"],
            "max_quota": [max_quota],
            "action": [action],
            "rules": [rules],
        }
    )


@pytest.mark.parametrize(
    ("action", "reason", "text_zh", "text_en"),
    [
        ("stop", "RULE_STOP", "停止招生", "require stopping"),
        ("alternate_years", "RULE_PAUSE", "隔年招生", "every other year"),
    ],
)
def test_a_rule_stop_or_pause_gives_zero_whatever_the_forecast(
    action: str, reason: str, text_zh: str, text_en: str
) -> None:
    limits = rule_limit(0.0, action, "tj_2009_stop_below_40_twice")
    result = recommend(crafted_samples(ai_demand=10_000.0), limits)
    row = result.loc["080717T"]
    assert row["recommended_quota"] == 0.0
    assert row["reasons"].split(",")[0] == reason
    assert text_zh in row["reason_zh"]
    assert text_en in row["reason_en"]
    assert "tj_2009_stop_below_40_twice" in row["reason_en"]
    # Planners reading Chinese see the rule named, not its code.
    assert "天津市2009年规定：连续两年落实率低于40%停招" in row["reason_zh"]
    assert "tj_2009" not in row["reason_zh"]
    assert result["recommended_quota"].sum() == pytest.approx(1200.0)


def test_limits_without_the_rules_columns_are_refused() -> None:
    with pytest.raises(QuotaError, match="lack the column\\(s\\) action"):
        recommend(crafted_samples(), rule_limit(0.0, "stop", "x").drop(columns="action"))


def test_a_rule_cap_limits_an_expansion() -> None:
    limits = rule_limit(90.0, "cap_at_placed", "tj_2009_cap_at_placed")
    result = recommend(crafted_samples(), limits)
    assert result.loc["080717T", "recommended_quota"] == pytest.approx(90.0)
    assert "RULE_LIMIT" in result.loc["080717T", "reasons"]
    assert "天津市2009年规定：不超过上年落实人数" in result.loc["080717T", "reason_zh"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"totals": {"bachelor": 5000.0}}, "total quota 5,000"),
        ({"max_change": 1.5}, "max_change"),
        ({"scenarios": 3}, "scenarios"),
    ],
)
def test_infeasible_or_invalid_settings_give_a_clear_error(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(QuotaError, match=message):
        recommend(crafted_samples(), **settings)


def test_stopping_by_choice_needs_allow_stop() -> None:
    # IC is so oversupplied that stopping pays; without allow_stop the floor holds.
    kept = recommend(crafted_samples(ic_demand=0.0), total_band=1.0)
    assert kept.loc["080704", "recommended_quota"] == pytest.approx(80.0)
    stopped = recommend(crafted_samples(ic_demand=0.0), total_band=1.0, allow_stop=True)
    assert stopped.loc["080704", "recommended_quota"] == 0.0


def test_scenario_quota_change_moves_supply_through_the_pipeline() -> None:
    samples = crafted_samples()
    result = evaluate_scenario(samples, {"080717T|bachelor": {2026: 200.0}})
    cell = result.balance[(result.balance["field_code"] == "ai") & (result.balance["year"] == 2030)]
    base = result.baseline[
        (result.baseline["field_code"] == "ai") & (result.baseline["year"] == 2030)
    ]
    assert float(cell["supply_p50"].iloc[0]) == pytest.approx(100.0)
    assert float(base["supply_p50"].iloc[0]) == pytest.approx(50.0)
    other_years = result.balance[
        (result.balance["field_code"] == "ai") & (result.balance["year"] != 2030)
    ]
    assert (other_years["supply_p50"] == 50.0).all()
    assert result.costs["shortage_persons"] < result.baseline_costs["shortage_persons"]
    assert result.baseline_costs == evaluate_scenario(samples).costs


def test_scenario_demand_shock_and_bad_inputs() -> None:
    samples = crafted_samples()
    shocked = evaluate_scenario(samples, demand_shocks={"ai": 0.5})
    row = shocked.balance[
        (shocked.balance["field_code"] == "ai") & (shocked.balance["year"] == 2028)
    ]
    assert float(row["demand_p50"].iloc[0]) == pytest.approx(100.0, rel=0.05)
    with pytest.raises(ScenarioError, match="unknown field 'quantum'"):
        evaluate_scenario(samples, demand_shocks={"quantum": 1.1})
    with pytest.raises(ScenarioError, match="unknown programme"):
        evaluate_scenario(samples, {"999999|bachelor": {2026: 1.0}})
    with pytest.raises(ScenarioError, match="intake year 2040"):
        evaluate_scenario(samples, {"080717T|bachelor": {2040: 1.0}})


def test_samples_survive_the_artifact_round_trip() -> None:
    samples = crafted_samples()
    again = BalanceSamples.from_bytes(samples.to_bytes())
    assert again.programmes == samples.programmes
    np.testing.assert_allclose(again.demand, samples.demand, rtol=1e-6)
    np.testing.assert_array_equal(again.observed, samples.observed)


def test_samples_stored_before_per_field_costs_are_costed_by_their_tier() -> None:
    """Runs stored before the catalog carried cost weights still answer scenarios as then."""
    with np.load(io.BytesIO(crafted_samples().to_bytes())) as archive:
        arrays = {name: archive[name] for name in archive.files}
    del arrays["shortage_cost"], arrays["surplus_cost"]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    shortage, surplus = cost_weights(BalanceSamples.from_bytes(buffer.getvalue()))
    assert shortage.tolist() == [3.0, 3.0, 0.0]  # national_strategic, national_strategic, other
    assert surplus.tolist() == [1.0, 1.0, 0.0]


def test_a_tier_named_in_the_settings_overrides_the_catalog_weights() -> None:
    samples = crafted_samples()
    shortage, surplus = cost_weights(samples, {"national_strategic": (5.0, 2.0)})
    assert shortage.tolist() == [5.0, 5.0, 0.0]
    assert surplus.tolist() == [2.0, 2.0, 0.0]

"""The balance backtest as a gate, and the reason a run kept as challenger gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from support import assert_catalogue_complete

from data.store.runs import RunRecord
from data.store.tables import RunStatus
from forecasting import changes, promotion
from forecasting.gate_messages import GATE_MESSAGES
from forecasting.promotion import (
    Check,
    GateResult,
    Gates,
    check_balance_backtest,
    not_served_reason,
    with_checks,
)

BALANCE = "balance, direct demand (default)"


def scores(balance: tuple[float, float], **baselines: tuple[float, float]) -> pd.DataFrame:
    """Backtest rows for two cut years: (rank corr, macro-F1) per method, the same each cut."""
    methods = {BALANCE: balance, **{k.replace("_", " "): v for k, v in baselines.items()}}
    return pd.DataFrame(
        [
            {"cut": cut, "method": method, "cells": 40, "rank corr": rank, "macro-F1": f1}
            for cut in (2020, 2021)
            for method, (rank, f1) in methods.items()
        ]
    )


def test_a_balance_beaten_on_rank_and_flags_by_persistence_fails() -> None:
    table = scores((0.30, 0.55), persistence=(0.60, 0.70), persistence_with_trend=(0.2, 0.5))
    check = check_balance_backtest(table, Gates())
    assert not check.passed
    assert "loses to persistence on both" in check.detail
    assert "0.30/0.55" in check.detail
    assert "2020, 2021" in check.detail
    trend_wins = scores((0.30, 0.55), persistence=(0.2, 0.5), persistence_with_trend=(0.4, 0.6))
    assert "loses to persistence with trend" in check_balance_backtest(trend_wins, Gates()).detail


def test_a_balance_better_on_one_measure_passes() -> None:
    better_rank = scores((0.70, 0.55), persistence=(0.60, 0.70), persistence_with_trend=(0.5, 0.6))
    check = check_balance_backtest(better_rank, Gates())
    assert check.passed
    assert check.detail.startswith("balance backtest: rank correlation/macro-F1 0.70/0.55 vs")
    no_ranks = scores((float("nan"), 0.55), persistence=(float("nan"), 0.70))
    assert check_balance_backtest(no_ranks, Gates()).passed, "an uncomputable measure is no loss"


def test_a_skipped_or_empty_backtest_passes_with_a_note_and_the_gate_can_be_off() -> None:
    skipped = check_balance_backtest(pd.DataFrame(), Gates())
    assert skipped.passed
    assert "skipped" in skipped.detail
    empty = scores((0.1, 0.1), persistence=(0.9, 0.9)).assign(cells=0)
    assert check_balance_backtest(empty, Gates()).passed
    losing = scores((0.1, 0.1), persistence=(0.9, 0.9))
    off = check_balance_backtest(losing, Gates(balance_gate=False))
    assert off.passed
    assert off.detail == "balance backtest gate is off"


def run(served: bool, checks: list[Check], status: RunStatus = RunStatus.SUCCEEDED) -> RunRecord:
    gates = GateResult(tuple(checks), 3)
    now = datetime.now(UTC)
    return RunRecord(
        id=4,
        status=status,
        watermark=9,
        config={},
        code_version=None,
        created_at=now,
        started_at=now,
        finished_at=now,
        error=None,
        metrics={"gates": gates.to_dict()},
        timings={},
        served=served,
    )


def test_a_held_run_names_its_failed_checks() -> None:
    ok = Check("output:balance", True, "output balance is present")
    held = Check("changes", False, "large moves since run 3 (served) come from few new rows")
    combined = with_checks(GateResult((ok,), 3), held)
    assert combined.failures == (held.detail,)
    assert combined.champion_run == 3
    assert not_served_reason(run(False, [ok, held])) == held.detail
    assert not_served_reason(run(True, [ok, held])) is None, "an admin served it"
    assert not_served_reason(run(False, [ok])) is None, "passed, superseded later"
    assert not_served_reason(run(False, [held], RunStatus.FAILED)) is None


# -- the reason in both languages ----------------------------------------------------------------


def test_every_gate_code_has_both_languages_and_is_used() -> None:
    assert_catalogue_complete(GATE_MESSAGES)
    sources = "".join(
        Path(str(module.__file__)).read_text(encoding="utf-8") for module in (promotion, changes)
    )
    assert {code for code in GATE_MESSAGES if f'"{code}"' not in sources} == set()
    with pytest.raises(KeyError, match=r"no message for the gate code 'balance\.imaginary'"):
        Check.of("balance_backtest", False, "balance.imaginary")


def test_a_held_run_says_why_in_chinese_and_an_older_run_keeps_its_english() -> None:
    table = scores((0.30, 0.55), persistence=(0.60, 0.70), persistence_with_trend=(0.2, 0.5))
    check = check_balance_backtest(table, Gates())
    english = (
        "balance backtest: the balance loses to persistence on both rank correlation and "
        "shortage flags: rank correlation/macro-F1 0.30/0.55 vs persistence 0.60/0.70, "
        "persistence with trend 0.20/0.50 (cut years 2020, 2021)"
    )
    assert check.detail == english
    held = run(False, [check])
    assert held.metrics["gates"]["checks"][0]["code"] == "balance.loses"
    assert not_served_reason(held) == not_served_reason(held, "en") == english
    assert not_served_reason(held, "zh") == (
        "供需平衡回测：供需平衡在排序相关和短缺标记上都不如 persistence：排序相关/macro-F1 为 "
        "0.30/0.55，对比 persistence 0.60/0.70, persistence with trend 0.20/0.50"
        "（截断年份 2020, 2021）"
    )
    older = run(False, [Check("balance_backtest", False, english)])
    assert not_served_reason(older, "zh") == english

"""Persons as they are served: declared per output column, rounded by column name."""

from __future__ import annotations

import pandas as pd

from data.store import OUTPUT_SPECS
from data.store.persons import round_persons
from data.store.tables import Persons


def test_a_column_name_means_the_same_in_every_output() -> None:
    meaning: dict[str, Persons | None] = {}
    for spec in OUTPUT_SPECS.values():
        for column in spec.columns:
            assert meaning.setdefault(column.name, column.persons) == column.persons, column.name
    assert meaning["gap_p50"] is Persons.COUNT
    assert meaning["gap_mean"] is Persons.MEAN
    assert meaning["recommended_quota"] is Persons.COUNT
    assert meaning["p_shortage"] is meaning["change_pct"] is meaning["scale_p50"] is None


def test_counts_become_integers_means_one_decimal_and_rates_stay() -> None:
    frame = pd.DataFrame(
        {
            "field_code": ["ic", "ai"],
            "gap_p50": [12.6, -3.4],
            "gap_after": [None, 7.5],
            "gap_mean": [12.64, -3.35],
            "p_shortage": [0.8312, 0.1],
        }
    )
    before = frame.copy()
    served = round_persons(frame)
    assert served["gap_p50"].tolist() == [13, -3]
    assert str(served["gap_p50"].dtype) == "int64"
    assert served["gap_after"].isna().tolist() == [True, False]
    assert served["gap_after"].iloc[1] == 8
    assert served["gap_mean"].tolist() == [12.6, -3.4]
    assert served["p_shortage"].tolist() == [0.8312, 0.1]
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is untouched
    json = served.to_json(orient="records")
    assert '"gap_p50":13,' in json
    assert '"gap_after":null' in json


def test_forecasts_round_the_persons_kinds_only() -> None:
    frame = pd.DataFrame(
        {"kind": ["enrollment", "placement_rate"], "forecast": [120.4, 0.834], "lo_80": [99.5, 0.7]}
    )
    json = round_persons(frame).to_json(orient="records")
    assert '"forecast":120,"lo_80":100' in json
    assert '"forecast":0.834,"lo_80":0.7' in json

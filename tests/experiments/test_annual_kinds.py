"""The annual-kinds benchmark: held-out years are cut per series, and a kind's table scores the
engine, the members and the statsforecast peers on them, on both scales."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from experiments.benchmarks.accuracy import PEERS
from experiments.benchmarks.annual_kinds import hold_out, run
from experiments.simcity import WORLDS, simulate
from features.panel import Panel
from features.talent import TalentData


@pytest.fixture(scope="module")
def data() -> TalentData:
    """A simulated steady city of two fields: small enough for a table in seconds."""
    city = simulate(replace(WORLDS["steady"], n_fields=2), seed=3)
    return TalentData.from_observations(city.catalog, city.observations)


def test_the_last_years_of_each_series_are_held_out_and_short_series_left_out() -> None:
    panel = Panel.from_arrays(
        {"long": np.arange(8.0), "short": np.arange(4.0), "other": np.arange(10.0, 17.0)},
        freq="Y",
    )
    train, actual = hold_out(panel, 3, 4)
    assert train.ids == ("long", "other")
    np.testing.assert_array_equal(train.series(0), np.arange(5.0))
    np.testing.assert_array_equal(actual, [[5.0, 6.0, 7.0], [14.0, 15.0, 16.0]])
    with pytest.raises(ValueError, match="--holdout"):
        hold_out(panel, 3, 8)


def test_a_kind_table_has_the_engine_and_every_peer_with_finite_scores(data: TalentData) -> None:
    tables, notes = run(data, ["tightness"], 2, limit=4, min_train=4)
    (title, table), (paired_title, paired) = tables.items()
    assert title.startswith("tightness (log ratio): 4 of 4 series, holdout 2 years")
    # Every cell is one number or name: the per-series scores stay out of the recorded table.
    assert "per series" not in table.columns
    assert not table.map(lambda cell: isinstance(cell, (dict, list, np.ndarray))).any().any()
    models = set(table["model"])
    expected = {"naive", "ENGINE (default)", "ENGINE (pipeline settings)"}
    expected |= {f"PEER {name}" for name in PEERS} | {"PEER median(ETS,ARIMA,DOTM,Theta)"}
    assert expected <= models
    scored = table[table["model"].isin(expected)].set_index("model")
    columns = ["MASE", "sMAPE", "MASE/naive", "MASE orig", "sMAPE orig", "cov80", "cov95"]
    assert np.isfinite(scored[columns].to_numpy(dtype=float)).all()
    assert scored[["cov80", "cov95"]].stack().between(0, 1).all()
    assert scored.loc["naive", "MASE/naive"] == 1.0
    # The original scale is another scale: ratios, not their logs.
    assert not np.allclose(scored["sMAPE orig"], scored["sMAPE"])
    assert notes[0].startswith("tightness: engine (default) selected ")
    # The engine as the pipeline fits the kind, against every other model, on the same series.
    assert paired_title.startswith("tightness: engine (pipeline settings) minus each model")
    assert set(paired["model"]) == models - {"ENGINE (pipeline settings)"}
    assert set(paired["MASE"]) | set(paired["sMAPE"]) <= {"better", "worse", "tied"}
    assert (paired["MASE low"] <= paired["MASE diff"]).all()
    assert (paired["MASE diff"] <= paired["MASE high"]).all()
    assert "among all models MASE " in notes[0]


def test_kinds_without_series_are_noted_not_scored(data: TalentData) -> None:
    empty = replace(data, outcomes=data.outcomes.iloc[:0])
    tables, notes = run(empty, ["rates"], 2, limit=2)
    assert tables == {}
    assert notes == ["rates: no series in the data"]

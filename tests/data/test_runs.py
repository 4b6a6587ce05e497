"""Runs in the store on SQLite and PostgreSQL: lifecycle, atomic outputs, served run, reads."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from support import all_at_once

from data.catalog import load_default_catalog
from data.ingest import open_store
from data.store import (
    OUTPUT_SPECS,
    OUTPUT_TABLES,
    ArtifactFile,
    RunRecord,
    RunStatus,
    Store,
    StoreError,
    UnknownArtifact,
    UnknownRun,
    UnknownUpload,
)
from data.store import runs as runs_module
from data.store.tables import MAX_ID, metadata, run_artifacts
from data.store.tables import runs as runs_table

#: The newest migration: a store upgraded to "head" is at this revision.
HEAD = "0012"

CONFIG: dict[str, Any] = {"horizon": 6, "levels": [80, 95], "models": {"ets": True}}
METRICS: dict[str, Any] = {"mase": {"hiring": 0.91, "enrollment": 0.62}, "coverage_80": 0.79}
TIMINGS: dict[str, float] = {"features": 1.5, "fit": 42.25, "balance": 0.75}


def _balance_values(rows: int) -> dict[str, list[float]]:
    keys = {"region", "field_code", "level", "year"}
    columns = [c.name for c in OUTPUT_SPECS["balance"].columns if c.name not in keys]
    return {
        name: [float(i * 10 + j) + 0.125 for i in range(rows)] for j, name in enumerate(columns)
    }


def sample_outputs() -> dict[str, pd.DataFrame]:
    """One small hand-made frame per output kind, with missing values where they are allowed,
    all of one region."""
    outputs = {
        "forecasts": pd.DataFrame(
            {
                "kind": ["hiring", "hiring", "enrollment", "placement_rate"],
                "series_id": ["ic|bachelor", "ic|bachelor", "080704|bachelor", "080704|bachelor"],
                "programme_code": [None, None, "080704", "080704"],
                "level": ["bachelor", "bachelor", "bachelor", "bachelor"],
                "field_code": ["ic", "ic", None, None],
                "period": ["2026-Q1", "2026-Q2", "2026", "2026"],
                "forecast": [410.5, 398.25, 300.0, 0.93],
                "lo_80": [380.0, 350.0, 280.0, 0.9],
                "hi_80": [440.0, 450.0, 320.0, 0.96],
                "lo_95": [360.0, np.nan, 270.0, 0.88],
                "hi_95": [460.0, np.nan, 330.0, 0.98],
                "model": ["ets+theta", "ets+theta", "arima", None],
            }
        ),
        "balance": pd.DataFrame(
            {
                "field_code": ["ic", "ic", "all"],
                "level": ["bachelor", "all", "all"],
                "year": [2028, 2028, 2029],
                **_balance_values(3),
            }
        ),
        "drivers": pd.DataFrame(
            {
                "field_code": ["ic", "ai"],
                "level": ["master", "all"],
                "year": [2028, 2029],
                "base_year": [2024, None],
                "base_gap": [-120.0, 30.0],
                "demand_growth": [80.0, np.nan],
                "survey_adjustment": [15.5, 0.0],
                "cohort_pipeline": [-40.0, -12.0],
                "rates": [2.5, 1.0],
                "gap": [-62.0, 19.0],
            }
        ),
        "programme_supply": pd.DataFrame(
            {
                "programme_code": ["080704", "080704", "080717T"],
                "level": ["bachelor", "bachelor", "bachelor"],
                "year": [2027, 2031, 2027],
                "graduates_p10": [280.0, 250.0, 100.0],
                "graduates_p50": [300.0, 290.0, 118.0],
                "graduates_p90": [320.0, 340.0, 130.0],
                "placement_rate": [0.93, 0.92, np.nan],
                "infield_rate": [0.41, 0.40, 0.55],
                "local_rate": [0.52, 0.51, 0.6],
                "from_enrolled_cohorts": [True, False, None],
            }
        ),
        "survey_bias": pd.DataFrame(
            {
                "source": ["天津市集成电路行业协会", "ai_alliance"],
                "field_code": ["ic", "ai"],
                "n_surveys": [4, None],
                "log_bias": [0.18, np.nan],
                "factor": [0.835, 1.0],
                "residual_sd": [0.07, np.nan],
            }
        ),
        "demand_scales": pd.DataFrame(
            {
                "field_code": ["ic", "ai"],
                "scale_p10": [1.4, 0.9],
                "scale_p50": [1.8, 2.2],
                "scale_p90": [2.3, 5.0],
                "source": ["hires", "outcome rates"],
                "hires_years": [8, 0],
                "note": ["", "no hires or admin scale to anchor the level"],
            }
        ),
        "warnings": pd.DataFrame(
            {
                "programme_code": ["080717T", "080717T", "050201"],
                "level": ["bachelor", "bachelor", "higher_vocational"],
                "rule": [
                    "tj_2009_below_40_two_years",
                    "moe_2011_below_60_two_years",
                    "tj_2009_below_60",
                ],
                "action": ["stop", "reduce", "cap_at_placed"],
                "first_year": [2023, 2023, 2024],
                "last_year": [2024, 2024, None],
                "rate_last": [0.35, 0.35, 0.55],
                "rate_previous": [0.38, 0.38, np.nan],
                "graduates_last": [170, 170, 80],
                "placed_last": [60, 60, 44],
                "threshold": [0.4, 0.6, 0.6],
                "message_zh": ["连续两年毕业去向落实率低于40%，停止招生", "连续两年低于60%", None],
                "message_en": ["Below 40% two years running: stop enrollment", None, None],
            }
        ),
        "recommendations": pd.DataFrame(
            {
                "programme_code": ["080710T", "080704"],
                "level": ["bachelor", "master"],
                "field_code": ["ic", None],
                "intake_year": [2027, 2027],
                "graduation_year": [2031, None],
                "current_quota": [120.0, 60.0],
                "recommended_quota": [150.0, 60.0],
                "change": [30.0, 0.0],
                "change_pct": [0.25, 0.0],
                "quota_p10": [135.0, np.nan],
                "quota_p90": [162.5, np.nan],
                "gap_before": [85.5, -3.0],
                "gap_after": [57.25, -3.0],
                "p_shortage_before": [0.91, 0.4],
                "p_shortage_after": [0.72, 0.4],
                "binding": ["max_change,capacity", None],
                "reasons": ["shortage_likely,capacity", "balanced"],
                "reason_zh": [
                    "集成电路人才缺口大概率存在；受最大增幅与办学能力限制",
                    "供需基本平衡",
                ],
                "reason_en": ["A shortage is likely; limited by the maximum change", None],
            }
        ),
    }
    return {name: frame.assign(region="120000") for name, frame in outputs.items()}


def expected(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """What reading an output back should give: every column, typed, sorted by its key."""
    spec = OUTPUT_SPECS[name]
    dtypes = {float: "float64", int: "Int64", bool: "boolean", str: object}
    out = frame.reindex(columns=list(spec.names))
    out = out.astype({c.name: dtypes[c.type.python_type] for c in spec.columns})
    text = [c.name for c in spec.columns if c.type.python_type is str]
    out[text] = out[text].where(out[text].notna(), None)
    return out.sort_values(list(spec.key), kind="stable").reset_index(drop=True)


def artifact_count(store: Store) -> int:
    """Artifacts stored, over all runs."""
    with store.engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(run_artifacts)
        return int(connection.execute(query).scalar_one())


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """Compressed ``.npz`` content, as the pipeline stores joint samples."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def output_counts(store: Store) -> dict[str, int]:
    """Rows of every output table, over all runs."""
    with store.engine.connect() as connection:
        return {
            name: int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
            for name, table in OUTPUT_TABLES.items()
        }


def running_run(store: Store) -> RunRecord:
    return store.start_run(store.create_run(store.watermark(), CONFIG, "abc123").id)


def succeeded_run(store: Store, outputs: dict[str, pd.DataFrame] | None = None) -> RunRecord:
    run = running_run(store)
    return store.finish_run(
        run.id, sample_outputs() if outputs is None else outputs, metrics=METRICS, timings=TIMINGS
    )


def test_lifecycle_records_watermark_config_times_metrics(store: Store) -> None:
    before = datetime.now(UTC)
    watermark = store.watermark()
    created = store.create_run(watermark, CONFIG, code_version="abc123")
    assert created.status is RunStatus.PENDING
    assert (created.watermark, created.config, created.code_version) == (
        watermark,
        CONFIG,
        "abc123",
    )
    assert created.created_at.tzinfo == UTC
    assert before <= created.created_at <= datetime.now(UTC)
    assert (created.started_at, created.finished_at, created.error) == (None, None, None)
    assert (created.metrics, created.timings, created.served) == ({}, {}, False)

    started = store.start_run(created.id)
    assert started.status == "running"
    assert started.started_at is not None
    assert started.started_at.tzinfo == UTC
    assert started.started_at >= created.created_at

    finished = store.finish_run(
        created.id, sample_outputs(), metrics=METRICS, timings={**TIMINGS, "fit": np.float64(42.25)}
    )
    assert finished.status == "succeeded"
    assert finished.finished_at is not None
    assert finished.finished_at >= started.started_at
    assert (finished.metrics, finished.timings) == (METRICS, TIMINGS)
    assert not finished.served
    assert store.run(created.id) == finished
    assert {finished} == {store.run(created.id)}, "records are hashable despite their dicts"


def test_fail_run_from_pending_or_running_records_the_error(store: Store) -> None:
    pending = store.create_run(store.watermark(), {})
    failed = store.fail_run(pending.id, "no hiring data for ic")
    assert (failed.status, failed.error) == ("failed", "no hiring data for ic")
    assert failed.finished_at is not None
    assert failed.started_at is None

    running = running_run(store)
    failed = store.fail_run(running.id, "Traceback ...\nValueError: singular matrix")
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.endswith("singular matrix")
    assert store.run(running.id) == failed


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("running", "start", "cannot start run .*: it is running, and only a pending run"),
        ("pending", "finish", "cannot finish run .*: it is pending, and only a running run"),
        ("succeeded", "finish", "cannot finish run .*: it is succeeded"),
        ("succeeded", "start", "cannot start run .*: it is succeeded"),
        ("succeeded", "fail", "cannot fail run .*: it is succeeded, and only a pending or running"),
        ("failed", "start", "cannot start run .*: it is failed"),
        ("failed", "finish", "cannot finish run .*: it is failed"),
        ("failed", "fail", "cannot fail run .*: it is failed"),
    ],
)
def test_refused_transitions_name_the_current_status(
    store: Store, setup: str, action: str, message: str
) -> None:
    run = store.create_run(store.watermark(), CONFIG)
    if setup != "pending":
        store.start_run(run.id)
    if setup == "succeeded":
        store.finish_run(run.id, {}, metrics={}, timings={})
    if setup == "failed":
        store.fail_run(run.id, "boom")
    before = store.run(run.id)
    counts = output_counts(store)
    actions = {
        "start": lambda: store.start_run(run.id),
        "finish": lambda: store.finish_run(
            run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS
        ),
        "fail": lambda: store.fail_run(run.id, "again"),
    }
    with pytest.raises(StoreError, match=message):
        actions[action]()
    assert store.run(run.id) == before
    assert output_counts(store) == counts


def test_unknown_runs_and_watermarks_are_refused(store: Store) -> None:
    with pytest.raises(UnknownUpload, match="no upload has that id"):
        store.create_run(999_999, CONFIG)
    assert store.runs() == []
    for call in (
        lambda: store.run(999),
        lambda: store.start_run(999),
        lambda: store.finish_run(999, {}, metrics={}, timings={}),
        lambda: store.fail_run(999, "x"),
        lambda: store.set_served(999),
        lambda: store.run_output(999, "balance"),
    ):
        with pytest.raises(UnknownRun, match="no run with id 999"):
            call()
    assert issubclass(UnknownRun, LookupError)


@pytest.mark.parametrize("number", [MAX_ID + 1, 2**63, -(2**40)])
def test_ids_past_the_integer_range_are_unknown_not_an_error(store: Store, number: int) -> None:
    """PostgreSQL refuses to even compare an INTEGER column with them (a 500 at the API):
    the store answers as for any id it does not have."""
    with pytest.raises(UnknownUpload):
        store.create_run(number, CONFIG)
    with pytest.raises(UnknownUpload):
        store.upload(number)
    for call in (
        lambda: store.run(number),
        lambda: store.start_run(number),
        lambda: store.finish_run(number, {}, metrics={}, timings={}),
        lambda: store.fail_run(number, "x"),
        lambda: store.set_served(number),
        lambda: store.run_output(number, "balance"),
        lambda: store.run_artifact(number, "x"),
        lambda: store.run_artifact_names(number),
    ):
        with pytest.raises(UnknownRun, match=f"no run with id {number}"):
            call()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"alpha": float("nan")}, r"config\['alpha'\] is nan"),
        ({"levels": [80, float("inf")]}, r"config\['levels'\]\[1\] is inf"),
        ({"when": datetime(2026, 1, 1)}, r"config\['when'\] is a datetime"),
        ({1: "x"}, "keys must be text"),
    ],
)
def test_config_must_be_plain_json(store: Store, config: dict[Any, Any], message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.create_run(store.watermark(), config)
    assert store.runs() == []


def test_numpy_values_in_config_are_stored_as_plain_json(store: Store) -> None:
    config = {"horizon": np.int64(6), "alpha": np.float64(0.5), "levels": np.array([80, 95])}
    run = store.create_run(store.watermark(), config)
    assert run.config == {"horizon": 6, "alpha": 0.5, "levels": [80, 95]}


def test_finish_run_round_trips_every_output(store: Store) -> None:
    outputs = sample_outputs()
    run = succeeded_run(store, outputs)
    assert set(outputs) == set(OUTPUT_TABLES)
    for name, frame in outputs.items():
        read = store.run_output(run.id, name)
        assert "run_id" not in read.columns
        pd.testing.assert_frame_equal(read, expected(name, frame), check_exact=True)
    assert output_counts(store) == {name: len(frame) for name, frame in outputs.items()}

    forecasts = store.run_output(run.id, "forecasts")
    assert forecasts["forecast"].dtype == np.float64
    assert forecasts["kind"].tolist() == ["enrollment", "hiring", "hiring", "placement_rate"]
    assert forecasts["period"].tolist() == ["2026", "2026-Q1", "2026-Q2", "2026"]
    supply = store.run_output(run.id, "programme_supply")
    assert supply["year"].dtype == "Int64"
    assert supply["from_enrolled_cohorts"].dtype == "boolean"
    assert supply["from_enrolled_cohorts"].tolist() == [True, False, pd.NA]
    bias = store.run_output(run.id, "survey_bias")
    assert bias["n_surveys"].tolist() == [pd.NA, 4]
    assert bias["source"].tolist() == ["ai_alliance", "天津市集成电路行业协会"]


def test_policy_outputs_round_trip_typed_and_sorted_by_their_key(store: Store) -> None:
    outputs = sample_outputs()
    run = succeeded_run(store, {k: outputs[k] for k in ("warnings", "recommendations")})

    warnings = store.run_output(run.id, "warnings")
    pd.testing.assert_frame_equal(warnings, expected("warnings", outputs["warnings"]))
    assert list(warnings.columns) == list(OUTPUT_SPECS["warnings"].names)
    assert warnings[["programme_code", "rule"]].values.tolist() == [
        ["050201", "tj_2009_below_60"],
        ["080717T", "moe_2011_below_60_two_years"],
        ["080717T", "tj_2009_below_40_two_years"],
    ]
    assert warnings["last_year"].dtype == "Int64"
    assert warnings["last_year"].tolist() == [pd.NA, 2024, 2024]
    assert warnings["message_zh"].tolist()[0] is None
    assert warnings["message_zh"].tolist()[2] == "连续两年毕业去向落实率低于40%，停止招生"
    stops = store.run_output(run.id, "warnings", action=["stop", "alternate_years"])
    assert stops["programme_code"].tolist() == ["080717T"]

    recommendations = store.run_output(run.id, "recommendations")
    pd.testing.assert_frame_equal(
        recommendations, expected("recommendations", outputs["recommendations"]), check_exact=True
    )
    assert recommendations["programme_code"].tolist() == ["080704", "080710T"]
    assert recommendations["intake_year"].dtype == "Int64"
    assert recommendations["recommended_quota"].tolist() == [60.0, 150.0]
    assert recommendations["binding"].tolist() == [None, "max_change,capacity"]
    ic = store.run_output(run.id, "recommendations", field_code="ic", intake_year=2027)
    assert ic["reason_zh"].tolist() == ["集成电路人才缺口大概率存在；受最大增幅与办学能力限制"]


def test_optional_columns_and_outputs_may_be_left_out(store: Store) -> None:
    columns = ["region", "kind", "series_id", "period", "forecast"]
    frame = sample_outputs()["forecasts"].loc[:, columns]
    run = succeeded_run(store, {"forecasts": frame})
    read = store.run_output(run.id, "forecasts")
    assert read["lo_80"].isna().all()
    assert read["model"].tolist() == [None] * len(frame)
    assert store.run_output(run.id, "balance").empty
    assert list(store.run_output(run.id, "balance").columns) == list(OUTPUT_SPECS["balance"].names)


def _with(name: str, change: Any) -> dict[str, pd.DataFrame]:
    outputs = sample_outputs()
    outputs[name] = change(outputs[name])
    return outputs


def _set(column: str, row: int, value: Any) -> Any:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object}) if not isinstance(value, float) else frame
        frame.loc[row, column] = value
        return frame

    return change


BAD_OUTPUTS: dict[str, tuple[Any, str]] = {
    "NaN in a required column": (
        lambda: _with("balance", _set("p_shortage", 2, np.nan)),
        r"output 'balance', column 'p_shortage': missing value .* first at row 2",
    ),
    "None in a required text column": (
        lambda: _with("drivers", _set("level", 1, None)),
        r"output 'drivers', column 'level': missing value .* first at row 1",
    ),
    "missing required column": (
        lambda: _with("forecasts", lambda f: f.drop(columns=["period"])),
        r"output 'forecasts': missing required columns \['period'\]",
    ),
    "extra column": (
        lambda: _with("survey_bias", lambda f: f.assign(level="bachelor")),
        r"output 'survey_bias': unknown columns \['level'\]",
    ),
    "run_id column": (
        lambda: _with("balance", lambda f: f.assign(run_id=1)),
        r"unknown columns \['run_id'\] \(the store sets run_id\)",
    ),
    "unknown output": (
        lambda: {**sample_outputs(), "shortages": pd.DataFrame({"x": [1]})},
        r"unknown run output 'shortages'; outputs are \['balance', ",
    ),
    "text where a number belongs": (
        lambda: _with("programme_supply", _set("graduates_p50", 1, "many")),
        r"'programme_supply', column 'graduates_p50': expected a number: 1 row, first at row 1",
    ),
    "number where text belongs": (
        lambda: _with("programme_supply", _set("programme_code", 0, 80704)),
        r"column 'programme_code': expected text: 1 row, first at row 0 \(value 80704\)",
    ),
    "fractional year": (
        lambda: _with("balance", lambda f: f.assign(year=[2028.5, 2028, 2029])),
        r"'balance', column 'year': expected a whole number",
    ),
    "infinite value": (
        lambda: _with("balance", _set("ratio_p50", 0, float("inf"))),
        r"'balance', column 'ratio_p50': infinite value",
    ),
    "text too long": (
        lambda: _with("forecasts", _set("period", 3, "2026-Q1-extra")),
        r"'forecasts', column 'period': text longer than 8 characters",
    ),
    "not a boolean": (
        lambda: _with("programme_supply", _set("from_enrolled_cohorts", 0, "yes")),
        r"column 'from_enrolled_cohorts': expected True/False",
    ),
    "duplicate key": (
        lambda: _with("drivers", lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True)),
        r"output 'drivers': key \{'region': '120000', 'field_code': 'ic', 'level': 'master', "
        r"'year': 2028\} "
        r"appears 2 times \(first at row 0\)",
    ),
    "duplicate warning": (
        lambda: _with("warnings", lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True)),
        r"output 'warnings': key \{'region': '120000', 'programme_code': '080717T', "
        r"'level': 'bachelor', 'rule': 'moe_2011_below_60_two_years'\} appears 2 times "
        r"\(first at row 1\); each \('region', 'programme_code', 'level', 'rule'\) must be "
        r"unique per run",
    ),
    "missing recommended quota": (
        lambda: _with("recommendations", _set("recommended_quota", 1, np.nan)),
        r"'recommendations', column 'recommended_quota': missing value .* first at row 1",
    ),
    "reason too long": (
        lambda: _with("recommendations", _set("reasons", 0, "x" * 301)),
        r"'recommendations', column 'reasons': text longer than 300 characters",
    ),
    "not a frame": (
        lambda: {**sample_outputs(), "balance": [{"field_code": "ic"}]},
        "output 'balance' must be a pandas DataFrame",
    ),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_frame_is_refused_and_nothing_is_written(store: Store, case: str) -> None:
    make, message = BAD_OUTPUTS[case]
    run = running_run(store)
    with pytest.raises(StoreError, match=message):
        store.finish_run(run.id, make(), metrics=METRICS, timings=TIMINGS)
    assert store.run(run.id) == run
    assert output_counts(store) == dict.fromkeys(OUTPUT_TABLES, 0)


def test_outputs_stored_ahead_are_the_runs_with_the_rest_or_go_with_a_failure(
    store: Store,
) -> None:
    """A province run stores each city's rows as they are computed: finished, the run has
    them and the rest; failed, it has none; a bad frame or a run not running writes nothing."""
    outputs = sample_outputs()
    ahead = {name: outputs[name] for name in ("forecasts", "balance")}
    rest = {name: frame for name, frame in outputs.items() if name not in ahead}
    run = running_run(store)
    store.add_outputs(run.id, ahead)
    assert store.run(run.id).status == "running"
    with pytest.raises(StoreError, match=r"p_shortage"):
        store.add_outputs(run.id, _with("balance", _set("p_shortage", 2, np.nan)))
    assert output_counts(store)["balance"] == len(outputs["balance"]), "nothing more written"
    store.finish_run(run.id, rest, metrics=METRICS, timings=TIMINGS)
    for name, frame in outputs.items():
        pd.testing.assert_frame_equal(store.run_output(run.id, name), expected(name, frame))
    with pytest.raises(StoreError, match=f"cannot add outputs to run {run.id}: it is succeeded"):
        store.add_outputs(run.id, ahead)
    assert output_counts(store) == {name: len(frame) for name, frame in outputs.items()}

    failing = running_run(store)
    store.add_outputs(failing.id, ahead)
    store.fail_run(failing.id, "RuntimeError: the tenth city could not be read")
    assert output_counts(store) == {name: len(frame) for name, frame in outputs.items()}
    pending = store.create_run(store.watermark(), CONFIG, "abc123")
    with pytest.raises(StoreError, match="it is pending, and only a running run"):
        store.add_outputs(pending.id, ahead)


@pytest.mark.parametrize(
    ("metrics", "timings", "message"),
    [
        ({"mase": float("nan")}, TIMINGS, r"metrics\['mase'\] is nan"),
        (METRICS, {"fit": "slow"}, r"timings\['fit'\] must be a number of seconds"),
    ],
)
def test_bad_metrics_or_timings_are_refused_before_writing(
    store: Store, metrics: dict[str, Any], timings: dict[str, Any], message: str
) -> None:
    run = running_run(store)
    with pytest.raises(StoreError, match=message):
        store.finish_run(run.id, sample_outputs(), metrics=metrics, timings=timings)
    assert store.run(run.id).status == "running"
    assert output_counts(store) == dict.fromkeys(OUTPUT_TABLES, 0)


def test_database_failure_half_way_rolls_back_every_output(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the second output table (its rows arrive twice, breaking the unique
    key): the forecasts already inserted in that call vanish and the run stays running."""
    real_insert = runs_module.bulk_insert
    inserted: list[str] = []

    def insert_balance_twice(
        connection: sa.Connection, table: sa.Table, frame: pd.DataFrame
    ) -> int:
        count = real_insert(connection, table, frame)
        inserted.append(table.name)
        if table.name == "run_balance":
            real_insert(connection, table, frame)
        return count

    monkeypatch.setattr(runs_module, "bulk_insert", insert_balance_twice)
    run = running_run(store)
    with pytest.raises(sa.exc.IntegrityError):
        store.finish_run(run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS)
    assert inserted == ["run_forecasts", "run_balance"], "forecasts were written before the error"
    assert store.run(run.id) == run
    assert output_counts(store) == dict.fromkeys(OUTPUT_TABLES, 0)

    monkeypatch.undo()
    finished = store.finish_run(run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS)
    assert finished.status == "succeeded"
    assert output_counts(store) == {name: len(f) for name, f in sample_outputs().items()}


def test_served_run_switches_exclusively_and_only_to_succeeded_runs(store: Store) -> None:
    assert store.served_run() is None
    first = succeeded_run(store)
    second = succeeded_run(store)
    assert store.set_served(first.id).served
    assert store.served_run() == store.run(first.id)

    promoted = store.set_served(second.id)
    assert promoted.served
    assert store.served_run() == promoted
    assert not store.run(first.id).served
    assert [run.id for run in store.runs() if run.served] == [second.id]
    assert store.set_served(second.id) == promoted, "serving the served run again is a no-op"

    failed = store.fail_run(running_run(store).id, "boom")
    running = running_run(store)
    for refused in (failed, running):
        with pytest.raises(StoreError, match=f"cannot serve run {refused.id}: it is"):
            store.set_served(refused.id)
    assert store.served_run() == promoted
    assert [run.id for run in store.runs() if run.served] == [second.id]


def test_a_run_finished_as_served_is_never_seen_succeeded_and_unserved(store: Store) -> None:
    first = succeeded_run(store)
    store.set_served(first.id)
    run = running_run(store)
    finished = store.finish_run(
        run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, served_by="worker@host:1"
    )
    assert finished.status == "succeeded"
    assert finished.served
    assert store.served_run() == finished
    assert not store.run(first.id).served
    promoted = store.audit_log(action="run.promote", limit=1)[0]
    assert (promoted.actor, promoted.target) == ("worker@host:1", f"run #{run.id}")
    # A failed write serves nothing: the run stays running and the old one served.
    another = running_run(store)
    with pytest.raises(StoreError):
        store.finish_run(another.id, {"balance": pd.DataFrame({"x": [1]})}, metrics=METRICS,
                         timings=TIMINGS, served_by="worker@host:1")  # fmt: skip
    assert store.run(another.id).status == "running"
    assert store.served_run() == finished


def test_concurrent_promotions_leave_exactly_one_served_run(store_url: str) -> None:
    store = open_store(store_url, catalog=load_default_catalog())
    candidates = [succeeded_run(store, {}) for _ in range(6)]
    store.set_served(candidates[0].id)
    all_at_once([partial(store.set_served, run.id) for run in candidates])
    try:
        served = [run for run in store.runs() if run.served]
        assert len(served) == 1
        assert store.served_run() == served[0]
    finally:
        store.dispose()


def test_the_database_itself_allows_one_served_run_only(store: Store) -> None:
    """The partial unique index and the check constraint hold even for writes that bypass
    ``set_served`` (a concurrent promotion, a hand-made UPDATE)."""
    first, second = succeeded_run(store), succeeded_run(store)
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            runs_table.update()
            .where(runs_table.c.id.in_([first.id, second.id]))
            .values(served=True)
        )
    failed = store.fail_run(running_run(store).id, "boom")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            runs_table.update().where(runs_table.c.id == failed.id).values(served=True)
        )
    assert store.served_run() is None


def test_identical_requests_arriving_together_queue_one_run(store: Store) -> None:
    """Eight clicks on "retrain" at the same instant, each in its own thread (and pooled
    connection): one pending run, which every click is answered with."""
    click = partial(store.queue_run, store.watermark(), CONFIG, queue_key="same request")
    answers = all_at_once([click] * 8)
    assert sum(created for _, created in answers) == 1
    assert len({run.id for run, _ in answers}) == 1
    assert len(store.runs(status="pending")) == 1


def test_the_database_itself_keeps_one_pending_run_per_request(store: Store) -> None:
    """The partial unique index refuses a second pending run for the same request even from a
    write that bypasses ``queue_run``; once the run has started the request may queue again."""
    first, created = store.queue_run(store.watermark(), CONFIG, queue_key="k")
    assert created
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            runs_table.insert().values(
                status="pending",
                watermark=store.watermark(),
                config="{}",
                created_at=datetime.now(UTC),
                queue_key="k",
            )
        )
    assert store.queue_run(store.watermark(), CONFIG, queue_key="k") == (first, False)
    store.start_run(first.id)
    again, created = store.queue_run(store.watermark(), CONFIG, queue_key="k")
    assert created
    assert again.id != first.id
    other, created = store.queue_run(store.watermark(), CONFIG, queue_key="other request")
    assert created
    assert other.id not in (first.id, again.id)


def test_run_output_filters_and_keeps_vintages_apart(store: Store) -> None:
    old = succeeded_run(store)
    changed = sample_outputs()
    changed["forecasts"]["forecast"] = changed["forecasts"]["forecast"] * 2
    new = succeeded_run(store, changed)

    hiring = store.run_output(new.id, "forecasts", kind="hiring", field_code="ic")
    assert hiring["period"].tolist() == ["2026-Q1", "2026-Q2"]
    assert hiring["forecast"].tolist() == [821.0, 796.5]
    vintage = store.run_output(old.id, "forecasts", kind="hiring", field_code="ic")
    assert vintage["forecast"].tolist() == [410.5, 398.25]

    balance = store.run_output(new.id, "balance", level=["all", "master"], year=2028)
    assert balance[["field_code", "level", "year"]].values.tolist() == [["ic", "all", 2028]]
    by_year = store.run_output(new.id, "balance", year=np.int64(2029))
    assert by_year["field_code"].tolist() == ["all"]
    assert store.run_output(new.id, "drivers", field_code=[]).empty
    no_code = store.run_output(new.id, "forecasts", programme_code=None)
    assert set(no_code["kind"]) == {"hiring"}
    cohorts = store.run_output(new.id, "programme_supply", from_enrolled_cohorts=True)
    assert cohorts["year"].tolist() == [2027]

    assert len(store.run_output(new.id, "balance", region="120000")) == 3
    assert store.run_output(new.id, "balance", region="130000").empty
    with pytest.raises(StoreError, match=r"cannot filter output 'balance' by 'province'"):
        store.run_output(new.id, "balance", province="120000")
    with pytest.raises(StoreError, match=r"filter year='2028': expected int"):
        store.run_output(new.id, "balance", year="2028")
    with pytest.raises(StoreError, match="unknown run output 'shortages'"):
        store.run_output(new.id, "shortages")


def test_runs_are_listed_newest_first(store: Store) -> None:
    assert store.latest_run() is None
    done = succeeded_run(store)
    failed = store.fail_run(store.create_run(store.watermark(), {}).id, "x")
    pending = store.create_run(store.watermark(), {})
    assert [r.id for r in store.runs()] == [pending.id, failed.id, done.id]
    assert [r.id for r in store.runs(limit=2)] == [pending.id, failed.id]
    assert [r.id for r in store.runs(status="failed")] == [failed.id]
    # a page at a time, with the count over all pages
    assert [r.id for r in store.runs(limit=2, offset=1)] == [failed.id, done.id]
    assert store.runs(limit=2, offset=3) == []
    assert (store.count_runs(), store.count_runs("failed"), store.count_runs("running")) == (
        3,
        1,
        0,
    )
    assert store.latest_run() == done
    assert store.latest_run("pending") == pending
    assert store.latest_run(None) == pending
    assert store.latest_run("running") is None
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        store.runs(status="done")


def test_runs_survive_reconnecting(store_url: str) -> None:
    first = open_store(store_url, catalog=load_default_catalog())
    run = succeeded_run(first)
    served = first.set_served(run.id)
    pending = first.create_run(first.watermark(), CONFIG)
    outputs = {name: first.run_output(run.id, name) for name in OUTPUT_TABLES}
    first.dispose()

    again = open_store(store_url, catalog=load_default_catalog())
    try:
        assert again.run(run.id) == served
        assert again.served_run() == served
        assert served.metrics == METRICS
        assert again.run(pending.id) == pending
        for name, frame in outputs.items():
            pd.testing.assert_frame_equal(again.run_output(run.id, name), frame)
        assert again.start_run(pending.id).status == "running"
    finally:
        again.dispose()


# -- artifacts -------------------------------------------------------------------------------


def test_artifacts_are_written_with_the_outputs_and_read_back_byte_for_byte(
    store: Store,
) -> None:
    rng = np.random.default_rng(7)
    samples = npz_bytes(gap=rng.normal(size=(200, 12)), years=np.arange(2027, 2039))
    # bytes-like content is accepted and read back as bytes
    artifacts: dict[str, Any] = {
        "balance_samples.npz": samples,
        "quota_samples.npz": bytearray(b"\x00\x01\xff"),
    }
    run = running_run(store)
    finished = store.finish_run(
        run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, artifacts=artifacts
    )
    assert finished.status == "succeeded"
    assert store.run_artifact_names(run.id) == ["balance_samples.npz", "quota_samples.npz"]
    content = store.run_artifact(run.id, "balance_samples.npz")
    assert type(content) is bytes
    assert content == samples
    with np.load(io.BytesIO(content), allow_pickle=False) as loaded:
        assert loaded["years"].tolist() == list(range(2027, 2039))
    assert store.run_artifact(run.id, "quota_samples.npz") == b"\x00\x01\xff"
    with store.engine.connect() as connection:
        sizes = dict(
            connection.execute(sa.select(run_artifacts.c.name, run_artifacts.c.size_bytes)).all()
        )
    assert sizes == {"balance_samples.npz": len(samples), "quota_samples.npz": 3}

    with pytest.raises(UnknownArtifact, match=rf"run {run.id} has no artifact 'samples.npz'") as e:
        store.run_artifact(run.id, "samples.npz")
    assert "its artifacts are ['balance_samples.npz', 'quota_samples.npz']" in str(e.value)
    assert isinstance(e.value, StoreError)
    assert isinstance(e.value, LookupError)

    other = succeeded_run(store, {})
    assert store.run_artifact_names(other.id) == []
    with pytest.raises(UnknownArtifact, match=r"has no artifact 'balance_samples\.npz'; it has no"):
        store.run_artifact(other.id, "balance_samples.npz")
    for call in (lambda: store.run_artifact(999, "x"), lambda: store.run_artifact_names(999)):
        with pytest.raises(UnknownRun, match="no run with id 999"):
            call()


def test_spooled_artifacts_are_stored_from_their_files(store: Store, tmp_path: Path) -> None:
    """A province run writes each city's samples to a file as it goes; what is stored is the
    file's content, and a missing file is refused before anything is written."""
    spooled = tmp_path / "balance_samples_130100.npz"
    content = npz_bytes(gap=np.arange(12.0))
    spooled.write_bytes(content)
    run = running_run(store)
    store.finish_run(
        run.id,
        sample_outputs(),
        metrics=METRICS,
        timings=TIMINGS,
        artifacts={"balance_samples_130100.npz": ArtifactFile(spooled), "b.npz": b"b"},
    )
    assert store.run_artifact(run.id, "balance_samples_130100.npz") == content

    missing = running_run(store)
    with pytest.raises(StoreError, match=r"artifact 'gone.npz': its file .*gone.npz does not"):
        store.finish_run(
            missing.id,
            sample_outputs(),
            metrics=METRICS,
            timings=TIMINGS,
            artifacts={"a.npz": b"a", "gone.npz": ArtifactFile(tmp_path / "gone.npz")},
        )
    assert store.run(missing.id) == missing
    assert store.run_artifact_names(missing.id) == []


@pytest.mark.parametrize(
    ("artifacts", "message"),
    [
        ({"samples.npz": Path("samples.npz")}, "must be bytes .* or an ArtifactFile, not"),
        ({"samples.npz": np.zeros(3)}, "artifact 'samples.npz' must be bytes .* not ndarray"),
        ({"samples.npz": "text"}, "artifact 'samples.npz' must be bytes .* not str"),
        ({"": b"x"}, "artifact name '': a name is non-empty text of at most 100 characters"),
        ({"x" * 101: b"x"}, "a name is non-empty text of at most 100 characters"),
        ({1: b"x"}, "artifact name 1: a name is non-empty text"),
        ([("samples.npz", b"x")], "artifacts must be a mapping of names to bytes"),
    ],
)
def test_bad_artifacts_are_refused_before_writing(
    store: Store, artifacts: Any, message: str
) -> None:
    run = running_run(store)
    with pytest.raises(StoreError, match=message):
        store.finish_run(
            run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, artifacts=artifacts
        )
    assert store.run(run.id) == run
    assert output_counts(store) == dict.fromkeys(OUTPUT_TABLES, 0)
    assert artifact_count(store) == 0


def test_invalid_outputs_write_no_artifacts_either(store: Store) -> None:
    make, message = BAD_OUTPUTS["duplicate warning"]
    run = running_run(store)
    with pytest.raises(StoreError, match=message):
        store.finish_run(
            run.id, make(), metrics=METRICS, timings=TIMINGS, artifacts={"a.npz": b"samples"}
        )
    assert store.run(run.id) == run
    assert artifact_count(store) == 0
    assert store.run_artifact_names(run.id) == []


def test_database_failure_after_the_artifacts_rolls_them_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The artifacts are in the transaction when the database refuses an output (rows of
    ``run_balance`` arriving twice): they vanish with it, and a retry writes them once."""
    real_insert = runs_module.bulk_insert
    seen_in_transaction: list[int] = []

    def insert_balance_twice(
        connection: sa.Connection, table: sa.Table, frame: pd.DataFrame
    ) -> int:
        count = real_insert(connection, table, frame)
        if table.name == "run_balance":
            query = sa.select(sa.func.count()).select_from(run_artifacts)
            seen_in_transaction.append(int(connection.execute(query).scalar_one()))
            real_insert(connection, table, frame)
        return count

    monkeypatch.setattr(runs_module, "bulk_insert", insert_balance_twice)
    artifacts = {"balance_samples.npz": npz_bytes(gap=np.arange(6.0)), "b.bin": b"\x00" * 10}
    run = running_run(store)
    with pytest.raises(sa.exc.IntegrityError):
        store.finish_run(
            run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, artifacts=artifacts
        )
    assert seen_in_transaction == [2], "the artifacts were written before the error"
    assert store.run(run.id) == run
    assert artifact_count(store) == 0
    assert output_counts(store) == dict.fromkeys(OUTPUT_TABLES, 0)

    monkeypatch.undo()
    store.finish_run(
        run.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, artifacts=artifacts
    )
    assert store.run_artifact_names(run.id) == ["b.bin", "balance_samples.npz"]
    assert artifact_count(store) == 2


def test_fail_run_leaves_no_artifacts(store: Store) -> None:
    """finish_run is the only writer and a succeeded run cannot fail, so these rows are planted
    by hand, as a writer bypassing the store might: failing the run removes them like outputs."""
    run = running_run(store)
    other = running_run(store)
    with store.engine.begin() as connection:
        for run_id in (run.id, other.id):
            connection.execute(
                run_artifacts.insert().values(
                    run_id=run_id,
                    name="balance_samples.npz",
                    content=b"partial",
                    size_bytes=7,
                    created_at=datetime.now(UTC),
                )
            )
    assert store.run_artifact_names(run.id) == ["balance_samples.npz"]
    failed = store.fail_run(run.id, "killed after writing samples")
    assert failed.status == "failed"
    assert store.run_artifact_names(run.id) == []
    with pytest.raises(UnknownArtifact, match="it has no artifacts"):
        store.run_artifact(run.id, "balance_samples.npz")
    assert store.run_artifact(other.id, "balance_samples.npz") == b"partial", "others are kept"

    pending = store.create_run(store.watermark(), CONFIG)
    assert store.fail_run(pending.id, "cancelled").status == "failed"
    assert store.run_artifact_names(pending.id) == []


def test_a_30_mb_artifact_round_trips(store: Store) -> None:
    """Joint samples reach ~30 MB: SQLite's BLOB and PostgreSQL's bytea (through psycopg 3)
    must carry them whole. Random bytes do not compress, so no layer can shrink them."""
    content = os.urandom(30 * 1024 * 1024)
    run = store.finish_run(
        running_run(store).id,
        {},
        metrics=METRICS,
        timings=TIMINGS,
        artifacts={"balance_samples.npz": content},
    )
    read = store.run_artifact(run.id, "balance_samples.npz")
    assert len(read) == len(content)
    assert read == content


# -- migrations ------------------------------------------------------------------------------


def _migrate(store: Store, direction: str, revision: str) -> None:
    """Run ``alembic upgrade/downgrade`` on the store's database, as ``Store.upgrade`` does."""
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("data.store").joinpath("migrations"))
    )
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _schema(store: Store) -> tuple[str, set[str]]:
    with store.engine.connect() as connection:
        version = connection.execute(sa.text("select version_num from alembic_version")).scalar()
        tables = set(sa.inspect(connection).get_table_names())
    return str(version), tables


def test_downgrade_to_0002_and_upgrade_again(store: Store) -> None:
    new_tables = {
        "run_warnings",
        "run_recommendations",
        "run_artifacts",
        "run_demand_scales",
        "sessions",
    }
    run = succeeded_run(store)
    store.set_served(run.id)
    version, tables = _schema(store)
    assert version == HEAD
    assert new_tables <= tables

    _migrate(store, "downgrade", "0002")
    version, tables = _schema(store)
    assert version == "0002"
    assert not new_tables & tables
    assert {"runs", *(OUTPUT_TABLES[n].name for n in ("forecasts", "balance"))} <= tables
    # What 0002 knew survives: the run, its served flag, its outputs (read as 0002 wrote them:
    # today's run model has columns that 0002 does not).
    forecasts_table = OUTPUT_TABLES["forecasts"].name
    with store.engine.connect() as connection:
        served = connection.execute(sa.text("SELECT id, status FROM runs WHERE served")).all()
        forecast_rows = connection.execute(
            sa.text(f"SELECT count(*) FROM {forecasts_table} WHERE run_id = :run"),
            {"run": run.id},
        ).scalar()
    assert [tuple(row) for row in served] == [(run.id, "succeeded")]
    assert forecast_rows == len(sample_outputs()["forecasts"])

    _migrate(store, "upgrade", "head")
    version, tables = _schema(store)
    assert version == HEAD
    assert new_tables <= tables
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert store.served_run() == store.run(run.id)
    forecasts = store.run_output(run.id, "forecasts")
    pd.testing.assert_frame_equal(forecasts, expected("forecasts", sample_outputs()["forecasts"]))
    assert store.run_output(run.id, "warnings").empty
    assert store.run_artifact_names(run.id) == []
    # Catalogs stored before fields carried cost weights get those of their tier: Tianjin's.
    assert store.catalog().costs() == load_default_catalog().costs()
    again = running_run(store)
    store.finish_run(
        again.id, sample_outputs(), metrics=METRICS, timings=TIMINGS, artifacts={"a": b"\x01"}
    )
    assert len(store.run_output(again.id, "recommendations")) == 2
    assert store.run_artifact(again.id, "a") == b"\x01"


def test_outputs_stored_before_regions_belong_to_their_run_city(store: Store) -> None:
    chongqing = store.create_run(store.watermark(), {**CONFIG, "city_region": "500000"})
    store.start_run(chongqing.id)
    store.finish_run(chongqing.id, sample_outputs(), metrics=METRICS, timings=TIMINGS)
    tianjin = succeeded_run(store)
    _migrate(store, "downgrade", "0010")
    _migrate(store, "upgrade", "head")
    assert set(store.run_output(chongqing.id, "balance")["region"]) == {"500000"}
    assert set(store.run_output(tianjin.id, "drivers")["region"]) == {"120000"}
    assert len(store.run_output(chongqing.id, "forecasts", region="500000")) == 4

"""The panel contract: validation at the boundary, and the derived panels backtests rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.panel import Panel, PanelError, format_period
from features.series_file import read_series_file


def frame(rows: list[tuple[str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["series_id", "period", "value"])


def test_from_frame_sorts_and_groups_series() -> None:
    panel = Panel.from_frame(
        frame([("b", "2021", 3), ("a", "2020", 1), ("a", "2021", 2), ("b", "2020", 4)])
    )
    assert panel.ids == ("a", "b")
    assert panel.freq == "Y"
    assert panel.series(0).tolist() == [1.0, 2.0]
    assert panel.series(1).tolist() == [4.0, 3.0]
    assert [format_period(p) for p in panel.last_periods()] == ["2021", "2021"]


@pytest.mark.parametrize(
    ("periods", "freq", "season"),
    [
        (["2020-Q4", "2021-Q1"], "Q", 4),
        (["2020-12", "2021-01"], "M", 12),
        (["1999", "2000"], "Y", 1),
    ],
)
def test_frequencies_and_future_periods(periods: list[str], freq: str, season: int) -> None:
    panel = Panel.from_frame(frame([("s", p, i) for i, p in enumerate(periods)]))
    assert (panel.freq, panel.season_length) == (freq, season)
    future = [format_period(p) for p in panel.future_periods(2)[0]]
    expected = {"Q": ["2021-Q2", "2021-Q3"], "M": ["2021-02", "2021-03"], "Y": ["2001", "2002"]}
    assert future == expected[freq]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a", "2020", 1), ("a", "2020-05", 2)], "mixes frequencies"),
        ([("a", "2020", "x")], "not numbers"),
        ([("a", "2020", "")], "missing"),
        ([("a", "2020", "inf")], "infinite"),
        ([("a", "2020", 1), ("a", "2020", 2)], r"repeat a \(series_id, period\) pair"),
        ([("a", "20-1", 1)], "not YYYY, YYYY-Qn or YYYY-MM"),
        ([("a", "2020", 1), ("a", "2023", 2)], "missing periods: 2021, 2022"),
    ],
)
def test_bad_frames_name_the_problem_and_the_series(
    rows: list[tuple[str, str, object]], message: str
) -> None:
    with pytest.raises(PanelError, match=message) as error:
        Panel.from_frame(frame(rows))
    assert "'a'" in str(error.value) or "a 2020" in str(error.value)


def test_missing_columns() -> None:
    with pytest.raises(PanelError, match="missing column"):
        Panel.from_frame(pd.DataFrame({"series_id": ["a"], "value": [1]}))


def test_gaps_can_be_interpolated() -> None:
    panel = Panel.from_frame(
        frame([("a", "2020-01", 10), ("a", "2020-04", 40)]), gaps="interpolate"
    )
    assert panel.series(0).tolist() == [10.0, 20.0, 30.0, 40.0]


def test_from_frame_does_not_modify_the_input() -> None:
    data = frame([("a", " 2020 ", "1"), ("a", "2021", "2")])
    before = data.copy()
    Panel.from_frame(data)
    pd.testing.assert_frame_equal(data, before)


def test_drop_last_keeps_series_with_enough_history() -> None:
    panel = Panel.from_arrays({"long": np.arange(10.0), "short": np.arange(4.0)}, freq="Y")
    cut, kept = panel.drop_last(3, min_length=3)
    assert kept.tolist() == [0]
    assert cut.ids == ("long",)
    assert cut.series(0).tolist() == list(np.arange(7.0))
    assert panel.series(0).size == 10, "the original panel is unchanged"


def test_series_views_are_read_only() -> None:
    panel = Panel.from_arrays({"a": np.arange(3.0)}, freq="M")
    with pytest.raises(ValueError, match="read-only"):
        panel.series(0)[0] = 99


def test_round_trip_through_the_long_frame() -> None:
    panel = Panel.from_arrays(
        {"a": np.arange(5.0), "b": np.ones(2)}, freq="Q", starts={"b": "2010-Q3"}
    )
    again = Panel.from_frame(panel.to_frame())
    assert again.ids == panel.ids
    np.testing.assert_array_equal(again.values, panel.values)
    assert again.starts == panel.starts


def test_series_file_reads_gbk_and_names_rows() -> None:
    content = "series_id,period,value\n岗位,2020-01,1\n岗位,2020-02,2\n".encode("gbk")
    panel = read_series_file(content, "x.csv")
    assert panel.ids == ("岗位",)
    bad = b"series_id,period,value\na,2020,1\na,2021,oops\n"
    with pytest.raises(PanelError, match=r"series 'a' \(row 3\): 'oops'"):
        read_series_file(bad, "x.csv")


def test_series_file_requires_exactly_the_three_columns() -> None:
    with pytest.raises(
        PanelError, match="missing column\\(s\\): value; unexpected column\\(s\\): y"
    ):
        read_series_file(b"series_id,period,y\na,2020,1\n", "x.csv")

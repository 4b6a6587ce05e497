"""``talentcast forecast`` on the generic series format."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.cli import app

GOOD = "series_id,period,value\n" + "".join(
    f"{sid},{year},{base + 2 * (year - 2000)}\n"
    for sid, base in (("a", 10), ("b", 100))
    for year in range(2000, 2014)
)


def run(tmp_path: Path, text: str, *extra: str) -> tuple[int, str, Path]:
    source = tmp_path / "in.csv"
    source.write_text(text, encoding="utf-8")
    target = tmp_path / "out" / "forecast.csv"
    result = CliRunner().invoke(
        app,
        [
            "forecast",
            "--input",
            str(source),
            "--horizon",
            "3",
            "--output",
            str(target),
            "--models",
            "naive,drift",
            *extra,
        ],
    )
    return result.exit_code, result.stdout + result.stderr, target


def test_forecast_writes_the_documented_columns(tmp_path: Path) -> None:
    code, output, target = run(tmp_path, GOOD)
    assert code == 0, output
    assert "forecast 2 Y series 3 steps ahead with drift" in output
    frame = pd.read_csv(target, dtype={"period": str})
    assert list(frame.columns) == [
        "series_id",
        "period",
        "forecast",
        "lo_80",
        "hi_80",
        "lo_95",
        "hi_95",
    ]
    assert frame["period"].tolist() == ["2014", "2015", "2016"] * 2
    assert frame.loc[0, "forecast"] == pytest.approx(38.0)


def test_levels_are_chosen_by_flag(tmp_path: Path) -> None:
    code, output, target = run(tmp_path, GOOD, "--level", "50", "--level", "99")
    assert code == 0, output
    assert list(pd.read_csv(target).columns)[3:] == ["lo_50", "hi_50", "lo_99", "hi_99"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("series_id,period\na,2000\n", "missing column(s): value"),
        ("series_id,period,value\na,2000,1\na,2000-05,2\n", "mixes frequencies"),
        ("series_id,period,value\na,2000,1\na,2001,abc\n", "series 'a' (row 3): 'abc'"),
        ("series_id,period,value\na,2000,1\na,2000,2\n", "repeat a (series_id, period) pair"),
        ("series_id,period,value\na,2000,1\na,2003,2\n", "missing periods: 2001, 2002"),
        ("", "file is empty"),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    code, output, target = run(tmp_path, text)
    assert code == 1
    assert message in " ".join(output.split())
    assert not target.exists()


def test_gaps_can_be_filled_on_request(tmp_path: Path) -> None:
    text = "series_id,period,value\n" + "".join(
        f"a,2020-{m:02d},{m}\n" for m in range(1, 13) if m != 6
    )
    code, output, _ = run(tmp_path, text, "--fill-gaps")
    assert code == 0, output


def test_the_gap_error_suggests_a_command_that_works(tmp_path: Path) -> None:
    text = "series_id,period,value\n" + "".join(
        f"a,{year},{year - 1990}\n" for year in range(2000, 2014) if year != 2006
    )
    code, output, target = run(tmp_path, text, "--level", "90")
    assert code == 1
    assert "series 'a' has missing periods: 2006" in output
    suggested = shlex.split(output.strip().splitlines()[-1])
    assert suggested[:2] == ["talentcast", "forecast"]
    assert "--fill-gaps" in suggested
    again = CliRunner().invoke(app, suggested[1:])
    assert again.exit_code == 0, again.output
    frame = pd.read_csv(target)
    assert list(frame.columns)[3:] == ["lo_90", "hi_90"]

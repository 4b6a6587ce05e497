"""``talentcast forecast`` on tiny files: intervals stay nested and say what they rest on.

A file of one to three short series leaves the backtest a handful of errors per step, fewer
than an empirical 80% or 95% interval needs; the intervals then come from a t fit to those
errors, are strictly wider at 95% than at 80%, and the command says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from serving.cli import app


def _period(freq: str, start: int, step: int) -> str:
    if freq == "Y":
        return str(start + step)
    if freq == "Q":
        return f"{start + step // 4}-Q{step % 4 + 1}"
    return f"{start + step // 12}-{step % 12 + 1:02d}"


def tiny_file(freq: str, n_series: int, length: int, seed: int) -> str:
    """Trending (and, for Q/M, seasonal) noisy series of ``length`` points."""
    rng = np.random.default_rng(seed)
    season = {"Y": 1, "Q": 4, "M": 12}[freq]
    lines = ["series_id,period,value"]
    for k in range(n_series):
        t = np.arange(length)
        wave = 15 * np.sin(2 * np.pi * t / season) if season > 1 else 0
        values = 100 * (k + 1) + 2 * t + wave + rng.normal(0, 6, length).cumsum()
        lines += [f"s{k},{_period(freq, 2000, i)},{v:.2f}" for i, v in enumerate(values)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("freq", "n_series", "length", "horizon"),
    [("Y", 3, 16, 4), ("Y", 1, 30, 6), ("Y", 2, 12, 3), ("Q", 1, 30, 8), ("M", 2, 30, 12)],
)
def test_tiny_files_get_strictly_nested_intervals(
    tmp_path: Path, freq: str, n_series: int, length: int, horizon: int
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(tiny_file(freq, n_series, length, seed=length + n_series), "utf-8")
    target = tmp_path / "out.csv"
    args = ["forecast", "--input", str(source), "--horizon", str(horizon)]
    result = CliRunner().invoke(app, [*args, "--output", str(target)])
    assert result.exit_code == 0, result.stdout + result.stderr
    frame = pd.read_csv(target)
    assert len(frame) == n_series * horizon
    assert (frame["lo_95"] < frame["lo_80"]).all(), "95% must reach lower than 80%"
    assert (frame["hi_95"] > frame["hi_80"]).all(), "95% must reach higher than 80%"
    assert (frame["lo_80"] <= frame["forecast"]).all()
    assert (frame["forecast"] <= frame["hi_80"]).all()
    assert "Student-t fit" in result.stderr
    assert "an empirical 95% interval needs 39" in result.stderr


def test_more_levels_are_nested_in_order(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(tiny_file("Y", 2, 20, seed=3), "utf-8")
    target = tmp_path / "out.csv"
    levels = ["--level", "95", "--level", "50", "--level", "80", "--level", "99"]
    args = ["forecast", "--input", str(source), "--horizon", "5", "--output", str(target)]
    result = CliRunner().invoke(app, [*args, *levels])
    assert result.exit_code == 0, result.stdout + result.stderr
    frame = pd.read_csv(target)
    for below, above in ((50, 80), (80, 95), (95, 99)):
        assert (frame[f"lo_{above}"] < frame[f"lo_{below}"]).all(), (below, above)
        assert (frame[f"hi_{above}"] > frame[f"hi_{below}"]).all(), (below, above)

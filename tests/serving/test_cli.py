"""The ``talentcast`` command line as an operator uses it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from serving.cli import app

GOOD = "年份,专业代码,层次,招生数\n2019,080717T,本科,120\n2020,080717T,本科,150\n"
BAD = "year,programme_code,level,enrolled\n2019,080717T,bachelor,120\n2020,080799,bachelor,-4\n"


Invoke = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path) -> Invoke:
    """Run ``talentcast`` against a fresh SQLite store in the test's folder."""
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--database-url", url, *args])

    return run


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_ingest_accepts_a_gbk_file_and_reports_the_upload(cli: Invoke, tmp_path: Path) -> None:
    result = cli("ingest", "enrollment", write(tmp_path, "招生.csv", GOOD, "gbk"))
    assert result.exit_code == 0, result.output
    assert "accepted 2 rows as upload #2" in result.stdout
    again = cli("ingest", "enrollment", write(tmp_path, "again.csv", GOOD))
    assert again.exit_code == 0
    assert "identical content is already stored as upload #2" in again.stdout


def test_ingest_rejection_lists_problems_and_exits_non_zero(cli: Invoke, tmp_path: Path) -> None:
    result = cli("ingest", "enrollment", write(tmp_path, "bad.csv", BAD))
    assert result.exit_code == 1
    assert "rejected: 2 problem(s); nothing was stored" in result.stderr
    assert "row 3, column 'enrolled': '-4' is negative" in result.stderr
    assert "row 3, column 'programme_code': unknown programme code '080799'" in result.stderr
    listing = cli("uploads", "list", "--kind", "enrollment")
    assert listing.exit_code == 0
    assert "080799" not in listing.stdout
    assert "enrollment" not in listing.stdout


def test_ingest_json_output_for_scripts(cli: Invoke, tmp_path: Path) -> None:
    rejected = cli("ingest", "enrollment", write(tmp_path, "bad.csv", BAD), "--json")
    assert rejected.exit_code == 1
    payload = json.loads(rejected.stdout)
    assert payload["status"] == "rejected"
    assert {"row": 3, "column": "enrolled", "reason": "'-4' is negative"} in payload["problems"]
    accepted = cli(
        "ingest", "enrollment", write(tmp_path, "ok.csv", GOOD), "--json", "--uploader", "me"
    )
    assert accepted.exit_code == 0
    record = json.loads(accepted.stdout)
    assert record["created"] is True
    assert record["uploader"] == "me"
    assert record["row_count"] == 2


def test_unknown_kind_and_missing_file_are_usage_errors(cli: Invoke, tmp_path: Path) -> None:
    assert cli("ingest", "salaries", write(tmp_path, "x.csv", GOOD)).exit_code == 2
    assert cli("ingest", "enrollment", str(tmp_path / "nope.csv")).exit_code == 2


def test_uploads_show(cli: Invoke, tmp_path: Path) -> None:
    cli("ingest", "enrollment", write(tmp_path, "ok.csv", GOOD))
    shown = cli("uploads", "show", "2")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["filename"] == "ok.csv"
    missing = cli("uploads", "show", "99")
    assert missing.exit_code == 1
    assert "no upload with id 99" in missing.stderr


def test_catalog_export_edit_and_load(cli: Invoke, tmp_path: Path) -> None:
    exported = cli("catalog", "export", str(tmp_path / "cat"))
    assert exported.exit_code == 0, exported.output
    programmes = tmp_path / "cat" / "programmes.csv"
    same = cli("catalog", "load", str(programmes))
    assert same.exit_code == 0
    assert "identical content is already stored as upload #1" in same.stdout
    lines = programmes.read_text(encoding="utf-8-sig").splitlines()
    kept = [line for line in lines if not line.startswith("080717T,")]
    programmes.write_text("\n".join(kept) + "\n", encoding="utf-8")
    loaded = cli("catalog", "load", str(programmes))
    assert loaded.exit_code == 0, loaded.output
    assert "as upload #2" in loaded.stdout
    result = cli("ingest", "enrollment", write(tmp_path, "ai.csv", GOOD))
    assert result.exit_code == 1
    assert "unknown programme code '080717T'" in result.stderr


def test_bad_settings_are_reported_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TALENTCAST_CITY_REGION", "12")
    result = CliRunner().invoke(
        app, ["--database-url", f"sqlite:///{tmp_path}/x.db", "db", "upgrade"]
    )
    assert result.exit_code == 2
    assert "city_region" in result.stderr
    assert not (tmp_path / "x.db").exists()

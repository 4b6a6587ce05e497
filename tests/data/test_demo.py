"""The embedded demo dataset: calibrated to Tianjin, structurally sound, and loadable.

The demo is what a new user sees first and what backtests are scored on, so these tests pin
what makes it trustworthy: city totals match the published statistics, the cohort pipeline and
outcome rates behave as documented, the planted cases are there for the rules to find, the
committed files are what the generator produces, and the real ingestion path accepts them.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.catalog import OTHER, Catalog, catalog_from_frames
from data.demo import DemoData, demo_files, generate, load_demo, write_files
from data.demo import assumptions as demo_assumptions
from data.demo.calibration import load_targets, target_comparison
from data.demo.files import comparable, parse, render
from data.demo.generator import main
from data.demo.manifest import files_folder
from data.demo.planted import PLANTED_DUPLICATE, PLANTED_LOW_PLACEMENT, PLANTED_STOPPED
from data.ingest import open_store
from data.vocabulary import KINDS, Kind


@pytest.fixture(scope="module")
def demo(default_catalog: Catalog) -> DemoData:
    return generate(default_catalog)


def _rates(outcomes: pd.DataFrame) -> pd.DataFrame:
    out = outcomes.copy()
    out["placement"] = out["placed"] / out["graduates"]
    return out


def _city_totals(demo: DemoData) -> pd.DataFrame:
    """City totals recomputed from the rows the store will hold (corrections applied)."""
    enrollment = demo.observations(Kind.ENROLLMENT).groupby(["level", "year"])["enrolled"].sum()
    graduates = demo.observations(Kind.GRADUATES).groupby(["level", "year"])["graduates"].sum()
    return pd.DataFrame({"entrants": enrollment, "graduates": graduates}).reset_index()


# -- calibration --------------------------------------------------------------------------------


def test_city_totals_match_every_target_within_3_percent(demo: DemoData) -> None:
    comparison = target_comparison(_city_totals(demo))
    assert len(comparison) == len(load_targets()) > 50
    worst = comparison.loc[comparison["relative_error"].abs().idxmax()]
    assert abs(worst["relative_error"]) <= 0.03, worst.to_dict()


def test_other_line_keeps_at_least_a_fifth_of_every_level(demo: DemoData) -> None:
    for kind, column in ((Kind.ENROLLMENT, "enrolled"), (Kind.GRADUATES, "graduates")):
        rows = demo.observations(kind)
        total = rows.groupby(["level", "year"])[column].sum()
        other = rows[rows["programme_code"] == OTHER].set_index(["level", "year"])[column]
        assert (other / total).min() >= 0.20, kind


def test_priority_share_in_2019_is_between_half_and_two_thirds(
    demo: DemoData, default_catalog: Catalog
) -> None:
    crosswalk = default_catalog.crosswalk
    other_weight = crosswalk[crosswalk["field_code"] == OTHER].set_index(
        ["programme_code", "level"]
    )["weight"]
    rows = demo.observations(Kind.ENROLLMENT)
    rows = rows[rows["year"] == 2019].set_index(["programme_code", "level"])
    priority = rows["enrolled"] * (1 - other_weight.reindex(rows.index).fillna(0.0))
    priority = priority[priority.index.get_level_values(0) != OTHER]
    share = priority.groupby(level="level").sum() / rows.groupby(level="level")["enrolled"].sum()
    assert share.between(0.50, 0.65).all(), share.to_dict()


def test_committed_files_match_the_generator(demo: DemoData, default_catalog: Catalog) -> None:
    assert demo_files() == [(str(u.kind), u.filename, u.uploader) for u in demo.uploads]
    folder = files_folder()
    for upload in demo.uploads:
        content = folder.joinpath(upload.filename).read_bytes()
        parsed = parse(content, upload.spec, default_catalog)
        expected = comparable(upload.frame, upload.kind)
        actual = comparable(parsed, upload.kind, list(upload.frame.columns))
        pd.testing.assert_frame_equal(actual, expected, obj=upload.filename)


def test_generation_is_deterministic_and_seeded(demo: DemoData, default_catalog: Catalog) -> None:
    again = generate(default_catalog)
    other_seed = generate(default_catalog, seed=1)
    for upload in demo.uploads:
        pd.testing.assert_frame_equal(again.upload(upload.filename).frame, upload.frame)
        if upload.filename.endswith(".xlsx"):
            first = render(upload.spec, upload.frame, demo.field_names_zh)
            assert render(upload.spec, upload.frame, demo.field_names_zh) == first
    assert not other_seed.observations(Kind.ENROLLMENT).equals(demo.observations(Kind.ENROLLMENT))


def test_programme_random_effects_do_not_depend_on_other_programmes(
    demo: DemoData, default_catalog: Catalog
) -> None:
    long = default_catalog.to_long_programmes()
    dropped = long[long["programme_code"] != "080901"].reset_index(drop=True)
    smaller = generate(catalog_from_frames(default_catalog.fields, dropped))
    columns = ["founded", "completion", "trend_deviation", "in_field_effect", "local_effect"]
    key = ["programme_code", "level"]
    full = demo.truth["programmes"].set_index(key)[columns]
    part = smaller.truth["programmes"].set_index(key)[columns]
    pd.testing.assert_frame_equal(part, full.loc[part.index])


def test_any_valid_catalog_gives_a_loadable_calibrated_demo(
    default_catalog: Catalog, tmp_path: Path
) -> None:
    long = default_catalog.to_long_programmes()
    keep = {("080717T", "bachelor"), ("0812", "master"), ("720201", "secondary_vocational")}
    pairs = zip(long["programme_code"], long["level"], strict=True)
    mask = [(code, level) in keep or code == OTHER for code, level in pairs]
    small = catalog_from_frames(default_catalog.fields, long[mask].reset_index(drop=True))
    data = generate(small, seed=7)
    comparison = target_comparison(_city_totals(data))
    assert comparison["relative_error"].abs().max() <= 0.03
    write_files(data, tmp_path)
    for upload in data.uploads:
        parsed = parse((tmp_path / upload.filename).read_bytes(), upload.spec, small)
        assert len(parsed) == len(upload.frame) > 0


# -- structure ----------------------------------------------------------------------------------


def test_completion_ratios_follow_the_cohort_pipeline(
    demo: DemoData, default_catalog: Catalog
) -> None:
    programmes = default_catalog.programmes
    programmes = programmes[
        (programmes["level"] != "doctor") & (programmes["programme_code"] != OTHER)
    ]
    enrollment = demo.observations(Kind.ENROLLMENT)
    graduates = demo.observations(Kind.GRADUATES).merge(
        programmes[["programme_code", "level", "duration_years"]]
    )
    graduates["cohort"] = graduates["year"] - graduates["duration_years"]
    merged = graduates.merge(
        enrollment.rename(columns={"year": "cohort"}), on=["programme_code", "level", "cohort"]
    )
    merged = merged[merged["enrolled"] >= 100]
    ratio = merged["graduates"] / merged["enrolled"]
    assert len(merged) > 1000
    assert ratio.between(0.85, 1.0).all(), merged[~ratio.between(0.85, 1.0)].head()
    medians = ratio.groupby(merged["level"]).median()
    assert medians.between(0.90, 0.97).all(), medians.to_dict()


def test_new_programmes_have_no_rows_before_founding(demo: DemoData) -> None:
    enrollment = demo.observations(Kind.ENROLLMENT)
    ai = enrollment[
        (enrollment["programme_code"] == "080717T") & (enrollment["level"] == "bachelor")
    ]
    assert ai["year"].min() == 2019
    assert (ai["enrolled"] > 0).all()
    graduates = demo.observations(Kind.GRADUATES)
    ai_graduates = graduates[graduates["programme_code"] == "080717T"]
    assert ai_graduates["year"].min() == 2023


def test_outcome_counts_are_consistent(demo: DemoData) -> None:
    outcomes = demo.observations(Kind.OUTCOMES)
    assert (outcomes["placed"] <= outcomes["graduates"]).all()
    assert (outcomes["employed_locally"] <= outcomes["placed"]).all()
    in_field = outcomes["employed_in_field"]
    assert (in_field.dropna() <= outcomes.loc[in_field.notna(), "placed"]).all()
    early = outcomes["year"] < demo_assumptions.IN_FIELD_FIRST_YEAR
    assert in_field[early].isna().all()
    programmes = outcomes["programme_code"] != OTHER
    assert in_field[~early & programmes].notna().all()
    graduates = demo.observations(Kind.GRADUATES)
    pd.testing.assert_frame_equal(
        comparable(outcomes, Kind.OUTCOMES, ["year", "programme_code", "level", "graduates"]),
        comparable(graduates, Kind.GRADUATES),
    )


def test_ic_in_field_rates_stay_near_the_white_paper(
    demo: DemoData, default_catalog: Catalog
) -> None:
    crosswalk = default_catalog.crosswalk
    ic_only = crosswalk[(crosswalk["field_code"] == "ic") & (crosswalk["weight"] == 1.0)]
    outcomes = demo.observations(Kind.OUTCOMES).merge(ic_only[["programme_code", "level"]])
    outcomes = outcomes[(outcomes["level"] != "doctor") & outcomes["employed_in_field"].notna()]
    yearly = outcomes.groupby("year")[["employed_in_field", "placed"]].sum()
    rate = yearly["employed_in_field"] / yearly["placed"]
    assert rate.between(0.18, 0.42).all(), rate.to_dict()
    assert rate.iloc[-1] > rate.iloc[0]


def test_spring_festival_month_dips_below_its_neighbours(demo: DemoData) -> None:
    hiring = demo.observations(Kind.HIRING)
    monthly = hiring.groupby("period")["postings"].sum()
    dips = 0
    for year, (month, _day) in demo_assumptions.SPRING_FESTIVAL.items():
        stamp = pd.Period(f"{year}-{month:02d}", freq="M")
        before, after = str(stamp - 1), str(stamp + 1)
        if before not in monthly.index:
            before = after
        dips += monthly[str(stamp)] < (monthly[before] + monthly[after]) / 2
    assert dips >= 8


def test_annual_postings_add_up_to_latent_demand(demo: DemoData) -> None:
    hiring = demo.observations(Kind.HIRING)
    postings = hiring.groupby(hiring["period"].str[:4].astype(int))["postings"].sum()
    balance = demo.truth["balance"]
    demand = balance[balance["year"] <= 2025].groupby("year")["demand"].sum()
    relative = (postings / demand.loc[postings.index] - 1).abs()
    assert relative.max() < 0.05, relative.to_dict()


def test_surveys_overstate_demand_by_the_documented_bias(demo: DemoData) -> None:
    surveys = demo.observations(Kind.DEMAND_SURVEY)
    balance = demo.truth["balance"]
    per_level = surveys[surveys["level"] != "all"].merge(
        balance.rename(columns={"year": "target_year"}),
        on=["field_code", "level", "target_year"],
    )
    for association in demo_assumptions.ASSOCIATIONS:
        rows = per_level[per_level["source"] == association.id]
        if rows.empty:
            continue
        ratio = float(np.exp(np.log(rows["headcount"] / rows["demand"]).median()))
        assert ratio == pytest.approx(association.bias, rel=0.1), association.id


def test_planted_cases_are_present(demo: DemoData) -> None:
    planted = demo.truth["planted"]
    outcomes = _rates(demo.observations(Kind.OUTCOMES)).set_index(
        ["programme_code", "level", "year"]
    )
    enrollment = (
        demo.observations(Kind.ENROLLMENT)
        .set_index(["programme_code", "level", "year"])
        .sort_index()
    )
    cases = planted.groupby("case")
    assert set(cases.groups) == {PLANTED_LOW_PLACEMENT, PLANTED_STOPPED, PLANTED_DUPLICATE}

    (low,) = cases.get_group(PLANTED_LOW_PLACEMENT).itertuples(index=False)
    for year in (2022, 2023):
        assert 0.55 <= outcomes.loc[(low.programme_code, low.level, year), "placement"] < 0.60

    (stopped,) = cases.get_group(PLANTED_STOPPED).itertuples(index=False)
    for year in (2020, 2021):
        assert (
            0.36 <= outcomes.loc[(stopped.programme_code, stopped.level, year), "placement"] < 0.40
        )
    later = enrollment.loc[(stopped.programme_code, stopped.level)]["enrolled"]
    assert (later.loc[2023:] == 0).all()
    assert len(later.loc[2023:]) == 3

    duplicates = cases.get_group(PLANTED_DUPLICATE)
    assert len(duplicates) >= 2
    assert duplicates["level"].nunique() == 1
    level = duplicates["level"].iloc[0]
    rates = outcomes.reset_index()
    rates = rates[(rates["level"] == level) & (rates["year"] >= 2016)]
    planted_codes = set(planted["programme_code"])
    peers = rates[~rates["programme_code"].isin(planted_codes | {OTHER})]
    for code in duplicates["programme_code"]:
        own = rates[rates["programme_code"] == code]
        assert own["placement"].mean() < peers["placement"].mean() - 0.05


def test_readme_documents_the_planted_codes(demo: DemoData) -> None:
    readme = resources.files("data.demo").joinpath("README.md").read_text(encoding="utf-8")
    for code in demo.truth["planted"]["programme_code"]:
        assert f"`{code}`" in readme


def test_committed_files_are_deliberately_messy() -> None:
    folder = files_folder()
    enrollment = folder.joinpath("enrollment.csv").read_bytes().decode("utf-8")
    assert enrollment.startswith("年份,专业代码,层次,招生数（人）")
    assert '"1,' in enrollment
    graduates = folder.joinpath("graduates_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        graduates.decode("utf-8")
    assert "本科" in graduates.decode("gbk")
    assert folder.joinpath("outcomes.xlsx").read_bytes()[:4] == b"PK\x03\x04"
    assert folder.joinpath("hiring_monthly.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    formats = {Path(name).suffix for kind, name, _ in demo_files() if kind == Kind.DEMAND_SURVEY}
    assert {".json", ".xlsx", ".csv"} <= formats


def test_module_entry_point_regenerates_the_committed_files(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    committed = files_folder()
    for name in ("manifest.json", "enrollment.csv", "hiring_monthly.csv", "truth_balance.csv"):
        assert (tmp_path / name).read_bytes() == committed.joinpath(name).read_bytes(), name


# -- loading ------------------------------------------------------------------------------------


def test_load_demo_ingests_every_file_once(demo: DemoData, tmp_path: Path) -> None:
    started = time.perf_counter()
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    try:
        first = load_demo(store)
        assert [r.created for r in first] == [True] * len(demo_files())
        by_file = {r.upload.filename: r.upload for r in first}
        assert by_file["hiring_correction_ic.csv"].replaced_rows > 0
        assert by_file["enrollment_correction_2024.csv"].replaced_rows > 0
        watermark = store.watermark()
        second = load_demo(store)
        assert not any(r.created for r in second)
        assert [r.upload.id for r in second] == [r.upload.id for r in first]
        assert store.watermark() == watermark
        for kind in KINDS:
            stored = store.observations(kind)
            expected = demo.observations(kind)
            assert len(stored) == len(expected), kind
        columns = ["year", "programme_code", "level", "enrolled"]
        pd.testing.assert_frame_equal(
            comparable(store.observations(Kind.ENROLLMENT), Kind.ENROLLMENT, columns),
            comparable(demo.observations(Kind.ENROLLMENT), Kind.ENROLLMENT, columns),
        )
    finally:
        store.dispose()
    assert time.perf_counter() - started < 30


@pytest.mark.postgres
def test_load_demo_into_postgresql(demo: DemoData, postgres_schema_url: str) -> None:
    store = open_store(postgres_schema_url)
    try:
        first = load_demo(store)
        assert all(r.created for r in first)
        assert not any(r.created for r in load_demo(store))
        for kind in KINDS:
            assert len(store.observations(kind)) == len(demo.observations(kind)), kind
    finally:
        store.dispose()

"""The shipped catalog and the rules every catalog version must satisfy."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from support import csv_bytes

from data.catalog import OTHER, Catalog, build_catalog, catalog_from_frames
from data.catalog.catalog import CODE_PATTERNS
from data.problems import UploadRejected
from data.readers import read_table
from data.vocabulary import LEVELS
from forecasting.scenarios import TIER_COSTS

POLICY_FIELDS = {
    "ai": "national_strategic",
    "ic": "national_strategic",
    "aeroengine": "national_strategic",
    "cybersecurity": "national_strategic",
    "smart_manufacturing": "urgent",
    "biomedicine": "urgent",
    "new_energy": "urgent",
    "new_materials": "urgent",
    "high_end_equipment": "urgent",
    "next_gen_it": "urgent",
    "modern_agriculture": "urgent",
    "energy_saving_environment": "urgent",
    "rd_design": "urgent",
    "digital_creative": "urgent",
    "modern_transport": "urgent",
    "logistics": "urgent",
    "financial_leasing": "urgent",
    "ecommerce": "urgent",
    "service_outsourcing": "urgent",
    "domestic_services": "social",
    "health": "social",
    "elderly_care": "social",
    "culture": "social",
    "tourism": "social",
    "smart_city": "urban",
    "smart_building": "urban",
}


def test_default_catalog_has_the_26_policy_fields_with_their_tiers(
    default_catalog: Catalog,
) -> None:
    fields = default_catalog.fields.set_index("field_code")
    priority = fields[fields["tier"] != OTHER]
    assert priority["tier"].to_dict() == POLICY_FIELDS
    assert fields.loc["ic", "name_zh"] == "集成电路"
    assert fields.loc["aeroengine", "name_zh"] == "航空发动机及燃气轮机"


def test_every_priority_field_is_fed_by_a_programme(default_catalog: Catalog) -> None:
    crosswalk = default_catalog.crosswalk
    for field in POLICY_FIELDS:
        weights = crosswalk.loc[crosswalk["field_code"] == field, "weight"]
        assert (weights >= 0.3).any(), f"no programme is mainly in {field}"


def test_default_catalog_size_levels_and_codes(default_catalog: Catalog) -> None:
    programmes = default_catalog.programmes
    real = programmes[programmes["programme_code"] != OTHER]
    assert 120 <= len(real) <= 200
    assert set(programmes["level"]) == set(LEVELS)
    for row in real.itertuples():
        assert CODE_PATTERNS[row.level].match(row.programme_code), row
    others = programmes[programmes["programme_code"] == OTHER]
    assert sorted(others["level"]) == sorted(LEVELS)
    assert set(real["verified"]) <= {"yes", "no"}
    assert (real["verified"] == "yes").mean() > 0.8
    assert real["source"].str.len().min() > 5, "every code says where it comes from"


def test_crosswalk_weights_sum_to_one(default_catalog: Catalog) -> None:
    sums = default_catalog.crosswalk.groupby(["programme_code", "level"])["weight"].sum()
    assert sums.between(1 - 1e-9, 1 + 1e-9).all()


def test_durations_follow_the_level(default_catalog: Catalog) -> None:
    durations = default_catalog.programmes.groupby("level")["duration_years"].agg(["min", "max"])
    assert durations.loc["bachelor", "min"] == 4
    assert durations.loc["bachelor", "max"] <= 5
    assert durations.loc["higher_vocational", "max"] == 3
    assert durations.loc["master", "min"] >= 2


def test_field_lookup_accepts_codes_and_names(default_catalog: Catalog) -> None:
    assert default_catalog.resolve_field("集成电路") == "ic"
    assert default_catalog.resolve_field(" IC ") == "ic"
    assert default_catalog.resolve_field("Integrated circuits") == "ic"
    assert default_catalog.resolve_field("quantum") is None


def _rebuild(default_catalog: Catalog, long: pd.DataFrame) -> Catalog:
    return build_catalog(
        read_table(csv_bytes(default_catalog.fields), "fields.csv"),
        read_table(csv_bytes(long), "programmes.csv"),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.assign(weight=f["weight"].where(f.index != 0, 0.05)), "sum to"),
        (lambda f: f.assign(level=f["level"].where(f.index != 0, "phd")), "unknown level 'phd'"),
        (
            lambda f: f.assign(programme_code=f["programme_code"].where(f.index != 0, "ABC123")),
            "does not have the shape",
        ),
        (lambda f: f[f["programme_code"] != OTHER], "no 'other' line"),
        (lambda f: f.assign(verified=f["verified"].replace("yes", "maybe")), "is not one of"),
        (
            lambda f: f.assign(duration_years=f["duration_years"].where(f.index != 0, "4.5")),
            "is not 1-8 years",
        ),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "lists field"),
        (lambda f: f.drop(columns="weight"), "missing column"),
    ],
)
def test_invalid_catalogs_are_rejected(
    default_catalog: Catalog, change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    long = default_catalog.to_long_programmes()
    with pytest.raises(UploadRejected, match=message):
        _rebuild(default_catalog, change(long))


def test_a_programme_with_inconsistent_names_is_rejected(default_catalog: Catalog) -> None:
    long = default_catalog.to_long_programmes()
    first = long.index[long.duplicated(["programme_code", "level"], keep=False)][0]
    long.loc[first, "name_zh"] = "别名"
    with pytest.raises(UploadRejected, match="different name_zh"):
        _rebuild(default_catalog, long)


def test_a_filtered_catalog_frame_keeps_its_index(default_catalog: Catalog) -> None:
    long = default_catalog.to_long_programmes()
    smaller = catalog_from_frames(default_catalog.fields, long[long["programme_code"] != "080901"])
    assert "080901" not in set(smaller.programmes["programme_code"])
    assert len(smaller.programmes) == len(default_catalog.programmes) - 1


def test_a_city_names_its_own_tiers_and_cost_weights(default_catalog: Catalog) -> None:
    fields = default_catalog.fields.assign(tier="pillar industry", shortage_cost=4.5)
    long = default_catalog.to_long_programmes()
    rebuilt = build_catalog(
        read_table(csv_bytes(fields), "fields.csv"), read_table(csv_bytes(long), "p.csv")
    )
    assert set(rebuilt.fields["tier"]) == {"pillar industry"}
    assert rebuilt.costs()["ic"] == (4.5, 1.0)


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        (lambda f: f.assign(tier="t" * 25), "tier", "is not a tier label of 1-24 characters"),
        (lambda f: f.assign(surplus_cost="-1"), "surplus_cost", "is not a cost weight"),
        (lambda f: f.assign(shortage_cost="much"), "shortage_cost", "is not a cost weight"),
        (lambda f: f.drop(columns="shortage_cost"), "shortage_cost", "missing column"),
    ],
)
def test_invalid_fields_are_rejected_by_row_and_column(
    default_catalog: Catalog,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    column: str,
    message: str,
) -> None:
    fields = change(default_catalog.fields.astype(str))
    long = default_catalog.to_long_programmes()
    with pytest.raises(UploadRejected, match=message) as rejected:
        build_catalog(
            read_table(csv_bytes(fields), "fields.csv"),
            read_table(csv_bytes(long), "programmes.csv"),
            fields_name="fields.csv",
        )
    first = rejected.value.problems[0]
    assert (first.file, first.column) == ("fields.csv", column)


def test_other_lines_are_needed_only_for_the_levels_the_city_has(
    default_catalog: Catalog,
) -> None:
    long = default_catalog.to_long_programmes()
    bachelor = long[long["level"] == "bachelor"]
    rebuilt = _rebuild(default_catalog, bachelor)
    assert set(rebuilt.programmes["level"]) == {"bachelor"}
    without_other = bachelor[bachelor["programme_code"] != OTHER]
    with pytest.raises(UploadRejected, match="no 'other' line for level bachelor"):
        _rebuild(default_catalog, without_other)


def test_tianjins_fields_carry_the_weights_its_tiers_had(default_catalog: Catalog) -> None:
    """So that the reference deployment's quota recommendations do not change."""
    tiers = default_catalog.fields.set_index("field_code")["tier"].to_dict()
    assert default_catalog.costs() == {field: TIER_COSTS[tier] for field, tier in tiers.items()}

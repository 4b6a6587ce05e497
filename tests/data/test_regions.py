"""The regions a deployment serves: one city by default, or a parent and its regions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data.regions import NATION_REGION, RegionError, RegionPlan
from serving.settings import Settings


def test_a_single_city_needs_no_configuration() -> None:
    plan = Settings(_env_file=None).region_plan()  # type: ignore[call-arg]
    assert plan == RegionPlan("120000", ("120000",))
    assert plan.single
    assert plan.servable == ("120000",)
    assert plan.default_region == "120000"


def test_a_province_serves_its_cities_and_their_total() -> None:
    settings = Settings(_env_file=None, city_region="130000", regions=" 130100, 130200,")  # type: ignore[call-arg]
    plan = settings.region_plan()
    assert plan.regions == ("130100", "130200")
    assert plan.servable == ("130000", "130100", "130200")
    assert plan.default_region is None
    assert settings.ingest_options().regions == ("130100", "130200")


def test_the_nation_serves_provinces() -> None:
    plan = RegionPlan.of(NATION_REGION, ["120000", "110000", "500000"])
    assert plan.top == NATION_REGION
    assert not plan.single


@pytest.mark.parametrize(
    ("top", "regions", "message"),
    [
        ("130000", ["130100", "1302"], r"'1302' is not a 6-digit"),
        ("130000", ["130100", "130100"], r"130100 are named more than once"),
        ("130000", ["130100", "140100"], r"do not share one parent .*130000, 140000"),
        ("120000", ["130100", "130200"], r"belong to 130000.*TALENTCAST_CITY_REGION=130000"),
        ("130000", ["130101", "130102"], r"neither provinces \(xx0000\) nor cities"),
        ("120000", ["130100"], r"TALENTCAST_CITY_REGION=130100"),
    ],
)
def test_inconsistent_regions_are_refused_saying_what_to_set(
    top: str, regions: list[str], message: str
) -> None:
    with pytest.raises(RegionError, match=message):
        RegionPlan.of(top, regions)


def test_settings_refuse_regions_of_another_province_at_start() -> None:
    with pytest.raises(ValidationError, match=r"regions: .*TALENTCAST_CITY_REGION=130000"):
        Settings(_env_file=None, regions="130100,130200")  # type: ignore[call-arg]

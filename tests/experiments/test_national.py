"""The demo scaled to N cities: the same cities for the same seed, loadable as a province."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.catalog import Catalog
from data.demo.generator import DemoData, generate
from data.ingest import open_store
from data.regions import NATION_REGION
from data.vocabulary import Kind
from experiments.national import load_national, national_demo, region_codes, write_national


@pytest.fixture(scope="module")
def demo(default_catalog: Catalog) -> DemoData:
    return generate(default_catalog)


def test_the_same_seed_gives_the_same_cities(demo: DemoData) -> None:
    first = national_demo(3, seed=7, demo=demo)
    again = national_demo(3, seed=7, demo=demo)
    other = national_demo(3, seed=8, demo=demo)
    assert first.plan.top == "130000"
    assert first.plan.regions == ("130100", "130200", "130300")
    assert first.profiles == again.profiles
    for kind in Kind:
        pd.testing.assert_frame_equal(first.observations[kind], again.observations[kind])
    assert first.profiles != other.profiles
    assert not first.observations[Kind.HIRING].equals(other.observations[Kind.HIRING])


def test_each_city_is_the_demo_at_its_own_size_and_mix(demo: DemoData) -> None:
    national = national_demo(4, seed=3, demo=demo)
    enrolled = national.observations[Kind.ENROLLMENT].groupby("region")["enrolled"].sum()
    tianjin = demo.observations(Kind.ENROLLMENT)["enrolled"].sum()
    sizes = {p.region: p.size for p in national.profiles}
    assert len(set(sizes.values())) == 4
    for region, total in enrolled.items():
        # The field mix moves a city's total around its size (factors of about 1 ± 0.3).
        assert 0.5 < total / (tianjin * sizes[str(region)]) < 2.0
    outcomes = national.observations[Kind.OUTCOMES]
    assert (outcomes["placed"] <= outcomes["graduates"]).all()
    assert all(1 <= len(p.shocks) <= 3 for p in national.profiles)


def test_a_province_store_loads_every_city(demo: DemoData, tmp_path: Path) -> None:
    national = national_demo(2, seed=1, demo=demo)
    store = open_store(f"sqlite:///{tmp_path / 'national.db'}")
    try:
        load_national(store, national)
        for region in national.plan.regions:
            stored = store.observations(Kind.HIRING, regions=[region])
            expected = national.observations[Kind.HIRING]
            assert len(stored) == int((expected["region"] == region).sum())
    finally:
        store.dispose()
    files = write_national(national, tmp_path / "files")
    assert {path.parent.name for path in files} == {"130100", "130200"}


def test_region_codes_of_a_province_or_the_nation() -> None:
    assert region_codes(2, NATION_REGION) == ("110000", "120000")
    with pytest.raises(ValueError, match="at most 99"):
        region_codes(100)

"""Reading what the store knew then: the vintage of a year, and reads without some uploads."""

from __future__ import annotations

import pandas as pd
import pytest
from worlds import (
    COMMISSION,
    HR_BUREAU,
    IC_ASSOCIATION,
    hiring_frame,
    load_world,
    programme_frames,
    survey_frame,
    upload,
)

from data.catalog import Catalog, catalog_from_frames
from data.store import Store, StoreError
from data.vocabulary import Kind


def remapped_catalog(catalog: Catalog) -> Catalog:
    """The catalog with programme 080704 counted half in IC, half in other fields."""
    long = catalog.to_long_programmes()
    ic = (long["programme_code"] == "080704") & (long["level"] == "bachelor")
    other = long[ic].assign(field_code="other", weight=0.5)
    long.loc[ic, "weight"] = 0.5
    return catalog_from_frames(catalog.fields, pd.concat([long, other], ignore_index=True))


def yearly_store(store: Store) -> dict[str, int]:
    """Data through 2019 in one batch, 2020-2021 in a second, then a revision of 2018's
    enrollment and a new catalog; the ids of the milestones."""
    first = load_world(store, last=2019)
    frames = programme_frames(first=2020, last=2021)
    later = [
        upload(store, kind, frames[kind], COMMISSION, f"{kind}_2020.csv")
        for kind in ("enrollment", "graduates", "outcomes")
    ]
    upload(store, "hiring", hiring_frame(first=2020, last=2021), HR_BUREAU, "hiring_2020.csv")
    upload(store, "demand_survey", survey_frame(first=2020, last=2021), IC_ASSOCIATION, "s.csv")
    revised = programme_frames(last=2019)["enrollment"]
    revised = revised[revised["year"] == 2018].assign(enrolled=lambda f: f["enrolled"] * 2)
    revision = upload(store, "enrollment", revised, COMMISSION, "enrollment_fix_2018.csv")
    catalog = store.add_catalog(remapped_catalog(store.catalog()), uploader="admin").upload
    return {
        "batch_2019": first[-1].id,
        "first_2020": later[0].id,
        "revision": revision.id,
        "catalog": catalog.id,
    }


def test_the_vintage_of_a_year_is_the_last_upload_before_later_data(store: Store) -> None:
    ids = yearly_store(store)
    assert store.vintage(2019) == ids["batch_2019"]
    assert store.vintage(2021) == store.watermark(), "nothing after 2021 is stored"
    assert store.vintage(2011) == 1, "only the default catalog knew nothing after 2011"
    assert store.vintage(2021, as_of=ids["first_2020"]) == ids["first_2020"]
    assert store.vintage(2019, as_of=3) == 3
    with pytest.raises(StoreError, match="year must be a whole year"):
        store.vintage("2019")  # type: ignore[arg-type]


def test_hiring_periods_and_survey_years_date_their_uploads(store: Store) -> None:
    load_world(store, last=2019)
    december = hiring_frame(first=2019, last=2019).iloc[[11]]
    assert december["period"].iloc[0] == "2019-12"
    before = store.watermark()
    upload(store, "hiring", december.assign(postings=1), HR_BUREAU, "december.csv")
    assert store.vintage(2019) == store.watermark(), "December 2019 is still 2019"
    upload(store, "hiring", hiring_frame(first=2020, last=2020).iloc[[0]], HR_BUREAU, "jan.csv")
    survey = survey_frame(first=2020, last=2020).iloc[[0]]
    upload(store, "demand_survey", survey, IC_ASSOCIATION, "survey_2020.csv")
    assert store.vintage(2019) == before + 1
    assert store.vintage(2020) == store.watermark()


def test_a_read_can_leave_uploads_out(store: Store) -> None:
    ids = yearly_store(store)
    default = store.catalog(as_of=1).crosswalk
    everything = store.observations(Kind.ENROLLMENT)
    without = store.observations(Kind.ENROLLMENT, exclude=[ids["revision"]])
    old = store.observations(Kind.ENROLLMENT, as_of=ids["batch_2019"])
    year = everything["year"] == 2018
    assert (everything[year]["enrolled"] == 2 * without[without["year"] == 2018]["enrolled"]).all()
    assert without[without["year"] == 2018]["enrolled"].tolist() == (
        old[old["year"] == 2018]["enrolled"].tolist()
    ), "the superseded values come back"
    assert len(store.observations(Kind.ENROLLMENT, exclude=[ids["first_2020"]])) == len(old)
    crosswalk = store.catalog().crosswalk
    ic = crosswalk[(crosswalk["programme_code"] == "080704") & (crosswalk["field_code"] == "ic")]
    assert ic["weight"].tolist() == [0.5]
    before = store.catalog(exclude=[ids["catalog"]]).crosswalk
    assert before.equals(default)
    assert store.catalog(as_of=ids["batch_2019"]).crosswalk.equals(default)

"""The store on SQLite and PostgreSQL: ingestion paths, supersession, as-of reads, atomicity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from support import all_at_once, csv_bytes, xlsx_bytes

from data.catalog import Catalog, build_catalog, load_default_catalog
from data.ingest import IngestOptions, ingest_catalog, ingest_file, open_store
from data.problems import UploadRejected
from data.readers import ROW_COLUMN, read_table
from data.store import CATALOG_KIND, Store, UnknownUpload
from data.store.tables import metadata
from data.validation import ValidationContext, validate
from data.vocabulary import Kind

SAMPLES: dict[Kind, pd.DataFrame] = {
    Kind.ENROLLMENT: pd.DataFrame(
        {
            "year": [2019, 2020, 2020],
            "programme_code": ["080717T", "080717T", "080901"],
            "level": ["bachelor", "bachelor", "bachelor"],
            "enrolled": [120, 180, 2400],
        }
    ),
    Kind.GRADUATES: pd.DataFrame(
        {
            "year": [2023, 2024],
            "programme_code": ["080717T", "080717T"],
            "level": ["bachelor", "bachelor"],
            "graduates": [110, 170],
            "institution": ["南开大学", "天津大学"],
        }
    ),
    Kind.OUTCOMES: pd.DataFrame(
        {
            "year": [2023, 2024],
            "programme_code": ["080704", "080704"],
            "level": ["bachelor", "bachelor"],
            "graduates": [300, 320],
            "placed": [280, 290],
            "employed_in_field": [70, None],
            "employed_locally": [150, 160],
        }
    ),
    Kind.HIRING: pd.DataFrame(
        {
            "period": ["2024-01", "2024-02", "2024-01"],
            "field_code": ["ic", "ic", "ai"],
            "postings": [410, 300, 520],
            "level": ["bachelor", "bachelor", "all"],
            "job_seekers": [200, None, 400],
        }
    ),
    Kind.DEMAND_SURVEY: pd.DataFrame(
        {
            "survey_year": [2024, 2024],
            "target_year": [2025, 2026],
            "field_code": ["ic", "ic"],
            "headcount": [800, 950],
            "level": ["master", "master"],
        }
    ),
}

CHINESE_HEADERS = {
    "year": "年份",
    "programme_code": "专业代码",
    "level": "层次",
    "enrolled": "招生数",
    "graduates": "毕业生数",
    "placed": "落实人数",
    "employed_in_field": "对口就业人数",
    "employed_locally": "本地就业人数",
    "institution": "院校",
    "period": "期间",
    "field_code": "领域代码",
    "postings": "岗位数",
    "job_seekers": "求职人数",
    "survey_year": "调查年份",
    "target_year": "目标年份",
    "headcount": "需求人数",
}


def encode(frame: pd.DataFrame, file_format: str) -> tuple[bytes, str]:
    """The same table as each kind of file users send."""
    if file_format == "csv":
        return csv_bytes(frame), "upload.csv"
    if file_format == "gbk-chinese":
        chinese = frame.rename(columns=CHINESE_HEADERS)
        return csv_bytes(chinese, "gbk"), "上传.csv"
    if file_format == "xlsx":
        return xlsx_bytes(frame), "upload.xlsx"
    records = json.loads(frame.to_json(orient="records", force_ascii=False))
    return json.dumps(records, ensure_ascii=False).encode(), "upload.json"


def fingerprint(store: Store) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted content of every table."""
    result: dict[str, tuple[int, str]] = {}
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            result[table.name] = (len(rows), digest)
        result["alembic_version"] = (
            1,
            str(connection.execute(sa.text("select version_num from alembic_version")).scalar()),
        )
    return result


def sqlite_file_digest(store: Store) -> str | None:
    """SHA-256 of an SQLite store's file after closing every connection (WAL checkpointed)."""
    if store.engine.dialect.name != "sqlite":
        return None
    store.dispose()
    database = Path(str(store.engine.url.database))
    return hashlib.sha256(database.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("file_format", ["csv", "gbk-chinese", "xlsx", "json"])
def test_every_kind_from_every_format(
    store: Store, kind: Kind, file_format: str, default_catalog: Catalog
) -> None:
    content, filename = encode(SAMPLES[kind], file_format)
    stored = ingest_file(store, kind, content, filename=filename, uploader="test")
    assert stored.created
    assert stored.upload.kind == kind.value
    assert stored.upload.row_count == len(SAMPLES[kind])
    expected_format = "csv" if file_format == "gbk-chinese" else file_format
    assert stored.upload.file_format == expected_format
    if file_format == "gbk-chinese":
        assert stored.upload.encoding == "gbk"

    read = store.observations(kind).drop(
        columns=["upload_id", "row_number", "freq", "source"], errors="ignore"
    )
    expected = validate(
        read_table(*encode(SAMPLES[kind], "csv")), kind, ValidationContext(default_catalog)
    ).drop(columns=ROW_COLUMN)
    sort = list(expected.columns[:3])
    pd.testing.assert_frame_equal(
        read.sort_values(sort).reset_index(drop=True),
        expected.loc[:, list(read.columns)].sort_values(sort).reset_index(drop=True),
    )


def test_gbk_csv_with_chinese_headers_and_xlsx_reach_the_same_rows(store: Store) -> None:
    """The two formats Chinese offices actually send: GBK CSV from Excel, and .xlsx."""
    frame = SAMPLES[Kind.OUTCOMES]
    gbk = csv_bytes(frame.rename(columns=CHINESE_HEADERS).assign(层次="本科"), "gbk")
    assert b"\xc4\xea\xb7\xdd" in gbk  # 年份 in GBK: this really is a GBK file
    first = ingest_file(store, "outcomes", gbk, filename="就业.csv", uploader="t")
    second = ingest_file(
        store, "outcomes", xlsx_bytes(frame), filename="outcomes.xlsx", uploader="t"
    )
    assert first.created
    assert not second.created, "the same content in another format is a repeat"
    assert second.upload.id == first.upload.id
    rows = store.observations("outcomes")
    assert rows["placed"].tolist() == [280, 290]
    assert rows["employed_in_field"].isna().tolist() == [False, True]


def test_identical_content_is_a_no_op_returning_the_first_upload(store: Store) -> None:
    frame = SAMPLES[Kind.ENROLLMENT]
    first = ingest_file(store, "enrollment", csv_bytes(frame), uploader="a")
    before = fingerprint(store)
    shuffled = frame.iloc[::-1]
    again = ingest_file(store, "enrollment", csv_bytes(shuffled), uploader="b")
    assert not again.created
    assert again.upload == first.upload
    assert fingerprint(store) == before


def test_later_upload_supersedes_and_history_is_kept(store: Store) -> None:
    first = ingest_file(store, "enrollment", csv_bytes(SAMPLES[Kind.ENROLLMENT]), uploader="a")
    correction = pd.DataFrame(
        {"year": [2020], "programme_code": ["080717T"], "level": ["bachelor"], "enrolled": [175]}
    )
    second = ingest_file(store, "enrollment", csv_bytes(correction), uploader="b")
    assert second.upload.replaced_rows == 1
    assert second.upload.id > first.upload.id

    def value(frame: pd.DataFrame) -> list[int]:
        mask = (frame["year"] == 2020) & (frame["programme_code"] == "080717T")
        return frame.loc[mask, "enrolled"].tolist()

    assert value(store.observations("enrollment")) == [175]
    assert len(store.observations("enrollment")) == 3
    assert value(store.observations("enrollment", as_of=first.upload.id)) == [180]
    history = store.observations("enrollment", history=True)
    assert value(history) == [180, 175]
    assert store.watermark() == second.upload.id


def test_surveys_of_different_associations_do_not_supersede_each_other(store: Store) -> None:
    content = csv_bytes(SAMPLES[Kind.DEMAND_SURVEY])
    first = ingest_file(store, "demand_survey", content, uploader="ic_association")
    # Same content from another association is the same upload by content...
    assert not ingest_file(store, "demand_survey", content, uploader="other").created
    changed = SAMPLES[Kind.DEMAND_SURVEY].assign(headcount=[700, 900])
    ingest_file(store, "demand_survey", csv_bytes(changed), uploader="semiconductor_alliance")
    rows = store.observations("demand_survey")
    assert sorted(rows["source"].unique()) == ["ic_association", "semiconductor_alliance"]
    assert len(rows) == 4
    assert first.upload.replaced_rows == 0


BAD_FILES = {
    "unknown column": "year,programme_code,level,enrolled,colour\n2021,080901,bachelor,5,red\n",
    "missing column": "year,programme_code,enrolled\n2021,080901,5\n",
    "wrong type": "year,programme_code,level,enrolled\n2021,080901,bachelor,five\n",
    "negative": "year,programme_code,level,enrolled\n2021,080901,bachelor,-5\n",
    "non-integer": "year,programme_code,level,enrolled\n2021,080901,bachelor,5.5\n",
    "unknown code": "year,programme_code,level,enrolled\n2021,080999,bachelor,5\n",
    "unknown level": "year,programme_code,level,enrolled\n2021,080901,college,5\n",
    "duplicate key": "year,programme_code,level,enrolled\n"
    "2021,080901,bachelor,5\n2021,080901,本科,6\n",
    "year range": "year,programme_code,level,enrolled\n1850,080901,bachelor,5\n",
    "NaN": "year,programme_code,level,enrolled\n2021,080901,bachelor,NaN\n",
    "empty": "",
    "last row bad": "year,programme_code,level,enrolled\n"
    + "".join(f"{y},080901,bachelor,{y}\n" for y in range(1990, 2020))
    + "2021,080901,bachelor,-1\n",
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_rejected_upload_leaves_the_store_byte_for_byte_unchanged(store: Store, name: str) -> None:
    ingest_file(store, "enrollment", csv_bytes(SAMPLES[Kind.ENROLLMENT]), uploader="a")
    before = fingerprint(store)
    file_before = sqlite_file_digest(store)
    with pytest.raises(UploadRejected):
        ingest_file(store, "enrollment", BAD_FILES[name].encode(), filename="bad.csv", uploader="b")
    assert sqlite_file_digest(store) == file_before
    assert fingerprint(store) == before


def test_oversized_file_is_rejected_and_nothing_stored(store: Store) -> None:
    before = fingerprint(store)
    content = csv_bytes(SAMPLES[Kind.ENROLLMENT])
    with pytest.raises(UploadRejected, match="over the limit"):
        ingest_file(store, "enrollment", content, uploader="a", options=IngestOptions(max_bytes=20))
    assert fingerprint(store) == before


def test_database_failure_mid_write_rolls_back_the_whole_upload(
    store: Store, default_catalog: Catalog
) -> None:
    """If the database refuses a row half-way (here: a NULL in a NOT NULL column, which
    validation would never let through), the upload record and earlier rows vanish too."""
    before = fingerprint(store)
    rows = pd.concat([SAMPLES[Kind.ENROLLMENT]] * 40, ignore_index=True)
    rows["institution"] = [f"school {i}" for i in range(len(rows))]
    typed = validate(
        read_table(csv_bytes(rows), "x.csv"), "enrollment", ValidationContext(default_catalog)
    )
    typed.loc[90, "programme_code"] = None
    with pytest.raises(sa.exc.IntegrityError):
        store.add_observations("enrollment", typed, uploader="x")
    assert fingerprint(store) == before


def test_concurrent_identical_uploads_store_one(store_url: str) -> None:
    store = open_store(store_url, catalog=load_default_catalog())
    content = csv_bytes(SAMPLES[Kind.HIRING])
    results = all_at_once(
        [lambda: ingest_file(store, "hiring", content, uploader="t").upload.id] * 4
    )
    assert len(set(results)) == 1
    assert len(store.uploads(kind="hiring")) == 1
    store.dispose()


def test_catalog_is_versioned_with_the_uploads(store: Store, default_catalog: Catalog) -> None:
    first_catalog = store.uploads(kind=CATALOG_KIND)[0]
    long = default_catalog.to_long_programmes()
    without_ai = long[long["programme_code"] != "080717T"]
    stored = ingest_catalog(store, csv_bytes(without_ai), uploader="admin", filename="p.csv")
    assert stored.created
    assert "080717T" not in set(store.catalog().programmes["programme_code"])
    assert "080717T" in set(store.catalog(as_of=first_catalog.id).programmes["programme_code"])
    with pytest.raises(UploadRejected, match="unknown programme code '080717T'"):
        ingest_file(store, "enrollment", csv_bytes(SAMPLES[Kind.ENROLLMENT]), uploader="a")
    same_again = ingest_catalog(store, csv_bytes(without_ai), uploader="admin")
    assert not same_again.created


def test_bad_catalog_is_rejected_and_the_old_one_stays(
    store: Store, default_catalog: Catalog
) -> None:
    long = default_catalog.to_long_programmes().copy()
    long.loc[0, "weight"] = long.loc[0, "weight"] + 0.2
    long.loc[1, "field_code"] = "quantum"
    before = fingerprint(store)
    with pytest.raises(UploadRejected) as rejected:
        ingest_catalog(store, csv_bytes(long), uploader="admin")
    text = str(rejected.value)
    assert "unknown field code 'quantum'" in text
    assert "sum to" in text
    assert fingerprint(store) == before


def test_uploads_are_listed_newest_first_and_unknown_ids_fail(store: Store) -> None:
    ingest_file(store, "enrollment", csv_bytes(SAMPLES[Kind.ENROLLMENT]), uploader="a")
    ingest_file(store, "hiring", csv_bytes(SAMPLES[Kind.HIRING]), uploader="b")
    kinds = [u.kind for u in store.uploads()]
    assert kinds == ["hiring", "enrollment", CATALOG_KIND]
    # a page at a time, of one kind or uploader, with the count over all pages
    assert [u.kind for u in store.uploads(limit=1, offset=1)] == ["enrollment"]
    assert [u.uploader for u in store.uploads(uploader="b")] == ["b"]
    assert store.uploads("hiring", uploader="a") == []
    assert store.count_uploads() == 3
    assert store.count_uploads("hiring") == store.count_uploads(None, "a") == 1
    assert store.upload(store.watermark()).kind == "hiring"
    with pytest.raises(UnknownUpload):
        store.upload(999_999)


def test_migrations_match_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_keeps_data(store_url: str) -> None:
    store = open_store(store_url, catalog=load_default_catalog())
    ingest_file(store, "enrollment", csv_bytes(SAMPLES[Kind.ENROLLMENT]), uploader="a")
    before = fingerprint(store)
    store.dispose()
    again = open_store(store_url, catalog=load_default_catalog())
    assert fingerprint(again) == before
    again.dispose()


def test_catalog_round_trips_through_the_store(store: Store, default_catalog: Catalog) -> None:
    stored = store.catalog()
    pd.testing.assert_frame_equal(stored.fields, default_catalog.fields, check_dtype=False)
    pd.testing.assert_frame_equal(
        stored.to_long_programmes(), default_catalog.to_long_programmes(), check_dtype=False
    )
    rebuilt = build_catalog(
        read_table(csv_bytes(stored.fields), "f.csv"),
        read_table(csv_bytes(stored.to_long_programmes()), "p.csv"),
    )
    assert len(rebuilt.programmes) == len(default_catalog.programmes)


def test_a_file_name_longer_than_the_column_is_shortened_alike_on_every_backend(
    store: Store,
) -> None:
    frame = SAMPLES[Kind.OUTCOMES]
    name = "就业" * 200 + ".csv"  # 404 characters; PostgreSQL would refuse it whole
    stored = ingest_file(store, "outcomes", csv_bytes(frame, "utf-8"), filename=name, uploader="t")
    kept = store.upload(stored.upload.id).filename
    assert kept is not None
    assert len(kept) == 255
    assert kept.startswith("就业就业")
    assert kept.endswith("….csv")


def test_observations_are_read_one_region_at_a_time(store: Store) -> None:
    province = IngestOptions(city_region="130000", regions=("130100", "130200"))
    rows = SAMPLES[Kind.ENROLLMENT]
    both = pd.concat([rows.assign(region="130100"), rows.assign(region="130200", enrolled=7)])
    first = ingest_file(store, "enrollment", csv_bytes(both), uploader="a", options=province)
    correction = rows.head(1).assign(region="130200", enrolled=9)
    ingest_file(store, "enrollment", csv_bytes(correction), uploader="b", options=province)

    shijiazhuang = store.observations("enrollment", regions=["130100"])
    assert set(shijiazhuang["region"]) == {"130100"}
    assert shijiazhuang["enrolled"].tolist() == rows["enrolled"].tolist()
    tangshan = store.observations("enrollment", regions=("130200",))
    assert tangshan["enrolled"].tolist() == [9, 7, 7], "a correction supersedes its own region"
    earlier = store.observations("enrollment", regions={"130200"}, as_of=first.upload.id)
    assert earlier["enrolled"].tolist() == [7, 7, 7]
    assert len(store.observations("enrollment", regions=["130100", "130200"])) == 6
    assert store.observations("enrollment", regions=["130300"]).empty

    # Which cities each upload touched, and with how many rows (a city's change check
    # leaves out only the uploads of that city, counted by their rows there).
    hiring = SAMPLES[Kind.HIRING].assign(region="130200")
    later = ingest_file(store, "hiring", csv_bytes(hiring), uploader="c", options=province)
    counts = store.upload_region_rows(as_of=later.upload.id)
    assert counts[first.upload.id] == {"130100": 3, "130200": 3}
    assert counts[first.upload.id + 1] == {"130200": 1}
    assert counts[later.upload.id] == {"130200": len(hiring)}
    assert later.upload.id not in store.upload_region_rows(as_of=later.upload.id - 1)

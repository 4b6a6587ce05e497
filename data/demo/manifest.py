"""The demo's upload plan: which file carries which kind, in what shape, sent by whom.

Each file is deliberately messy in a different, still valid way (GBK, Chinese headers with
units, thousands separators, XLSX, JSON, a BOM, Chinese level and field names, Excel-mangled
codes), so that loading the demo exercises the real ingestion path end to end.
``write_files`` records the plan in ``manifest.json`` beside the files; :func:`load_demo` reads
it back, so the plan and the committed files cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Final

from data.catalog import load_default_catalog
from data.ingest import IngestOptions, ensure_catalog, ingest_file
from data.store import Store, StoredUpload
from data.vocabulary import Kind

COMMISSION: Final = "tj_education_commission"
HR_BUREAU: Final = "tj_hr_bureau"
MANIFEST_FILE: Final = "manifest.json"
FILES_FOLDER: Final = "files"

#: Level spellings of the commission's GBK export (all accepted aliases).
LEVELS_ZH: Final[dict[str, str]] = {
    "secondary_vocational": "中职",
    "higher_vocational": "高职",
    "bachelor": "本科",
    "master": "硕士",
    "doctor": "博士",
    "all": "不限",
}


@dataclass(frozen=True)
class FileSpec:
    """How one upload is written.

    ``headers`` maps canonical column names to the header text of the file (missing names keep
    the canonical name); ``level_names``/``field_names`` are ``code`` or ``zh``;
    ``thousands`` writes counts of 1000 and more as ``1,234``; ``mangled_year`` drops leading
    zeros from numeric programme codes in that year's rows, as Excel does to a code column;
    ``blank_all_level`` leaves the level empty (= all levels) instead of writing it.
    """

    kind: str
    filename: str
    uploader: str
    encoding: str = "utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    level_names: str = "code"
    field_names: str = "code"
    thousands: bool = False
    mangled_year: int | None = None
    blank_all_level: bool = False
    line_terminator: str = "\n"

    @property
    def format(self) -> str:
        return Path(self.filename).suffix.lstrip(".").lower()


ENROLLMENT: Final = FileSpec(
    Kind.ENROLLMENT,
    "enrollment.csv",
    COMMISSION,
    headers={
        "year": "年份",
        "programme_code": "专业代码",
        "level": "层次",
        "enrolled": "招生数（人）",
    },
    thousands=True,
    mangled_year=2013,
)
GRADUATES: Final = FileSpec(
    Kind.GRADUATES,
    "graduates_gbk.csv",
    COMMISSION,
    encoding="gbk",
    headers={
        "year": "年份",
        "programme_code": "专业代码",
        "level": "层次",
        "graduates": "毕业生数",
    },
    level_names="zh",
    line_terminator="\r\n",
)
OUTCOMES: Final = FileSpec(
    Kind.OUTCOMES,
    "outcomes.xlsx",
    COMMISSION,
    headers={
        "year": "年份",
        "programme_code": "专业代码",
        "level": "层次",
        "graduates": "毕业生数",
        "placed": "毕业去向落实人数",
        "employed_in_field": "对口就业人数",
        "employed_locally": "在津就业人数",
    },
)
HIRING: Final = FileSpec(Kind.HIRING, "hiring_monthly.csv", HR_BUREAU, encoding="utf-8-sig")
HIRING_CORRECTION: Final = FileSpec(Kind.HIRING, "hiring_correction_ic.csv", HR_BUREAU)
ENROLLMENT_CORRECTION: Final = FileSpec(
    Kind.ENROLLMENT, "enrollment_correction_2024.csv", COMMISSION
)

_SURVEY_ZH: Final = {
    "survey_year": "调查年份",
    "target_year": "目标年份",
    "field_code": "产业领域",
    "level": "层次",
    "headcount": "需求人数",
}
#: File shape of each association's survey; an association not listed sends a plain CSV.
SURVEY_STYLES: Final[dict[str, dict[str, object]]] = {
    "tj_ic_association": {
        "suffix": "xlsx",
        "headers": _SURVEY_ZH,
        "level_names": "zh",
        "field_names": "zh",
    },
    "tj_ai_alliance": {"suffix": "json", "blank_all_level": True},
    "tj_biomedicine_association": {"suffix": "csv"},
    "tj_nev_association": {"suffix": "xlsx"},
    "tj_logistics_association": {
        "suffix": "csv",
        "encoding": "utf-8-sig",
        "headers": _SURVEY_ZH,
        "level_names": "zh",
    },
    "tj_elderly_care_association": {
        "suffix": "xlsx",
        "headers": _SURVEY_ZH,
        "field_names": "zh",
        "blank_all_level": True,
    },
}


def survey_spec(association_id: str) -> FileSpec:
    """The survey file of one association (uploader = the association)."""
    style = dict(SURVEY_STYLES.get(association_id, {"suffix": "csv"}))
    suffix = str(style.pop("suffix"))
    return FileSpec(
        Kind.DEMAND_SURVEY,
        f"survey_{association_id}.{suffix}",
        association_id,
        **style,  # type: ignore[arg-type]
    )


def upload_specs(association_ids: list[str]) -> list[FileSpec]:
    """Upload order: the commission's files, hiring, surveys, then the corrections last."""
    return [
        ENROLLMENT,
        GRADUATES,
        OUTCOMES,
        HIRING,
        *(survey_spec(a) for a in association_ids),
        HIRING_CORRECTION,
        ENROLLMENT_CORRECTION,
    ]


def files_folder() -> Traversable:
    """The committed demo files inside the installed package."""
    return resources.files("data.demo").joinpath(FILES_FOLDER)


def demo_files(folder: Path | Traversable | None = None) -> list[tuple[str, str, str]]:
    """The manifest: ``(kind, relative filename, uploader)`` in upload order."""
    base = files_folder() if folder is None else folder
    document = json.loads(base.joinpath(MANIFEST_FILE).read_text(encoding="utf-8"))
    return [(item["kind"], item["file"], item["uploader"]) for item in document["uploads"]]


def load_demo(
    store: Store,
    options: IngestOptions | None = None,
    *,
    folder: Path | Traversable | None = None,
) -> list[StoredUpload]:
    """Ingest every file of the manifest, in order, through :func:`data.ingest.ingest_file`,
    after Tianjin's catalog if the store has none (the demo is Tianjin's).

    Going through the real ingestion path means the demo tests it; loading twice creates no
    new uploads, because identical content is a no-op that returns the first upload.
    """
    base = files_folder() if folder is None else folder
    ensure_catalog(store, load_default_catalog())
    results = []
    for kind, filename, uploader in demo_files(base):
        content = base.joinpath(filename).read_bytes()
        results.append(
            ingest_file(store, kind, content, filename=filename, uploader=uploader, options=options)
        )
    return results

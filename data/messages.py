"""What the problems of an upload say, in English and Chinese, side by side per code.

A problem is stored and logged in English (the CLI, the audit log and the store read it), and
shown to the person who sent the file in the language of their page or client. Keeping both
wordings of each code together lets a translator see what a sentence means and which
parameters it takes; a test renders every code in both languages with its parameters.

Templates are :meth:`str.format` strings over the problem's parameters. A parameter may be a
:class:`Term` (or a tuple of them): a word of the product's vocabulary (what a number counts, a
frequency, a level) that is translated too, rather than quoted as the file wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from data.vocabulary import LEVEL_NAMES_ZH, LEVELS

Lang = Literal["en", "zh"]
#: The languages messages are written in; English is the stored one.
LANGUAGES: Final[tuple[Lang, ...]] = ("en", "zh")
DEFAULT_LANGUAGE: Final[Lang] = "en"


@dataclass(frozen=True)
class Message:
    """One sentence in both languages (the same placeholders in each)."""

    en: str
    zh: str

    def template(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Term:
    """A word of the vocabulary used inside a message (a key of :data:`TERMS`)."""

    key: str


#: A parameter of a message: a cell value or number as the file had it, vocabulary, or a
#: text already written in each language (``{"en": ..., "zh": ...}``: sentences composed by
#: code, stored with a run as JSON).
Param = str | int | float | Term | tuple[Term, ...] | Mapping[str, str]

TERMS: Final[dict[str, Message]] = {
    "count_of_persons": Message(en="count of persons", zh="人数"),
    "year": Message(en="year", zh="年份"),
    "frequency.Y": Message(en="yearly", zh="年度数据"),
    "frequency.Q": Message(en="quarterly", zh="季度数据"),
    "frequency.M": Message(en="monthly", zh="月度数据"),
    "none": Message(en="none", zh="无"),
    "file.fields": Message(en="fields", zh="领域"),
    "file.programmes": Message(en="programmes", zh="专业"),
    **{f"level.{level}": Message(en=level, zh=LEVEL_NAMES_ZH[level]) for level in LEVELS},
}

#: Every problem an upload (or a catalog) can have, by code.
MESSAGES: Final[dict[str, Message]] = {
    # -- the file as a whole (reading it) ------------------------------------------------------
    "file.too_large": Message(
        en="file is {size:,} bytes, over the limit of {limit:,} bytes; split it into several "
        "uploads",
        zh="文件大小为 {size:,} 字节，超过 {limit:,} 字节的上限；请拆分为几次上传",
    ),
    "file.empty": Message(en="file is empty", zh="文件是空的"),
    "file.no_rows": Message(en="file has a header but no data rows", zh="文件只有表头，没有数据行"),
    "file.encoding": Message(
        en="file is neither UTF-8 nor GBK text (undecodable byte at offset {offset}); save it "
        "as 'CSV UTF-8' or upload the .xlsx",
        zh="文件既不是 UTF-8 也不是 GBK 文本（第 {offset} 字节无法解码）；请另存为"
        "“CSV UTF-8”或上传 .xlsx 文件",
    ),
    "file.too_many_columns": Message(
        en="file has {columns:,} columns, over the limit of {limit}; upload only the columns "
        "of its kind",
        zh="文件有 {columns:,} 列，超过 {limit} 列的上限；请只上传该类数据的列",
    ),
    "file.too_many_records": Message(
        en="file has more than {limit:,} records; split it into several uploads",
        zh="文件超过 {limit:,} 条记录；请拆分为几次上传",
    ),
    "csv.malformed": Message(en="malformed CSV: {error}", zh="CSV 格式错误：{error}"),
    "row.ragged": Message(
        en="has {cells} cells but the header has {width}",
        zh="本行有 {cells} 个单元格，而表头有 {width} 个",
    ),
    "cell.too_long": Message(
        en="cell has {length:,} characters, over the limit of {limit:,}",
        zh="单元格有 {length:,} 个字符，超过 {limit:,} 个字符的上限",
    ),
    "header.blank": Message(
        en="header cell {position} is blank", zh="第 {position} 个表头单元格是空的"
    ),
    "header.repeated": Message(
        en="header appears twice (cells {first} and {second})",
        zh="表头重复出现（第 {first} 和第 {second} 个单元格）",
    ),
    "xlsx.unreadable": Message(
        en="file is not a readable .xlsx workbook ({error})",
        zh="文件不是可读取的 .xlsx 工作簿（{error}）",
    ),
    "xlsx.too_large_unpacked": Message(
        en="workbook unpacks to {size:,} bytes, over the limit of {limit:,}; save it as CSV "
        "or split it",
        zh="工作簿解压后为 {size:,} 字节，超过 {limit:,} 字节的上限；请另存为 CSV 或拆分",
    ),
    "xlsx.empty_sheet": Message(en="the first worksheet is empty", zh="第一个工作表是空的"),
    "xlsx.right_of_header": Message(
        en="has values right of the last header", zh="最后一个表头的右侧还有数据"
    ),
    "json.too_many_digits": Message(
        en="a number has {digits:,} digits, over the limit of {limit}",
        zh="有一个数字长 {digits:,} 位，超过 {limit} 位的上限",
    ),
    "json.too_deep": Message(
        en="JSON is nested too deeply; send a flat list of records",
        zh="JSON 嵌套层数过多；请发送不嵌套的记录列表",
    ),
    "json.invalid": Message(
        en="invalid JSON at line {line} column {position}: {error}",
        zh="JSON 在第 {line} 行第 {position} 列有误：{error}",
    ),
    "json.no_list": Message(
        en="JSON must be a list of records or an object with a list under one of {keys}",
        zh="JSON 须为记录列表，或在 {keys} 之一下含有记录列表的对象",
    ),
    "json.not_list": Message(en="JSON must be a list of records", zh="JSON 须为记录列表"),
    "json.no_records": Message(en="file has no records", zh="文件中没有记录"),
    "json.not_object": Message(en="record is not a JSON object", zh="该记录不是 JSON 对象"),
    "json.nested_value": Message(
        en="value is a nested object or list, not a scalar",
        zh="值是嵌套的对象或列表，而不是单个值",
    ),
    # -- columns -------------------------------------------------------------------------------
    "column.unknown": Message(
        en="unknown column for kind {kind}; accepted columns are {accepted} (or their Chinese "
        "headers)",
        zh="{kind} 类数据没有这一列；可用的列为 {accepted}（或其中文列名）",
    ),
    "column.repeated": Message(
        en="means the same as column {other!r} ({canonical})",
        zh="与列 {other!r} 含义相同（{canonical}）",
    ),
    "column.missing": Message(
        en="required column is missing (kind {kind} needs {required}; Chinese header e.g. "
        "{aliases})",
        zh="缺少必需的列（{kind} 类数据需要 {required}；中文列名如 {aliases}）",
    ),
    # -- cells ---------------------------------------------------------------------------------
    "value.missing": Message(en="value is missing", zh="缺少数值"),
    "number.not_finite": Message(
        en="{value!r} (NaN/Inf) is not a {what}", zh="{value!r}（NaN/Inf）不是有效的{what}"
    ),
    "number.not_numeric": Message(en="{value!r} is not a number", zh="{value!r} 不是数字"),
    "number.not_whole": Message(
        en="{value!r} is not a whole {what}", zh="{value!r} 不是整数，{what}须为整数"
    ),
    "count.negative": Message(en="{value!r} is negative", zh="{value!r} 是负数"),
    "count.too_large": Message(
        en="{value!r} is implausibly large for a city", zh="{value!r} 对一个城市而言大得不合理"
    ),
    "year.out_of_range": Message(
        en="year {value} is outside {low}-{high}", zh="年份 {value} 不在 {low}-{high} 之间"
    ),
    "level.unknown": Message(
        en="unknown level {value!r}; use one of {choices} (or 中职/高职/本科/硕士/博士)",
        zh="未知层次 {value!r}；请使用 {choices} 之一（或 中职/高职/本科/硕士/博士）",
    ),
    "programme.unknown": Message(
        en="unknown programme code {code!r} (not in the catalog); unknown codes in this file: "
        "{listed}",
        zh="未知专业代码 {code!r}（专业目录中没有）；本文件中的未知代码：{listed}",
    ),
    "programme.unknown_near": Message(
        en="unknown programme code {code!r} (not in the catalog; did you mean {hint}?); "
        "unknown codes in this file: {listed}",
        zh="未知专业代码 {code!r}（专业目录中没有；是否应为 {hint}？）；本文件中的未知代码："
        "{listed}",
    ),
    "programme.wrong_level": Message(
        en="programme {code} is not offered at level {level} in the catalog (catalog levels: "
        "{levels})",
        zh="专业目录中专业 {code} 没有{level}层次（目录中的层次：{levels}）",
    ),
    "field.unknown": Message(
        en="unknown field {value!r}; unknown fields in this file: {listed}; known codes: {known}",
        zh="未知领域 {value!r}；本文件中的未知领域：{listed}；已知代码：{known}",
    ),
    "field.not_yours": Message(
        en="field {value!r} is not one of your fields ({mine})",
        zh="领域 {value!r} 不是您的领域（{mine}）",
    ),
    "period.malformed": Message(
        en="{value!r} is not a period; write YYYY, YYYY-Qn or YYYY-MM",
        zh="{value!r} 不是有效的期间；请写作 YYYY、YYYY-Qn 或 YYYY-MM",
    ),
    "period.out_of_range": Message(
        en="year of {value!r} is outside {low}-{high}",
        zh="{value!r} 的年份不在 {low}-{high} 之间",
    ),
    "period.mixed_frequency": Message(
        en="{value!r} is {frequency} but the file's first period is {first}; one frequency "
        "per file",
        zh="{value!r} 是{frequency}，而文件的第一个期间是{first}；一个文件只能有一种频率",
    ),
    "region.malformed": Message(
        en="{value!r} is not a 6-digit region code", zh="{value!r} 不是 6 位地区代码"
    ),
    "region.unknown": Message(
        en="region {value} is not one this deployment forecasts; use one of {allowed}",
        zh="地区 {value} 不在本系统预测的地区之内；请使用 {allowed} 之一",
    ),
    "region.missing": Message(
        en="the region is missing; this deployment forecasts several, use one of {allowed}",
        zh="缺少地区代码；本系统预测多个地区，请使用 {allowed} 之一",
    ),
    "text.too_long": Message(
        en="text is longer than {limit} characters", zh="文本超过 {limit} 个字符"
    ),
    "text.control": Message(
        en="text contains a control character (U+{codepoint:04X})",
        zh="文本含有控制字符（U+{codepoint:04X}）",
    ),
    # -- rows ----------------------------------------------------------------------------------
    "value.exceeds": Message(
        en="{column} ({value}) is greater than {limit} ({limit_value})",
        zh="{column}（{value}）大于 {limit}（{limit_value}）",
    ),
    "survey.target_before": Message(
        en="target year {target} is before the survey year {survey}",
        zh="目标年份 {target} 早于调查年份 {survey}",
    ),
    "survey.target_too_far": Message(
        en="target year {target} is more than {horizon} years after the survey year {survey}",
        zh="目标年份 {target} 比调查年份 {survey} 晚了 {horizon} 年以上",
    ),
    "survey.in_future": Message(
        en="survey year {survey} is in the future", zh="调查年份 {survey} 尚未到来"
    ),
    "key.duplicate": Message(
        en="duplicate key ({described}) already on row {first}; one value per key per file",
        zh="重复的键（{described}），第 {first} 行已有；一个文件中每个键只能有一个值",
    ),
    # -- the catalog (its fields and programmes files) -----------------------------------------
    "catalog.no_fields": Message(
        en="the store has no catalog yet: send a fields file with the programmes",
        zh="数据库中还没有专业目录：请随专业文件一并发送领域文件",
    ),
    "catalog.column_missing": Message(
        en="missing column in the {what} file (expected: {expected})",
        zh="{what}文件缺少这一列（应有的列：{expected}）",
    ),
    "catalog.column_unknown": Message(
        en="unknown column in the {what} file (expected: {expected})",
        zh="{what}文件中不应有这一列（应有的列：{expected}）",
    ),
    "catalog.code_shape": Message(
        en="{value!r} is not a lower-case ASCII code", zh="{value!r} 不是小写 ASCII 代码"
    ),
    "catalog.tier": Message(
        en="{value!r} is not a tier label of 1-{limit} characters",
        zh="{value!r} 不是 1-{limit} 个字符的类别标签",
    ),
    "catalog.sort_order": Message(en="{value!r} is not a whole number", zh="{value!r} 不是整数"),
    "catalog.field_repeated": Message(
        en="field {value!r} is listed more than once", zh="领域 {value!r} 出现了不止一次"
    ),
    "catalog.cost": Message(
        en="{value!r} is not a cost weight from 0 to {limit:g}",
        zh="{value!r} 不是 0 到 {limit:g} 之间的代价权重",
    ),
    "catalog.other_field_missing": Message(
        en="the '{other}' field is missing", zh="缺少 '{other}' 领域"
    ),
    "catalog.level_unknown": Message(
        en="unknown level {value!r} (one of {choices})",
        zh="未知层次 {value!r}（应为 {choices} 之一）",
    ),
    "catalog.code_not_level": Message(
        en="{value!r} does not have the shape of a {level} catalog code",
        zh="{value!r} 不符合{level}专业目录代码的格式",
    ),
    "catalog.duration": Message(en="{value!r} is not 1-8 years", zh="{value!r} 不是 1-8 年"),
    "catalog.weight": Message(en="{value!r} is not in (0, 1]", zh="{value!r} 不在 (0, 1] 之内"),
    "catalog.verified": Message(
        en="{value!r} is not one of {choices}", zh="{value!r} 不是 {choices} 之一"
    ),
    "catalog.verified_other": Message(
        en="'n/a' is reserved for the '{other}' line, and required there",
        zh="'n/a' 只用于 '{other}' 行，且该行必须填写 'n/a'",
    ),
    "catalog.no_name_zh": Message(en="programme has no Chinese name", zh="专业没有中文名称"),
    "catalog.field_unknown": Message(
        en="unknown field code {value!r}", zh="未知领域代码 {value!r}"
    ),
    "catalog.field_twice": Message(
        en="programme {code} ({level}) lists field {field} twice",
        zh="专业 {code}（{level}）重复列出了领域 {field}",
    ),
    "catalog.weights_sum": Message(
        en="weights of programme {code} ({level}) sum to {total:.4f}, not 1",
        zh="专业 {code}（{level}）的权重之和为 {total:.4f}，而不是 1",
    ),
    "catalog.attribute_differs": Message(
        en="programme {code} ({level}) has different {attribute} values on its rows",
        zh="专业 {code}（{level}）各行的 {attribute} 值不一致",
    ),
    "catalog.other_line_missing": Message(
        en="no '{other}' line for level {level} (the city has {level} programmes): add a row "
        "'{other},{level},...' so that city totals are complete",
        zh="层次 {level} 没有 '{other}' 行（本市有该层次的专业）：请添加一行 "
        "'{other},{level},...'，使全市合计完整",
    ),
}


def term_text(value: Term | tuple[Term, ...], lang: Lang) -> str:
    """A term (or a list of them) in ``lang``."""
    if isinstance(value, Term):
        return TERMS[value.key].template(lang)
    return ("、" if lang == "zh" else ", ").join(term_text(term, lang) for term in value)


def render(
    catalogue: Mapping[str, Message], code: str, params: Mapping[str, Param], lang: Lang
) -> str:
    """The sentence of ``code`` in ``lang`` with its parameters filled in."""
    values = {
        name: term_text(value, lang)
        if isinstance(value, Term | tuple)
        else value.get(lang, value.get(DEFAULT_LANGUAGE, ""))
        if isinstance(value, Mapping)
        else value
        for name, value in params.items()
    }
    return catalogue[code].template(lang).format(**values)

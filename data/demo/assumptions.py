"""Documented assumptions of the demo city below the city totals: programmes, outcomes, demand.

Everything here is a *stated* assumption, not a fact: the values are plausible for Tianjin and
chosen so that the demo exercises every signal the product computes (growing and shrinking
fields, cohort lags, weak programmes, biased surveys). ``README.md`` repeats them in tables.
The generator looks programmes up by level, field and keywords of the Chinese name, never by a
fixed code list, so any valid catalog gets a sensible city.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from data.vocabulary import Level

# -- programme founding -------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundingRule:
    """Programmes matching this rule first enrolled in ``years[level]``.

    A rule matches when the Chinese name contains one of ``keywords`` (or the code matches
    ``code_pattern``) and the programme's level has a year. ``ramp`` is False for codes that
    renamed an existing programme (full size at once) and True for genuinely new programmes,
    whose intake grows over three years.
    """

    keywords: tuple[str, ...]
    years: dict[str, int]
    ramp: bool = True
    code_pattern: str | None = None
    note: str = ""

    def matches(self, code: str, level: str, name_zh: str) -> bool:
        if level not in self.years:
            return False
        if self.code_pattern is not None and re.fullmatch(self.code_pattern, code):
            return True
        return any(keyword in name_zh for keyword in self.keywords)


_B, _HV, _SV = Level.BACHELOR, Level.HIGHER_VOCATIONAL, Level.SECONDARY_VOCATIONAL
_M, _D = Level.MASTER, Level.DOCTOR

#: First match wins; programmes matching none existed before the latent history (2004).
FOUNDING_RULES: Final[tuple[FoundingRule, ...]] = (
    FoundingRule(("集成电路科学与工程",), {_M: 2021, _D: 2021}, note="discipline 1401 (2020)"),
    FoundingRule(("智能科学与技术",), {_M: 2022, _D: 2022}, note="discipline 1405 (2022)"),
    FoundingRule(("设计学",), {_M: 2022, _D: 2022}, ramp=False, note="1305 recoded as 1403"),
    FoundingRule(
        (),
        {_M: 2019},
        ramp=False,
        code_pattern=r"08(5[4-9]|60)",
        note="2018 reform of engineering professional-degree categories, first intake 2019",
    ),
    FoundingRule(("人工智能",), {_B: 2019, _HV: 2020, _SV: 2021}),
    FoundingRule(("数据科学", "大数据"), {_B: 2017, _HV: 2017, _SV: 2021}),
    FoundingRule(("机器人",), {_B: 2016, _HV: 2014}),
    FoundingRule(("智能制造工程",), {_B: 2018}),
    FoundingRule(("智能制造装备",), {_HV: 2019}),
    FoundingRule(("网络空间安全",), {_B: 2016, _M: 2016, _D: 2016}),
    FoundingRule(("密码",), {_B: 2021}),
    FoundingRule(("智能建造",), {_B: 2018, _HV: 2019}),
    FoundingRule(("新能源汽车",), {_HV: 2016, _SV: 2017}),
    FoundingRule(("新能源科学", "新能源材料"), {_B: 2011}),
    FoundingRule(("养老服务管理",), {_B: 2020}),
    FoundingRule(("智慧健康养老",), {_HV: 2019, _SV: 2019}),
    FoundingRule(("智慧农业",), {_B: 2020}),
    FoundingRule(("智慧城市",), {_HV: 2021}),
    FoundingRule(("供应链",), {_B: 2018}),
    FoundingRule(("跨境电子商务",), {_B: 2019}),
    FoundingRule(("金融科技",), {_B: 2018}),
    FoundingRule(("虚拟现实",), {_B: 2019}),
    FoundingRule(("物联网",), {_B: 2011, _HV: 2011, _SV: 2015}),
    FoundingRule(("网络与新媒体",), {_B: 2013}),
    FoundingRule(("服务科学",), {_B: 2013}),
    FoundingRule(("资源循环",), {_B: 2011}),
    FoundingRule(("健康服务与管理",), {_B: 2016}),
    FoundingRule(("家政学",), {_B: 2019}),
    FoundingRule(("工业机器人",), {_HV: 2014}),
    FoundingRule(("光伏",), {_HV: 2010}),
    FoundingRule(("服务外包",), {_HV: 2012, _SV: 2014}),
)

#: Share of full intake in the founding year and the next two years (full from year four).
RAMP: Final = (0.35, 0.6, 0.85)

# -- programme size -----------------------------------------------------------------------------

#: Median entrants per programme and year (city-wide, all institutions), before the level scale
#: that reconciles programmes with the city total; sizes are lognormal around it.
MEDIAN_SIZE: Final[dict[str, float]] = {
    _SV: 250.0,
    _HV: 450.0,
    _B: 600.0,
    _M: 250.0,
    _D: 35.0,
}
SIZE_SIGMA: Final = 0.4

#: Big programmes, by keyword of the Chinese name (the largest matching multiplier applies).
SIZE_MULTIPLIERS: Final[dict[str, float]] = {
    "计算机": 2.5,
    "软件": 2.0,
    "护理": 3.0,
    "机械": 2.0,
    "电气": 2.0,
    "临床医学": 2.5,
    "金融": 1.8,
    "电子信息": 1.5,
    "机电": 1.5,
    "汽车": 1.4,
}

#: Weighted share (by non-``other`` crosswalk weight) of the priority programmes in each
#: level's 2019 entrants; the rest is the level's ``other`` line.
PRIORITY_SHARE_2019: Final[dict[str, float]] = {
    _SV: 0.52,
    _HV: 0.52,
    _B: 0.55,
    _M: 0.52,
    _D: 0.55,
}
#: The ``other`` line never falls below this share of a level's entrants or graduates.
MIN_OTHER_SHARE: Final = 0.22
#: Unweighted programme share of a year's intake above which growth is smoothly compressed.
SOFT_CAP_KNEE: Final = 0.66

# -- programme growth ---------------------------------------------------------------------------

#: Yearly growth of programmes of a field *relative to their level's city total*, as steps
#: ``(first year, rate)``. Fields not listed grow at :data:`DEFAULT_TREND`.
FIELD_TRENDS: Final[dict[str, tuple[tuple[int, float], ...]]] = {
    "ai": ((0, 0.12),),
    "ic": ((0, 0.08), (2020, 0.12)),
    "cybersecurity": ((0, 0.06),),
    "new_energy": ((0, 0.05), (2021, 0.09)),
    "elderly_care": ((0, 0.06),),
    "domestic_services": ((0, 0.05),),
    "ecommerce": ((0, 0.04), (2021, -0.03)),
    "financial_leasing": ((0, -0.03),),
    "tourism": (
        (0, -0.02),
        (2020, -0.12),
        (2021, -0.08),
        (2022, -0.05),
        (2023, 0.04),
        (2024, -0.02),
    ),
    "modern_agriculture": ((0, -0.02),),
    "next_gen_it": ((0, 0.02),),
    "smart_manufacturing": ((0, 0.01), (2015, 0.02)),
    "aeroengine": ((0, 0.02),),
    "biomedicine": ((0, 0.02),),
    "new_materials": ((0, 0.01),),
    "high_end_equipment": ((0, 0.01),),
    "energy_saving_environment": ((0, 0.0),),
    "rd_design": ((0, 0.01),),
    "digital_creative": ((0, 0.02),),
    "modern_transport": ((0, 0.01),),
    "logistics": ((0, 0.01),),
    "service_outsourcing": ((0, -0.01),),
    "health": ((0, 0.01),),
    "culture": ((0, 0.0),),
    "smart_city": ((0, 0.02),),
    "smart_building": ((0, 0.02),),
    "other": ((0, 0.0),),
}
DEFAULT_TREND: Final = 0.01
#: Standard deviation of a programme's own deviation from its fields' trend (per year).
TREND_DEVIATION_SD: Final = 0.015

# -- cohort pipeline ----------------------------------------------------------------------------

#: Completion (graduates / entrants ``duration`` years earlier) is uniform in these bounds.
COMPLETION: Final[dict[str, tuple[float, float]]] = {
    _SV: (0.88, 0.96),
    _HV: (0.88, 0.96),
    _B: (0.90, 0.97),
    _M: (0.90, 0.97),
    _D: (0.84, 0.92),
}
#: Doctoral candidates graduate after ``duration``, +1 and +2 years in these shares.
DOCTOR_LAG_SHARES: Final = (0.45, 0.35, 0.20)

# -- outcomes -----------------------------------------------------------------------------------

PLACEMENT_BASE: Final[dict[str, float]] = {_SV: 0.95, _HV: 0.90, _B: 0.88, _M: 0.92, _D: 0.96}
PLACEMENT_FIELD_ADJUSTMENT: Final[dict[str, float]] = {
    "ai": 0.04,
    "ic": 0.04,
    "cybersecurity": 0.04,
    "next_gen_it": 0.04,
    "tourism": -0.05,
    "culture": -0.05,
    "ecommerce": -0.03,
    "logistics": -0.03,
    "financial_leasing": -0.04,
    "modern_agriculture": -0.04,
}
PLACEMENT_YEAR_EFFECT: Final[dict[int, float]] = {
    2020: -0.04,
    2021: -0.02,
    2022: -0.05,
    2023: -0.04,
    2024: -0.03,
    2025: -0.03,
}
PLACEMENT_PROGRAMME_SD: Final = 0.025

#: Share of placed graduates working in their programme's fields: (rate in 2010, rate in 2025),
#: linear in between. IC: the 2018-19 white paper found ~19 % of IC-related graduates entering
#: the IC industry in 2018.
IN_FIELD_RATE: Final[dict[str, tuple[float, float]]] = {
    "ic": (0.20, 0.38),
    "ai": (0.35, 0.50),
    "cybersecurity": (0.45, 0.45),
    "aeroengine": (0.30, 0.30),
    "biomedicine": (0.35, 0.35),
    "new_energy": (0.38, 0.45),
    "next_gen_it": (0.55, 0.55),
    "health": (0.75, 0.75),
    "elderly_care": (0.45, 0.45),
    "financial_leasing": (0.15, 0.15),
    "tourism": (0.35, 0.35),
    "culture": (0.30, 0.30),
    "smart_manufacturing": (0.45, 0.45),
    "new_materials": (0.40, 0.40),
    "high_end_equipment": (0.45, 0.45),
    "modern_agriculture": (0.35, 0.35),
    "energy_saving_environment": (0.40, 0.40),
    "rd_design": (0.40, 0.40),
    "digital_creative": (0.45, 0.45),
    "modern_transport": (0.50, 0.50),
    "logistics": (0.45, 0.45),
    "ecommerce": (0.40, 0.40),
    "service_outsourcing": (0.40, 0.40),
    "domestic_services": (0.50, 0.50),
    "smart_city": (0.35, 0.35),
    "smart_building": (0.45, 0.45),
}
DEFAULT_IN_FIELD: Final = (0.40, 0.40)
DOCTOR_IN_FIELD_BONUS: Final = 0.10
IN_FIELD_PROGRAMME_SD: Final = 0.03
#: employed_in_field was not collected before this year (blank in the file).
IN_FIELD_FIRST_YEAR: Final = 2014

LOCAL_RETENTION: Final[dict[str, float]] = {_SV: 0.85, _HV: 0.65, _B: 0.50, _M: 0.45, _D: 0.40}
#: 海河英才 talent programme (May 2018): more graduates stay in Tianjin from the 2018 cohort.
LOCAL_RETENTION_POLICY_YEAR: Final = 2018
LOCAL_RETENTION_POLICY_EFFECT: Final = 0.05
LOCAL_PROGRAMME_SD: Final = 0.03
#: Year-to-year wobble of every rate of a programme.
RATE_YEAR_SD: Final = 0.01

# -- demand -------------------------------------------------------------------------------------

FIRST_HIRING_YEAR: Final = 2016
LAST_DEMAND_YEAR: Final = 2030

#: Demand / local in-field supply per field: knots (year, ratio), linear in between, flat
#: outside. Fields not listed keep :data:`DEFAULT_RATIO`.
DEMAND_RATIO: Final[dict[str, tuple[tuple[int, float], ...]]] = {
    "ai": ((2016, 1.3), (2025, 2.0)),
    "ic": ((2016, 1.2), (2025, 2.2)),
    "aeroengine": ((2016, 1.1), (2025, 1.4)),
    "cybersecurity": ((2016, 1.3), (2025, 1.6)),
    "new_energy": ((2016, 1.0), (2020, 1.05), (2025, 1.6)),
    "elderly_care": ((2016, 1.4), (2025, 2.2)),
    "domestic_services": ((2016, 1.5), (2025, 1.9)),
    "next_gen_it": ((2016, 1.15), (2021, 1.2), (2025, 1.0)),
    "ecommerce": ((2016, 1.1), (2020, 1.3), (2025, 0.85)),
    "financial_leasing": ((2016, 0.8), (2025, 0.6)),
    "logistics": ((2016, 0.95), (2025, 0.9)),
    "tourism": ((2016, 1.0), (2019, 1.0), (2020, 0.6), (2022, 0.6), (2023, 0.9), (2025, 0.95)),
    "culture": ((2016, 0.85), (2025, 0.8)),
    "modern_agriculture": ((2016, 0.8), (2025, 0.85)),
    "smart_manufacturing": ((2016, 1.1), (2025, 1.25)),
    "biomedicine": ((2016, 1.1), (2025, 1.2)),
    "new_materials": ((2016, 1.0), (2025, 1.1)),
    "high_end_equipment": ((2016, 1.05), (2025, 1.15)),
    "energy_saving_environment": ((2016, 0.95), (2025, 1.0)),
    "rd_design": ((2016, 1.0), (2025, 1.05)),
    "digital_creative": ((2016, 1.0), (2025, 1.1)),
    "modern_transport": ((2016, 1.0), (2025, 1.05)),
    "service_outsourcing": ((2016, 0.95), (2025, 0.9)),
    "health": ((2016, 1.1), (2025, 1.2)),
    "smart_city": ((2016, 1.0), (2025, 1.2)),
    "smart_building": ((2016, 1.0), (2025, 1.15)),
}
DEFAULT_RATIO: Final = ((2016, 1.0), (2025, 1.0))
MACRO_SHOCK: Final[dict[int, float]] = {2020: 0.85, 2022: 0.90}
DEMAND_NOISE_SD: Final = 0.05
#: Growth of demand after 2025: log-slope of noise-free demand 2021-2025, within these bounds.
EXTENSION_GROWTH_BOUNDS: Final = (-0.05, 0.10)

#: Seasonal profile of new-graduate postings (renormalised to mean 1).
POSTING_SEASON: Final = (0.85, 0.8, 1.35, 1.2, 1.0, 0.85, 0.8, 0.85, 1.25, 1.25, 1.05, 0.75)
#: Registered job seekers peak around graduation.
SEEKER_SEASON: Final = (0.7, 0.6, 1.1, 1.2, 1.3, 1.5, 1.4, 1.0, 0.9, 0.8, 0.8, 0.7)
#: Chinese New Year (Spring Festival) dates: hiring stops for about two weeks.
SPRING_FESTIVAL: Final[dict[int, tuple[int, int]]] = {
    2016: (2, 8),
    2017: (1, 28),
    2018: (2, 16),
    2019: (2, 5),
    2020: (1, 25),
    2021: (2, 12),
    2022: (2, 1),
    2023: (1, 22),
    2024: (2, 10),
    2025: (1, 29),
}
#: COVID-19 collapse of postings in February-April 2020.
COVID_MONTHS: Final[dict[tuple[int, int], float]] = {(2020, 2): 0.4, (2020, 3): 0.5, (2020, 4): 0.7}
POSTING_NOISE_SD: Final = 0.08
HIRES_CAP_OF_SUPPLY: Final = 1.15
SEEKERS_PER_SUPPLY: Final = 1.2

# -- surveys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Association:
    """An industry association that files demand surveys for its fields.

    ``bias`` is the ratio of its stated need to realised demand (associations lobbying for
    talent overstate); ``all_level_fields`` are reported without a level, and before
    ``per_level_from`` every field is.
    """

    id: str
    fields: tuple[str, ...]
    first_survey: int
    bias: float
    all_level_fields: tuple[str, ...] = ()
    per_level_from: int = 0


ASSOCIATIONS: Final[tuple[Association, ...]] = (
    Association("tj_ic_association", ("ic",), 2016, 1.35),
    Association("tj_ai_alliance", ("ai", "next_gen_it"), 2018, 1.25, ("next_gen_it",)),
    Association("tj_biomedicine_association", ("biomedicine",), 2017, 1.10),
    Association("tj_nev_association", ("new_energy",), 2019, 1.20),
    Association("tj_logistics_association", ("logistics", "ecommerce"), 2016, 0.90, (), 2020),
    Association(
        "tj_elderly_care_association",
        ("elderly_care", "domestic_services", "health"),
        2018,
        1.00,
        ("domestic_services",),
    ),
)
LAST_SURVEY_YEAR: Final = 2025
SURVEY_HORIZONS: Final = (1, 2, 3)
#: Survey noise (lognormal sd) at one year ahead, growing with the horizon.
SURVEY_NOISE_SD: Final = 0.10
SURVEY_NOISE_SD_PER_YEAR: Final = 0.02

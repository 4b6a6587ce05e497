"""The balance pages: the shortage overview (``/``) and one field's forecasts (``/fields/…``).

Both read the served run through the process cache, exactly as the API does, so the dashboard
and the API can never show different numbers for the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Final

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from data.vocabulary import ALL_LEVELS
from serving.api.deps import SettingsDep
from serving.dashboard import charts, tables
from serving.dashboard.i18n import scale_text
from serving.dashboard.render import PageContext, render
from serving.dashboard.session import Page

router = APIRouter(include_in_schema=False)
#: Programmes listed on a field page; the rest are one link away.
URGENT_ROWS: Final = 5
OptionalText = Annotated[str | None, Query()]


def of_region(frame: pd.DataFrame, region: str) -> pd.DataFrame:
    """The rows of one region of a run output (a run of several regions holds them all)."""
    return frame[frame["region"] == region]


def choose(
    page: PageContext, value: str | None, options: Sequence[str], default: str, what: str
) -> str:
    """A select's value: the default when absent, a 422 page when not one of the options
    (a hand-edited URL should say so rather than silently show something else)."""
    if value is None or value == "":
        return default
    if value not in options:
        t = page.t
        message = t("invalid_choice", value=value, what=t(what).lower(), options=", ".join(options))
        raise page.fail(422, "invalid_title", message)
    return value


@router.get("/", response_class=HTMLResponse)
def overview(
    page: Page,
    settings: SettingsDep,
    level: OptionalText = None,
    year: OptionalText = None,
    region: OptionalText = None,
) -> HTMLResponse:
    """P(shortage) heatmap of the fields × forecast years for one level, and the shortage
    ranking of one year. An association sees the rows of its own fields (ranked among all).
    A deployment of several regions shows one of them (the total first), chosen above."""
    run = page.require_run()
    plan = settings.region_plan()
    regions = list(plan.servable)
    chosen_region = choose(page, region, regions, plan.top, "region")
    balance = of_region(page.cache.output(page.store, run.id, "balance"), chosen_region)
    catalog = page.cache.catalog(page.store, run.watermark)
    t = page.t
    levels = tables.levels_of(balance)
    chosen_level = choose(page, level, levels, ALL_LEVELS, "level")
    years = tables.forecast_years(balance, page.last_observed_year())
    first = str(years[0]) if years else ""
    chosen_year = int(choose(page, year, [str(y) for y in years], first, "year") or 0)
    fields = tables.plan_fields(catalog, page.lang)
    visible = page.principal.fields if page.principal.field_scoped else None
    names = {f.code: f.name for f in fields}
    order = [f.code for f in fields if visible is None or f.code in visible]
    matrix = tables.shortage_matrix(balance, chosen_level, order, years)
    heatmap = charts.shortage_heatmap(
        matrix,
        [names[code] for code in matrix.index],
        f"{t('heatmap_title')} · {page.level_name(chosen_level)}",
        t("heatmap_colorbar"),
    )
    return render(
        page,
        "overview.html",
        regions=regions if len(regions) > 1 else [],
        region=chosen_region,
        levels=levels,
        level=chosen_level,
        years=years,
        year=chosen_year,
        heatmap=heatmap.to_json(),
        ranking=tables.ranking_rows(balance, chosen_year, chosen_level, visible),
        ranking_rule=tables.ranking_rule(balance),
        names=names,
        city=tables.city_totals(balance, years) if visible is None else [],
    )


@router.get("/fields/{field_code}", response_class=HTMLResponse)
def field_page(
    page: Page, settings: SettingsDep, field_code: str, level: OptionalText = None
) -> HTMLResponse:
    """Fan charts of one field's supply, demand and gap, what drives the gap, and the
    programmes that feed the field (of the deployment's top region: the city, or the total
    of its regions)."""
    run = page.require_run()
    catalog = page.cache.catalog(page.store, run.watermark)
    t = page.t
    info = {f.code: f for f in tables.plan_fields(catalog, page.lang)}.get(field_code)
    if info is None:
        raise page.fail(404, "not_found_title", t("field_not_found", code=field_code))
    if not page.principal.may_see_field(field_code):
        fields = ", ".join(sorted(page.principal.fields))
        raise page.fail(403, "forbidden_title", t("forbidden_field", fields=fields))
    top = settings.region_plan().top
    balance = of_region(page.cache.output(page.store, run.id, "balance"), top)
    levels = tables.levels_of(balance, field_code) or [ALL_LEVELS]
    chosen = choose(page, level, levels, ALL_LEVELS, "level")
    rows = tables.balance_rows(balance, field_code, chosen)
    last = page.last_observed_year()
    figures = {}
    for quantity in ("supply", "demand", "gap"):
        labels = charts.FanLabels(
            title=t(quantity),
            history=t("history"),
            median=t("forecast_median"),
            band_80=t("band_80"),
            band_95=t("band_95"),
            unit=t("persons"),
            zero=t("zero_line") if quantity == "gap" else "",
        )
        figures[quantity] = charts.fan_chart(rows, quantity, last, labels).to_json()
    years = tables.forecast_years(balance, last)[: tables.FEEDING_YEARS]
    drivers = of_region(page.cache.output(page.store, run.id, "drivers"), top)
    supply = of_region(page.cache.output(page.store, run.id, "programme_supply"), top)
    scales = of_region(page.cache.output(page.store, run.id, "demand_scales"), top)
    scale = scales[scales["field_code"] == field_code]
    return render(
        page,
        "field.html",
        field=info,
        levels=levels,
        level=chosen,
        figures=figures,
        scale=_scale_in_words(scale.iloc[0].to_dict(), page.lang) if len(scale) else None,
        drivers=tables.driver_rows(drivers, field_code, chosen),
        driver_columns=tables.DRIVER_COLUMNS,
        feeding=tables.feeding_programmes(catalog, supply, field_code, chosen, years, page.lang),
        feeding_years=years,
        urgent=_urgent_programmes(page, field_code, chosen) if page.is_planner else [],
    )


def _scale_in_words(scale: dict[str, Any], lang: str) -> dict[str, Any]:
    """The field's demand scale with its source and note in the page's language."""
    words = {
        key: scale_text(value, lang)
        for key in ("source", "note")
        if isinstance(value := scale.get(key), str)
    }
    return {**scale, **words}


def _urgent_programmes(page: PageContext, field_code: str, level: str) -> list[dict[str, Any]]:
    """The field's most urgent programmes (its main field, by the programmes page's urgency),
    each with its warnings' messages, so that the field page leads to what to do."""
    run = page.require_run()
    catalog = page.cache.catalog(page.store, run.watermark)
    warnings = page.cache.output(page.store, run.id, "warnings")
    selected = tables.filter_recommendations(
        page.cache.output(page.store, run.id, "recommendations"),
        catalog,
        page.lang,
        level=None if level == ALL_LEVELS else level,
        field_code=field_code,
        query=None,
    )
    rows = tables.with_urgency(selected, warnings).head(URGENT_ROWS).to_dict("records")
    messages = warnings.groupby(["programme_code", "level"])[f"message_{page.lang}"].agg(list)
    for row in rows:
        row["messages"] = messages.get((row["programme_code"], row["level"]), [])
    return rows

"""Rendering pages: the Jinja2 environment, the context every page shares, and error pages.

The environment is built by :func:`build_environment` when the dashboard is installed and kept
on ``app.state``; nothing is loaded at import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from data.messages import Lang
from data.store import Store
from data.store.runs import RunRecord
from forecasting.promotion import nothing_served
from forecasting.rules import rule_name
from forecasting.wording import format_probability as probability_text
from serving.api.cache import ServingCache
from serving.auth import PLANNERS, Principal
from serving.dashboard.i18n import (
    LANG_COOKIE,
    Translate,
    choose_lang,
    level_name,
    stage_name,
    translator,
)

#: The chosen language is remembered for a year (it is a preference, not a secret).
LANG_MAX_AGE: Final = 365 * 24 * 3600
#: Pages may load nothing but this server's own files: the browser enforces the offline rule.
#: (Plotly styles its elements inline and draws heatmaps as data: images.)
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


#: Every page: only this server's resources, and not kept by shared caches (pages are per user).
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "private, no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class PageError(Exception):
    """A page that cannot be shown (404, 403, 422, 503): rendered as a friendly page in the
    user's language, with the usual header, rather than as the API's JSON."""

    def __init__(
        self, context: PageContext, status_code: int, title_key: str, message: str
    ) -> None:
        super().__init__(message)
        self.context = context
        self.status_code = status_code
        self.title_key = title_key
        self.message = message


class LoginRequired(Exception):
    """No live session: the page redirects to the login form (and back afterwards)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def build_environment() -> Environment:
    """The dashboard's Jinja2 environment, with its formatting filters."""
    env = Environment(
        loader=PackageLoader("serving.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["signed"] = format_signed
    env.filters["pct"] = format_percent
    env.filters["prob"] = format_probability
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["figure"] = figure_script
    return env


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_number(value: Any, digits: int = 0) -> str:
    """Persons and quotas with thousands separators; an em dash for a missing value."""
    if _missing(value):
        return "—"
    return f"{float(value):,.{digits}f}"


def format_signed(value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "—"
    text = f"{float(value):+,.{digits}f}"
    return "0" if text in ("+0", "-0") else text


def format_percent(value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "—"
    return f"{100 * float(value):.{digits}f}%"


def format_probability(value: Any, digits: int = 0) -> str:
    """A probability that never rounds to a certainty it is not (">99%", "<1%")."""
    return "—" if _missing(value) else probability_text(float(value), digits)


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` in ``zone``; a time without a zone is UTC (the store writes UTC only)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def zone_label(value: datetime) -> str:
    """The offset of an aware time as ``UTC+08:00``: unambiguous where abbreviations are not
    (China's "CST" is also a US zone's)."""
    offset = value.strftime("%z") or "+0000"
    return f"UTC{offset[:3]}:{offset[3:]}"


def format_time(value: datetime | None, zone: tzinfo) -> str:
    """A time in the city's zone, to the minute, labelled with its offset: planners read the
    city's clock, not the server's (often UTC in containers)."""
    if value is None:
        return "—"
    local = in_zone(value, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(local)}"


@pass_context
def _when(context: Context, value: datetime | None) -> str:
    return format_time(value, context["time_zone"])


@pass_context
def _day(context: Context, value: datetime | None) -> str:
    """The date of ``value`` in the city's zone (a run finished at 23:30 UTC is the next day
    in Tianjin)."""
    return "—" if value is None else f"{in_zone(value, context['time_zone']):%Y-%m-%d}"


def figure_script(figure_json: str, element_id: str) -> Markup:
    """A figure's JSON in a ``<script type="application/json">`` block.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where their ``\\u`` escapes are
    equivalent, so the block can never close the script element early.
    """
    safe = figure_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup('<script type="application/json" id="{}">{}</script>').format(
        element_id, Markup(safe)
    )


@dataclass
class PageContext:
    """What every page needs besides its own data: who, which language, which run."""

    request: Request
    principal: Principal
    run: RunRecord | None
    lang: str
    #: The session's CSRF token, for the page's forms and scripts (``csrf-token`` meta tag).
    csrf_token: str
    #: The city's time zone (the ``retrain_timezone`` setting): every time a page shows is in it.
    time_zone: tzinfo

    @property
    def base(self) -> str:
        """The mount prefix (``root_path``), so that links work behind a path-prefixing proxy."""
        return str(self.request.scope.get("root_path", "")).rstrip("/")

    @property
    def is_planner(self) -> bool:
        return self.principal.may(PLANNERS)

    @property
    def t(self) -> Translate:
        return translator(self.lang)

    @property
    def store(self) -> Store:
        store: Store = self.request.app.state.store
        return store

    @property
    def cache(self) -> ServingCache:
        cache: ServingCache = self.request.app.state.cache
        return cache

    def level_name(self, level: str) -> str:
        return level_name(level, self.lang)

    @property
    def message_lang(self) -> Lang:
        """The page's language as the product's messages name it."""
        return "zh" if self.lang == "zh" else "en"

    def rule_name(self, code: str) -> str:
        return rule_name(code, self.message_lang)

    def stage_name(self, stage: str) -> str:
        return stage_name(stage, self.lang)

    def last_observed_year(self) -> int:
        """The run's last year of history; later years are forecasts."""
        metrics = self.require_run().metrics
        if "last_observed_year" in metrics:
            return int(metrics["last_observed_year"])
        return int(metrics["first_forecast_year"]) - 1

    def require_run(self) -> RunRecord:
        """The served run, or a 503 page saying why none is served (nothing trained yet, a
        run still to finish, one that failed, or one a quality gate refused) and what an admin
        can do."""
        if self.run is None:
            why = nothing_served(self.store, self.message_lang)
            run = why.run
            values: dict[str, object] = {}
            if run is not None:
                error = (run.error or "").strip().splitlines()
                values = {
                    "run": run.id,
                    "reason": why.reason or "",
                    "error": error[0][:300] if error else "",
                }
            key = "no_run_text" if why.state == "none" else f"no_run_{why.state}"
            raise PageError(self, 503, "no_run", self.t(key, **values))
        return self.run

    def require_planner(self) -> None:
        """Planners and admins only: an association gets a polite 403 page."""
        if not self.is_planner:
            role = self.t(f"role_{self.principal.role.value}")
            raise PageError(self, 403, "forbidden_title", self.t("forbidden_role", role=role))

    def fail(self, status_code: int, title_key: str, message: str) -> PageError:
        return PageError(self, status_code, title_key, message)

    def switch_url(self) -> str:
        """The current page in the other language."""
        other = "en" if self.lang == "zh" else "zh"
        params = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        params.append(("lang", other))
        return f"{self.base}{self.request.url.path}?{urlencode(params)}"

    def values(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "principal": self.principal,
            "run": self.run,
            "lang": self.lang,
            "csrf_token": self.csrf_token,
            "t": self.t,
            "level_name": self.level_name,
            "rule_name": self.rule_name,
            "stage_name": self.stage_name,
            "time_zone": self.time_zone,
            "zone_name": str(self.time_zone),
            "base": self.base,
            "switch_url": self.switch_url(),
            "is_planner": self.is_planner,
            "path": self.request.url.path,
        }


def page_lang(request: Request) -> str:
    return choose_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def served_run(request: Request) -> RunRecord | None:
    cache: ServingCache = request.app.state.cache
    store: Store = request.app.state.store
    return cache.served_run(store)


def render(
    context: PageContext, template: str, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """The page ``template`` with the shared context; remembers a language chosen by query."""
    env: Environment = context.request.app.state.dashboard_env
    html = env.get_template(template).render(**context.values(), **values)
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    remember_lang(context.request, response)
    return response


def remember_lang(request: Request, response: HTMLResponse) -> None:
    chosen = request.query_params.get("lang")
    if chosen is not None and chosen == page_lang(request):
        response.set_cookie(LANG_COOKIE, chosen, max_age=LANG_MAX_AGE, samesite="strict")


def error_page(error: PageError) -> HTMLResponse:
    return render(
        error.context,
        "error.html",
        status_code=error.status_code,
        title=error.context.t(error.title_key),
        message=error.message,
    )

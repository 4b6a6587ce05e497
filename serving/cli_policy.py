"""``talentcast policy`` and ``talentcast scenario``: the employment rules and what-if questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from data.store import RunRecord, Store, StoreError
from serving.console import EXIT_REJECTED, err, open_configured, out, settings_of

policy_app = typer.Typer(help="The employment rules applied to programmes.", no_args_is_help=True)


@policy_app.command("export")
def policy_export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(dir_okay=False, help="JSON file to write.")],
    default: Annotated[bool, typer.Option(help="Export the shipped default instead.")] = False,
) -> None:
    """Write the rules in force (TALENTCAST_POLICY_FILE or the default) as editable JSON."""
    from forecasting.rules import Policy

    policy = Policy.default() if default else settings_of(ctx).training_config().policy
    path.write_text(json.dumps(policy.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    out.print(f"wrote {len(policy.rules)} rules to {path}; set TALENTCAST_POLICY_FILE to use it")


@policy_app.command("check")
def policy_check(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON policy.")],
) -> None:
    """Validate a policy file without using it; if refused, list every problem and exit 1."""
    from forecasting.rules import Policy, PolicyError
    from serving.settings import read_policy

    try:
        policy = Policy.from_dict(read_policy(path))
    except PolicyError as error:
        err.print(f"[red]policy refused:[/red] {len(error.problems)} problem(s)")
        for problem in error.problems:
            err.print(f"  {problem}", markup=False)
        raise typer.Exit(EXIT_REJECTED) from error
    except ValueError as error:  # not readable, or not JSON
        err.print(f"[red]policy refused:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    for rule in policy.rules:
        out.print(
            f"{rule.code}: {rule.authority}, below {rule.threshold:.0%} "
            f"{rule.consecutive_years} year(s) running → {rule.action}"
        )


def scenario(
    ctx: typer.Context,
    quota: Annotated[
        list[str] | None,
        typer.Option(
            help="CODE|LEVEL=N sets next year's intake, CODE|LEVEL@YEAR=N another year's "
            "(repeatable), e.g. '080717T|bachelor=300'."
        ),
    ] = None,
    shock: Annotated[
        list[str] | None,
        typer.Option(help="FIELD=FACTOR scales a field's demand, e.g. ic=0.8 (repeatable)."),
    ] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Run (default: served).")] = None,
    output: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write the scenario balance as CSV.")
    ] = None,
) -> None:
    """What-if on a stored run: change quotas or shock demand, see the balance and costs move."""
    from forecasting.scenarios import ScenarioError, evaluate_scenario, load_samples

    store = open_configured(settings_of(ctx))
    try:
        run = _run_or_served(store, run_id)
        samples = load_samples(store, run.id)
        quotas = _parse_quotas(quota or [], samples.first_year)
        shocks = _parse_pairs(shock or [], "--shock", "FIELD=FACTOR")
        result = evaluate_scenario(samples, quotas, shocks)
    except (ScenarioError, StoreError, ValueError) as error:
        err.print(f"[red]scenario refused:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    finally:
        store.dispose()
    table = Table(title=f"Expected mismatch over the horizon, run #{run.id}")
    for column in ("", "business as usual", "scenario", "change"):
        table.add_column(column, justify="right")
    for name, before in result.baseline_costs.items():
        after = result.costs[name]
        table.add_row(
            name.replace("_", " "), f"{before:,.0f}", f"{after:,.0f}", f"{after - before:+,.0f}"
        )
    out.print(table)
    if output is not None:
        result.balance.to_csv(output, index=False, encoding="utf-8-sig")
        out.print(f"wrote {len(result.balance)} rows of the scenario balance to {output}")


def _run_or_served(store: Store, run_id: int | None) -> RunRecord:
    if run_id is not None:
        return store.run(run_id)
    served = store.served_run()
    if served is None:
        raise ValueError("no run is served yet; train one with `talentcast retrain`")
    return served


def _parse_pairs(values: list[str], option: str, form: str) -> dict[str, float]:
    pairs: dict[str, float] = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            pairs[name.strip()] = float(number)
        except ValueError:
            raise ValueError(f"{option} {value!r} is not {form}") from None
    return pairs


def _parse_quotas(values: list[str], next_year: int) -> dict[str, dict[int, float]]:
    quotas: dict[str, dict[int, float]] = {}
    for key, number in _parse_pairs(values, "--quota", "CODE|LEVEL[@YEAR]=N").items():
        programme, _, year = key.partition("@")
        try:
            intake_year = int(year) if year else next_year
        except ValueError:
            raise ValueError(f"--quota {key!r}: the year after @ must be a year") from None
        quotas.setdefault(programme, {})[intake_year] = number
    return quotas

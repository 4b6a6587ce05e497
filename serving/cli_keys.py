"""``talentcast keys``: API keys for the HTTP API and the dashboard (admin only, on the server)."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from data.store import StoreError
from data.vocabulary import Role
from serving.auth import issue_key
from serving.console import EXIT_REJECTED, err, open_configured, out, settings_of

keys_app = typer.Typer(
    help="API keys (stored hashed; a secret is shown once).", no_args_is_help=True
)


def cli_actor() -> str:
    """Who a command-line change is audited as: the operating-system user."""
    return f"cli:{getpass.getuser()}"


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. tj_ic_association.")],
    role: Annotated[Role, typer.Option(help="planner, association or admin.")],
    field: Annotated[
        list[str] | None,
        typer.Option(help="A field an association reports for (repeatable), e.g. --field ic."),
    ] = None,
) -> None:
    """Create a key and print its secret once (only its hash is stored)."""
    store = open_configured(settings_of(ctx))
    try:
        record, secret = issue_key(store, name, role, field or [], actor=cli_actor())
    except StoreError as error:
        err.print(f"[red]key refused:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    finally:
        store.dispose()
    scope = f" for {', '.join(record.fields)}" if record.fields else ""
    out.print(f"created {record.role} key {record.name!r}{scope}; its secret (shown only now):")
    out.print(secret, markup=False)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    revoked: Annotated[bool, typer.Option(help="Include revoked keys.")] = False,
) -> None:
    """Keys by name, role, fields and the first characters of the secret."""
    store = open_configured(settings_of(ctx))
    try:
        records = store.keys(include_revoked=revoked)
    finally:
        store.dispose()
    table = Table(title="API keys")
    for column in ("name", "role", "fields", "starts with", "created", "by", "revoked"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            record.name,
            str(record.role),
            ", ".join(record.fields),
            record.key_prefix + "…",
            record.created_at.strftime("%Y-%m-%d %H:%M"),
            record.created_by or "",
            record.revoked_at.strftime("%Y-%m-%d %H:%M") if record.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The key's name.")]
) -> None:
    """Revoke the active key of that name: it stops working at the next request."""
    store = open_configured(settings_of(ctx))
    try:
        record = store.revoke_key(name, actor=cli_actor())
    except StoreError as error:
        err.print(f"[red]cannot revoke:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_REJECTED) from error
    finally:
        store.dispose()
    out.print(f"revoked {record.role} key {record.name!r}")

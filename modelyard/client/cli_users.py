"""``modelyard users ...``, ``modelyard users keys ...`` and ``modelyard audit``: the Users, API keys and
audit log APIs from the command line, with the connection settings of ``modelyard models`` (flags, then
``MODELYARD_*``, then ``FIREWORKS_*``, then the ``modelyard login`` profile).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from modelyard.client.http import ModelyardClient, _segment
from modelyard.client.options import (
    ConnectionFlags,
    api_client,
    connection_settings,
    option_groups,
    remember_connection,
)
from modelyard.client.output import (
    ListOutput,
    ModelOutput,
    UsageProblem,
    console,
    errors,
    json_text,
    write,
)

NO_FLAGS = ConnectionFlags()  # the default of a ``conn`` parameter (option_groups fills it in)

users_app = typer.Typer(
    name="users",
    help="List, get, create, update and delete the users of an account, and their API keys (admins manage "
    "everyone; anyone manages their own keys).",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="A user's API keys, through the API.", no_args_is_help=True)
users_app.add_typer(keys_app, name="keys")

OutputOpt = Annotated[ModelOutput, typer.Option("--output", "-o", help="Output format.")]
ListOutputOpt = Annotated[ListOutput, typer.Option("--output", "-o", help="Output format.")]


@users_app.callback()
@option_groups
def _users_callback(ctx: typer.Context, conn: ConnectionFlags = NO_FLAGS) -> None:
    """Call the Users API of a modelyard (or Fireworks-compatible) server."""
    remember_connection(ctx, conn)


def _users(account: str) -> str:
    return f"/v1/accounts/{_segment(account)}/users"


def _pages(
    client: ModelyardClient, path: str, items: str, query: dict[str, Any], all_pages: bool
) -> Iterator[dict[str, Any]]:
    """Each page of a List (every page with ``all_pages``)."""
    while True:
        page = client._request("GET", path, params=query)
        yield page
        token = page.get("nextPageToken")
        if not all_pages or not token:
            return
        query = {**query, "pageToken": token}


def _print_list(
    pages: Iterator[dict[str, Any]], items: str, columns: list[tuple[str, str]], output: ListOutput
) -> None:
    rows: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for page in pages:
        last = page
        got = [r for r in page.get(items) or [] if isinstance(r, dict)]
        if output is ListOutput.jsonl:
            for r in got:
                write(json_text(r, indent=None) + "\n")
        rows += got
    if output is ListOutput.jsonl:
        return
    if output is ListOutput.json:
        write(
            json_text(
                {items: rows, **({"nextPageToken": last["nextPageToken"]} if "nextPageToken" in last else {})}
            )
        )
        write("\n")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for title, _ in columns:
        table.add_column(title)
    for r in rows:
        table.add_row(*(str(r.get(key, "")) for _, key in columns))
    out = console()
    out.print(table)
    out.print(f"{len(rows)} {items}", soft_wrap=True)
    if last.get("nextPageToken"):
        out.print(f"more: --page-token {last['nextPageToken']}  (or --all)", soft_wrap=True)


def _print_one(resource: dict[str, Any], output: ModelOutput) -> None:
    if output is ModelOutput.json:
        write(json_text(resource) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in resource.items():
        table.add_row(key, str(value))
    console().print(table)


_USER_COLUMNS = [("USER", "name"), ("ROLE", "role"), ("DISPLAY NAME", "displayName"), ("EMAIL", "email")]


@users_app.command("list")
@option_groups
def users_list(
    ctx: typer.Context,
    filter: Annotated[str | None, typer.Option("--filter", help="AIP-160 filter, e.g. 'role=admin'.")] = None,
    order_by: Annotated[str | None, typer.Option(help="e.g. 'create_time desc'.")] = None,
    page_size: Annotated[int | None, typer.Option(min=1, help="Users per page (default 50).")] = None,
    page_token: Annotated[str | None, typer.Option(help="An earlier page's nextPageToken.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page.")] = False,
    output: ListOutputOpt = ListOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """List the users of the account (admins only)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        query = {"filter": filter, "orderBy": order_by, "pageSize": page_size, "pageToken": page_token}
        with api_client(settings) as client:
            pages = _pages(client, _users(settings.require_account()), "users", query, all_pages)
            _print_list(pages, "users", _USER_COLUMNS, output)


@users_app.command("get")
@option_groups
def users_get(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    output: OutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Show one user."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        with api_client(settings) as client:
            found = client._request("GET", f"{_users(settings.require_account())}/{_segment(user)}")
        _print_one(found, output)


def _user_body(
    role: str | None, display_name: str | None, email: str | None, service_account: bool | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"role": role, "displayName": display_name, "email": email}
    body["serviceAccount"] = service_account
    return {k: v for k, v in body.items() if v is not None}


@users_app.command("create")
@option_groups
def users_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The new user's id (a-z, 0-9, '-').")],
    role: Annotated[str, typer.Option(help="admin, user, contributor or inference-user.")],
    display_name: Annotated[str | None, typer.Option(help="e.g. 'Alice'.")] = None,
    email: Annotated[str | None, typer.Option(help="The user's email.")] = None,
    service_account: Annotated[bool, typer.Option(help="A service account, not a person.")] = False,
    output: OutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Create a user (admins only)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        body = _user_body(role, display_name, email, service_account or None)
        with api_client(settings) as client:
            created = client._request(
                "POST", _users(settings.require_account()), params={"userId": user}, body=body
            )
        sys.stderr.write(f"created {created.get('name', user)} (role {created.get('role', role)})\n")
        _print_one(created, output)


@users_app.command("update")
@option_groups
def users_update(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    role: Annotated[str | None, typer.Option(help="admin, user, contributor or inference-user.")] = None,
    display_name: Annotated[str | None, typer.Option(help="e.g. 'Alice'.")] = None,
    email: Annotated[str | None, typer.Option(help="The user's email.")] = None,
    output: OutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Change a user's role, display name or email (only the fields given change)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        body = _user_body(role, display_name, email, None)
        if not body:
            raise UsageProblem("nothing to change: pass --role, --display-name or --email")
        with api_client(settings) as client:
            path = f"{_users(settings.require_account())}/{_segment(user)}"
            updated = client._request("PATCH", path, body=body)
        _print_one(updated, output)


@users_app.command("delete")
@option_groups
def users_delete(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Remove a user and their API keys (admins only; never the last admin)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct = settings.require_account()
        if not yes:
            if not sys.stdin.isatty():
                raise UsageProblem(f"not deleting user {user}: stdin is not a terminal, so pass --yes")
            if not typer.confirm(f"Delete user accounts/{acct}/users/{user} and their keys?", default=False):
                raise typer.Exit(1)
        with api_client(settings) as client:
            client._request("DELETE", f"{_users(acct)}/{_segment(user)}")
        write(f"deleted accounts/{acct}/users/{user}\n")


def _keys(account: str, user: str) -> str:
    return f"{_users(account)}/{_segment(user)}/apiKeys"


@keys_app.command("create")
@option_groups
def user_keys_create(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    display_name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    expire_time: Annotated[str | None, typer.Option(help="RFC 3339, e.g. 2027-01-01T00:00:00Z.")] = None,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Create an API key for USER; the key is printed on the last line, once."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        spec = {k: v for k, v in {"displayName": display_name, "expireTime": expire_time}.items() if v}
        with api_client(settings) as client:
            created = client._request("POST", _keys(settings.require_account(), user), body={"apiKey": spec})
        sys.stderr.write(f"Created API key {created.get('keyId')}; it is shown once.\n")
        write(f"{created.get('key')}\n")


@keys_app.command("list")
@option_groups
def user_keys_list(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    output: ListOutputOpt = ListOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """List USER's API keys (never their secrets)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        columns = [
            ("KEY ID", "keyId"),
            ("DISPLAY NAME", "displayName"),
            ("PREFIX", "prefix"),
            ("CREATED", "createTime"),
            ("EXPIRES", "expireTime"),
        ]
        with api_client(settings) as client:
            pages = _pages(client, _keys(settings.require_account(), user), "apiKeys", {}, True)
            _print_list(pages, "apiKeys", columns, output)


@keys_app.command("delete")
@option_groups
def user_keys_delete(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user id.")],
    key_id: Annotated[str, typer.Argument(help="The key id.")],
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Delete one of USER's API keys (every server refuses it within 5 seconds)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        with api_client(settings) as client:
            client._request(
                "POST", _keys(settings.require_account(), user) + ":delete", body={"keyId": key_id}
            )
        write(f"deleted API key {key_id}\n")


@option_groups
def audit_command(
    ctx: typer.Context,
    start_time: Annotated[str | None, typer.Option(help="Entries at or after (RFC 3339).")] = None,
    end_time: Annotated[str | None, typer.Option(help="Entries before (RFC 3339).")] = None,
    page_size: Annotated[int | None, typer.Option(min=1, help="Entries per page (default 50).")] = None,
    page_token: Annotated[str | None, typer.Option(help="An earlier page's nextPageToken.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page.")] = False,
    output: ListOutputOpt = ListOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Print the account's audit log, newest first (admins only; through the API)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        query = {"startTime": start_time, "endTime": end_time, "pageSize": page_size, "pageToken": page_token}
        columns = [
            ("TIME", "timestamp"),
            ("PRINCIPAL", "principal"),
            ("KEY", "apiKeyId"),
            ("METHOD", "method"),
            ("RESOURCE", "resource"),
            ("CODE", "responseCode"),
            ("MESSAGE", "message"),
        ]
        path = f"/v1/accounts/{_segment(settings.require_account())}/auditLogs"
        with api_client(settings) as client:
            _print_list(_pages(client, path, "auditLogs", query, all_pages), "auditLogs", columns, output)

"""``modelyard keys create|list|revoke``: bootstrap and operate API keys on the database directly.

These work without a running server (and without a key): they are how the first admin key of an account
is made, and how an operator lists or revokes keys. Every write is recorded in the audit log, in the same
transaction, with the principal ``local:<operating-system user>``.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from modelyard.aip.timestamps import format_rfc3339, parse_rfc3339
from modelyard.cli_console import console
from modelyard.cli_support import DbOption, database_label
from modelyard.resources.codec import ResourceError, check_id
from modelyard.resources.identity import user_name

# The database stack (modelyard.store) is imported inside the commands: 'modelyard models ...' and the
# other API client commands load this module too and need none of it.

keys_app = typer.Typer(
    help="Create (bootstrapping the account and an admin user), list and revoke API keys, on the database "
    "directly.",
    no_args_is_help=True,
)

err = console(stderr=True, highlight=False)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _check(value: str, what: str) -> None:
    try:
        check_id(value, what)
    except ResourceError as e:
        raise _fail(e.message) from None


def _local_principal() -> str:
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "local"


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option("--account", "-a", help="The account id.")],
    user: Annotated[
        str,
        typer.Option("--user", "-u", help="The user the key belongs to (created as an admin if missing)."),
    ] = "admin",
    db: DbOption = None,
    display_name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    email: Annotated[str, typer.Option(help="The user's email, when the user is created.")] = "",
    expire_time: Annotated[
        str, typer.Option(help="When the key stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z).")
    ] = "",
) -> None:
    """Create an API key for USER of ACCOUNT, creating the account and the user (as an admin) if
    needed. The key is printed on the last line, once."""
    from modelyard.cli_support import open_store
    from modelyard.store import audit

    _check(account, "account id")
    _check(user, "user id")
    expire = 0
    if expire_time:
        expire = parse_rfc3339(expire_time) or 0
        if not expire:
            raise _fail(f"--expire-time {expire_time!r} is not an RFC 3339 timestamp")
    store = open_store(db)
    ctx = audit.AuditContext(account, "CreateApiKey", user_name(account, user), principal=_local_principal())
    token = audit.current.set(ctx)
    try:
        values, key, created = store.users.bootstrap_key(
            account, user_id=user, display_name=display_name, email=email, expire_time=expire
        )
    finally:
        audit.current.reset(token)
    where = database_label(store)
    if created:
        err.print(f"Created user {user_name(account, user)} with role admin.")
    err.print(
        f"Created API key {values['key_id']} for {user_name(account, user)} in the database {where} "
        "(a server on another database does not know it). It is shown once; store it safely.",
        soft_wrap=True,
    )
    print(key)


@keys_app.command("list")
def keys_list(
    account: Annotated[
        str | None, typer.Option("--account", "-a", help="Only this account's keys (default: all).")
    ] = None,
    db: DbOption = None,
) -> None:
    """List API keys (never their secrets): id, owner, label, prefix, creation and expiry."""
    from modelyard.cli_support import open_store

    store = open_store(db)
    rows = store.list_keys(account)
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("KEY ID", "ACCOUNT", "USER", "DISPLAY NAME", "PREFIX", "CREATED", "EXPIRES"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.key_id,
            r.account_id,
            r.user_id,
            r.display_name,
            r.prefix,
            format_rfc3339(int(r.create_time)),
            format_rfc3339(int(r.expire_time)) if r.expire_time else "never",
        )
    console(highlight=False).print(table)
    err.print(f"{len(rows)} keys in the database {database_label(store)}", soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (see 'modelyard keys list').")],
    db: DbOption = None,
) -> None:
    """Delete an API key. Every server refuses it within 5 seconds."""
    from modelyard.cli_support import open_store
    from modelyard.store import audit

    store = open_store(db)
    owner = next((r for r in store.list_keys(None) if r.key_id == key_id), None)
    if owner is None:
        raise _fail(f"no API key with id {key_id!r}", 1)
    resource = f"{user_name(owner.account_id, owner.user_id)}/apiKeys/{key_id}"
    ctx = audit.AuditContext(owner.account_id, "DeleteApiKey", resource, principal=_local_principal())
    token = audit.current.set(ctx)
    try:
        deleted = store.users.delete_key(key_id, account_id=None, user_id=None)
    finally:
        audit.current.reset(token)
    if not deleted:
        raise _fail(f"no API key with id {key_id!r}", 1)
    err.print(
        f"Revoked API key {key_id} of {user_name(owner.account_id, owner.user_id)} in the database "
        f"{database_label(store)}.",
        soft_wrap=True,
    )

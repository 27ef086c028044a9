"""``modelyard models ...``: list, get, create, update, delete and config against the Models API of a
modelyard (or Fireworks-compatible) server. Options are declared in ``client/options.py``, output and
errors in ``client/output.py``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from modelyard.client.config import Settings
from modelyard.client.options import (
    ConnectionFlags,
    ModelFieldFlags,
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
    models_table,
    print_model,
    write,
)
from modelyard.resources.model import model_name, parse_model_name

NO_FLAGS = ConnectionFlags()  # the default of a ``conn`` parameter (option_groups fills it in)

models_app = typer.Typer(
    name="models",
    help=(
        "List, get, create, update and delete models, and upload and download their files, on a modelyard "
        "(or Fireworks-compatible) server.\n\n"
        "Settings come from flags, then MODELYARD_* variables, then FIREWORKS_* variables, then the "
        "profile saved by 'modelyard login' (see 'modelyard models config')."
    ),
    no_args_is_help=True,
    add_completion=False,
)


@models_app.callback()
@option_groups
def _models_callback(
    ctx: typer.Context,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Call the Models API of a modelyard (or Fireworks-compatible) server."""
    remember_connection(ctx, conn)


# -- model references and JSON input ------------------------------------------------------------------


def _split_name(ref: str) -> tuple[str | None, str]:
    """``accounts/A/models/M`` -> ``("A", "M")``; ``M`` -> ``(None, "M")``."""
    if ref.startswith("accounts/"):
        parsed = parse_model_name(ref)
        if parsed is not None and all(parsed):
            return parsed
    elif ref and "/" not in ref:
        return None, ref
    raise UsageProblem(f"invalid model {ref!r}: expected MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID")


def _model_ref(ref: str, settings: Settings) -> tuple[str, str]:
    """MODEL as ``my-model`` (in the configured account) or ``accounts/ACCOUNT/models/my-model`` (like
    firectl, the full name wins over the configured account)."""
    account, model_id = _split_name(ref)
    return account or settings.require_account(), model_id


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camel_keys(obj: Any) -> Any:
    """snake_case keys -> lowerCamelCase, recursively (map-valued fields keep their keys)."""
    if isinstance(obj, dict):
        return {
            _camel(k): (v if _camel(k) == "defaultSamplingParams" else _camel_keys(v)) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_camel_keys(v) for v in obj]
    return obj


def _read_json(source: str) -> dict[str, Any]:
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise UsageProblem(f"--from-json: cannot read {source}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        where = "stdin" if source == "-" else source
        raise UsageProblem(f"--from-json: {where} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UsageProblem("--from-json: expected a JSON object (a Model)")
    return dict(_camel_keys(data))


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def expand_base_model(model: dict[str, Any], account: str) -> dict[str, Any]:
    """``--base-model my-qwen`` (a bare id) names a model of the same account, as ``models upload`` reads
    it: ``peftDetails.baseModel`` becomes ``accounts/ACCOUNT/models/my-qwen``."""
    peft = model.get("peftDetails")
    base = peft.get("baseModel") if isinstance(peft, dict) else None
    if isinstance(peft, dict) and isinstance(base, str) and base and "/" not in base:
        return {**model, "peftDetails": {**peft, "baseModel": model_name(account, base)}}
    return model


def changed_only(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``wanted`` (flags) that differs from ``current`` (the model): a re-run that changes
    nothing sends no update (so it leaves no audit entry and no new updateTime)."""
    out: dict[str, Any] = {}
    for key, value in wanted.items():
        have = current.get(key)
        if isinstance(value, dict) and value and isinstance(have, dict):
            inner = changed_only(value, have)
            if inner:
                out[key] = inner
        elif value != have:
            out[key] = value
    return out


def _leaf_paths(obj: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


FromJsonOpt = Annotated[
    str | None,
    typer.Option(
        "--from-json",
        metavar="FILE",
        help="Read the Model JSON from FILE ('-' for stdin); flags override it.",
    ),
]
ModelOutputOpt = Annotated[ModelOutput, typer.Option("--output", "-o", help="Output format.")]


@models_app.command("list")
@option_groups
def list_(
    ctx: typer.Context,
    filter: Annotated[
        str | None, typer.Option("--filter", help="AIP-160 filter, e.g. 'supports_serverless=true'.")
    ] = None,
    order_by: Annotated[str | None, typer.Option(help="e.g. 'create_time desc, name'.")] = None,
    page_size: Annotated[
        int | None, typer.Option(min=1, help="Models per page (server default 50, at most 200).")
    ] = None,
    page_token: Annotated[
        str | None, typer.Option(help="Continue from an earlier page's nextPageToken.")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Follow nextPageToken through every page.")
    ] = False,
    read_mask: Annotated[str | None, typer.Option(help="Fields to return, e.g. 'name,display_name'.")] = None,
    output: Annotated[ListOutput, typer.Option("--output", "-o", help="Output format.")] = ListOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """List the models of an account (one page, or every page with --all).

    Use account '-' for every model the key can see.
    """
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct = settings.require_account()
        query: dict[str, Any] = {
            "filter": filter,
            "order_by": order_by,
            "page_size": page_size,
            "page_token": page_token,
            "read_mask": read_mask,
        }
        with api_client(settings) as client:
            if all_pages:
                query["page_size"] = page_size or 200
                if output is ListOutput.jsonl:
                    for model in client.iter_models(acct, **query):
                        write(json_text(model, indent=None) + "\n")
                    return
                models = list(client.iter_models(acct, **query))
                if output is ListOutput.json:
                    write(json_text(models) + "\n")
                    return
                out = console()
                out.print(models_table(models, acct))
                out.print(f"{len(models)} models", soft_wrap=True)
                return
            page = client.list_models(acct, **query)
        models = [m for m in page.get("models") or [] if isinstance(m, dict)]
        if output is ListOutput.json:
            write(json_text(page) + "\n")
            return
        if output is ListOutput.jsonl:
            for model in models:
                write(json_text(model, indent=None) + "\n")
            return
        out = console()
        out.print(models_table(models, acct))
        total = page.get("totalSize")
        footer = f"{len(models)} of {total} models" if isinstance(total, int) else f"{len(models)} models"
        out.print(footer, soft_wrap=True)
        token = page.get("nextPageToken")
        if token:
            out.print(f"more: --page-token {token}  (or --all)", soft_wrap=True)


@models_app.command("get")
@option_groups
def get(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    read_mask: Annotated[
        str | None, typer.Option(help="Fields to return, e.g. 'name,context_length'.")
    ] = None,
    output: ModelOutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Show one model."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        with api_client(settings) as client:
            found = client.get_model(acct, model_id, read_mask=read_mask)
        print_model(found, output)


@models_app.command("create")
@option_groups
def create(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The new model's id (e.g. my-model), or its full name.")],
    fields: ModelFieldFlags,
    cluster: Annotated[str | None, typer.Option(help="BYOC cluster (accounts/A/clusters/C).")] = None,
    from_json: FromJsonOpt = None,
    output: ModelOutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Create a model in the account. Without --kind: HF_BASE_MODEL, or HF_PEFT_ADDON with --base-model."""
    with errors() as run:
        flags = fields.model_fields()
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model_id, settings)
        flags = expand_base_model(flags, acct)
        model: dict[str, Any] = {}
        if from_json is not None:
            model = _read_json(from_json)
            if (
                "model" in model
                and isinstance(model["model"], dict)
                and set(model) <= {"modelId", "model", "cluster"}
            ):
                # a whole CreateModel request body
                cluster = cluster or model.get("cluster") or None
                model = model["model"]
        model = _deep_merge(model, flags)
        if not model.get("kind"):
            model["kind"] = "HF_PEFT_ADDON" if "peftDetails" in model else "HF_BASE_MODEL"
        if model["kind"] == "HF_BASE_MODEL" and "baseModelDetails" not in model:
            model["baseModelDetails"] = {}
        with api_client(settings) as client:
            created = client.create_model(acct, model_id, model, cluster=cluster)
        sys.stderr.write(f"created {created.get('name', model_id)}\n")
        print_model(created, output)


@models_app.command("update")
@option_groups
def update(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    fields: ModelFieldFlags,
    update_mask: Annotated[
        str | None,
        typer.Option(
            help="Fields to change, e.g. 'display_name,description'; masked fields missing from the "
            "body are cleared. Default: exactly the fields given."
        ),
    ] = None,
    from_json: FromJsonOpt = None,
    output: ModelOutputOpt = ModelOutput.table,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Change fields of a model. Only the fields given are sent (PATCH)."""
    with errors() as run:
        flags = fields.model_fields()
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        flags = expand_base_model(flags, acct)
        sent = _deep_merge(_read_json(from_json), flags) if from_json is not None else flags
        if not sent and update_mask is None:
            raise UsageProblem(
                "nothing to update: give field flags (see --help), --from-json or --update-mask"
            )
        if (
            update_mask is None
            and from_json is None
            and any(k in sent for k in ("baseModelDetails", "peftDetails"))
        ):
            # a nested flag (e.g. --lora-rank) changes that subfield only, not the whole message
            update_mask = ",".join(_leaf_paths(sent))
        with api_client(settings) as client:
            if update_mask is None or (from_json is None and update_mask == ",".join(_leaf_paths(sent))):
                # only the fields given: when they hold these values already, a re-run sends nothing
                current = client.get_model(acct, model_id)
                if not changed_only(sent, current):
                    sys.stderr.write(f"unchanged {current.get('name', model_id)}: it holds these values\n")
                    print_model(current, output)
                    return
            updated = client.update_model(acct, model_id, sent, update_mask=update_mask)
        sys.stderr.write(f"updated {updated.get('name', model_id)}\n")
        print_model(updated, output)


@models_app.command("delete")
@option_groups
def delete(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    conn: ConnectionFlags = NO_FLAGS,
) -> None:
    """Delete a model (asks first, unless --yes)."""
    with errors() as run:
        settings = run.settings = connection_settings(ctx, conn)
        acct, model_id = _model_ref(model, settings)
        name = model_name(acct, model_id)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageProblem(f"not deleting {name}: stdin is not a terminal, so pass --yes to confirm")
            if not typer.confirm(f"Delete model {name}?", default=False):
                sys.stderr.write("not deleted\n")
                raise typer.Exit(1)
        with api_client(settings) as client:
            client.delete_model(acct, model_id)
        write(f"deleted {name}\n")


def _mask(key: str | None) -> str:
    if not key:
        return ""
    return f"{key[:6]}...{key[-4:]}" if len(key) > 16 else "***"


@models_app.command("config")
@option_groups
def show_config(
    ctx: typer.Context,
    conn: ConnectionFlags = NO_FLAGS,
    output: ModelOutputOpt = ModelOutput.table,
) -> None:
    """Show the connection settings in effect and where each one comes from (the key is masked)."""
    with errors():
        settings = connection_settings(ctx, conn)
        if output is ModelOutput.json:
            shown = {
                "base_url": {"value": settings.base_url_value, "source": settings.base_url.source},
                "api_key": {"value": _mask(settings.api_key.value), "source": settings.api_key.source},
                "account": {"value": settings.account.value, "source": settings.account.source},
                "profile": settings.profile,
                "config_path": str(settings.config_path),
            }
            write(json_text(shown) + "\n")
            return
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("SETTING", "VALUE", "FROM"):
            table.add_column(column, overflow="fold")
        table.add_row("base_url", settings.base_url_value, settings.base_url.source)
        table.add_row("api_key", _mask(settings.api_key.value), settings.api_key.source)
        table.add_row("account", settings.account.value or "", settings.account.source)
        out = console()
        out.print(table)
        out.print(f"profile {settings.profile!r} in {settings.config_path}", soft_wrap=True)

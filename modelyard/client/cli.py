"""``modelyard models ...`` and ``modelyard login``: a command-line client for the Models API.

Works against any server speaking the Fireworks Gateway REST Models API (modelyard or Fireworks itself).
Expected failures print one ``error: ...`` line on stderr: exit status 1 for API and connection errors,
2 for usage and configuration errors.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from modelyard.client.config import (
    DEFAULT_BASE_URL,
    ConfigError,
    Settings,
    resolve,
    write_profile,
)
from modelyard.client.http import ApiConnectionError, ApiError, ModelyardClient
from modelyard.resources.model import KIND, model_name, parse_model_name

models_app = typer.Typer(
    name="models",
    help=(
        "List, get, create, update and delete models on a modelyard (or Fireworks-compatible) server.\n\n"
        "Settings come from flags, then MODELYARD_* variables, then FIREWORKS_* variables, then the "
        "profile saved by 'modelyard login' (see 'modelyard models config')."
    ),
    no_args_is_help=True,
    add_completion=False,
)

_META_KEY = "modelyard.client.connection"


class UsageProblem(Exception):
    """A bad argument found by the client itself (exit status 2)."""


class ListOutput(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"


class ModelOutput(StrEnum):
    table = "table"
    json = "json"


KINDS: tuple[str, ...] = KIND.values  # the Model kind enum, declaration order


# -- connection options (accepted before the command and after it) ----------------------------------------

_CONN = "Connection"
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help=f"Server URL (env MODELYARD_BASE_URL, FIREWORKS_BASE_URL; default {DEFAULT_BASE_URL}).",
        rich_help_panel=_CONN,
        show_default=False,
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="API key (env MODELYARD_API_KEY, FIREWORKS_API_KEY).",
        rich_help_panel=_CONN,
        show_default=False,
    ),
]
AccountOpt = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        help="Account id (env MODELYARD_ACCOUNT, FIREWORKS_ACCOUNT_ID).",
        rich_help_panel=_CONN,
        show_default=False,
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile saved by 'modelyard login' (env MODELYARD_PROFILE; default 'default').",
        rich_help_panel=_CONN,
        show_default=False,
    ),
]


@models_app.callback()
def _models_callback(
    ctx: typer.Context,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Call the Models API of a modelyard (or Fireworks-compatible) server."""
    ctx.meta[_META_KEY] = {"base_url": base_url, "api_key": api_key, "account": account, "profile": profile}


def _settings(
    ctx: typer.Context, base_url: str | None, api_key: str | None, account: str | None, profile: str | None
) -> Settings:
    group: Mapping[str, str | None] = ctx.meta.get(_META_KEY, {})
    return resolve(
        base_url=base_url or group.get("base_url"),
        api_key=api_key or group.get("api_key"),
        account=account or group.get("account"),
        profile=profile or group.get("profile"),
    )


def _client(settings: Settings) -> ModelyardClient:
    return ModelyardClient(settings.base_url_value, settings.require_api_key())


# -- output helpers ---------------------------------------------------------------------------------------


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(highlight=False, soft_wrap=False, width=200)
    return console


def _write(text: str) -> None:
    sys.stdout.write(text)


def _json(obj: Any, *, indent: int | None = 2) -> str:
    if indent is None:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(obj, ensure_ascii=False, indent=indent)


def _fail(message: str, code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


def _api_hint(e: ApiError, settings: Settings | None) -> str:
    if settings is None:
        return ""
    if isinstance(e, ApiConnectionError):
        if settings.base_url.source == "built-in default":
            return " (default base URL; is 'modelyard serve' running? else pass --base-url)"
        return f" (base URL from {settings.base_url.source})"
    if e.code == "UNAUTHENTICATED":
        return f" (API key from {settings.api_key.source})"
    return ""


class _Run:
    """Holds the resolved settings so that error lines can say where a setting came from."""

    settings: Settings | None = None


@contextmanager
def _errors() -> Iterator[_Run]:
    run = _Run()
    try:
        yield run
    except ApiError as e:
        _fail(f"{e}{_api_hint(e, run.settings)}", 1)
    except (ConfigError, UsageProblem) as e:
        _fail(str(e), 2)
    except BrokenPipeError:
        # the reader went away (e.g. '| head'); silence the final flush
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise typer.Exit(130) from None


def human_count(raw: Any) -> str:
    """``"8030000000"`` -> ``"8.0B"``."""
    try:
        n = int(raw)
    except (TypeError, ValueError):
        return "" if raw is None else str(raw)
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)


_COUNT = re.compile(r"(\d+(?:\.\d+)?)([kmbt]?)", re.IGNORECASE)
_SCALES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "t": 10**12}


def parse_count(text: str) -> str:
    """``"8B"``, ``"8.03b"``, ``"7_000_000"`` -> the int64 string the API wants."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    m = _COUNT.fullmatch(cleaned)
    if not m:
        raise UsageProblem(
            f"--parameter-count: {text!r} is not a count (examples: 8030000000, 8B, 70.6B, 350M)"
        )
    try:
        value = Decimal(m.group(1)) * _SCALES[m.group(2).lower()]
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise UsageProblem(f"--parameter-count: {text!r} is not a number") from None
    return str(int(value))


def _flag(value: Any) -> str:
    return "yes" if value is True else ""


def _short_name(name: str, account: str) -> str:
    prefix = f"accounts/{account}/models/"
    return name[len(prefix) :] if name.startswith(prefix) else name


def _models_table(models: list[dict[str, Any]], account: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("ID", overflow="fold")
    table.add_column("DISPLAY NAME", overflow="fold")
    table.add_column("KIND")
    table.add_column("STATE")
    table.add_column("PARAMS", justify="right")
    table.add_column("CONTEXT", justify="right")
    table.add_column("PUBLIC")
    table.add_column("SERVERLESS")
    for m in models:
        details = m.get("baseModelDetails") or {}
        context = m.get("contextLength")
        table.add_row(
            _short_name(str(m.get("name", "")), account),
            str(m.get("displayName", "")),
            str(m.get("kind", "")),
            str(m.get("state", "")),
            human_count(details.get("parameterCount")) if isinstance(details, dict) else "",
            str(context) if context else "",
            _flag(m.get("public")),
            _flag(m.get("supportsServerless")),
        )
    return table


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "defaultSamplingParams":
            yield from _flatten(value, path + ".")
        elif isinstance(value, bool):
            yield path, "true" if value else "false"
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            yield path, ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            yield path, _json(value, indent=None)
        elif key == "parameterCount":
            yield path, f"{value} ({human_count(value)})"
        else:
            yield path, str(value)


def _print_model(model: dict[str, Any], output: ModelOutput) -> None:
    if output is ModelOutput.json:
        _write(_json(model) + "\n")
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in _flatten(model):
        table.add_row(key, value)
    _console().print(table)


# -- model references and field flags -------------------------------------------------------------------


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


def _leaf_paths(obj: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


_F = "Model fields"
DisplayNameOpt = Annotated[str | None, typer.Option(help="Display name.", rich_help_panel=_F)]
DescriptionOpt = Annotated[str | None, typer.Option(help="Description.", rich_help_panel=_F)]
KindOpt = Annotated[
    str | None,
    typer.Option(
        metavar="KIND",
        show_default=False,
        rich_help_panel=_F,
        help="Model kind: HF_BASE_MODEL (the create default), HF_PEFT_ADDON (the default with --base-model), "
        "HF_TEFT_ADDON, FLUMINA_BASE_MODEL, FLUMINA_ADDON, DRAFT_ADDON, FIRE_AGENT, LIVE_MERGE, "
        "CUSTOM_MODEL, EMBEDDING_MODEL, SNAPSHOT_MODEL.",
    ),
]
ParameterCountOpt = Annotated[
    str | None,
    typer.Option(help="baseModelDetails.parameterCount, e.g. 8030000000 or 8B.", rich_help_panel=_F),
]
MoeOpt = Annotated[
    bool | None,
    typer.Option("--moe/--no-moe", help="baseModelDetails.moe.", rich_help_panel=_F, show_default=False),
]
ModelTypeOpt = Annotated[
    str | None, typer.Option(help="baseModelDetails.modelType, e.g. llama.", rich_help_panel=_F)
]
ContextLengthOpt = Annotated[
    int | None, typer.Option(min=0, help="Maximum context length.", rich_help_panel=_F)
]
PublicOpt = Annotated[
    bool | None,
    typer.Option(
        "--public/--no-public", help="Readable by every account.", rich_help_panel=_F, show_default=False
    ),
]
ToolsOpt = Annotated[
    bool | None,
    typer.Option(
        "--supports-tools/--no-supports-tools",
        help="Function calling.",
        rich_help_panel=_F,
        show_default=False,
    ),
]
ImageOpt = Annotated[
    bool | None,
    typer.Option(
        "--supports-image-input/--no-supports-image-input",
        help="Image input.",
        rich_help_panel=_F,
        show_default=False,
    ),
]
HfUrlOpt = Annotated[str | None, typer.Option(help="Hugging Face URL.", rich_help_panel=_F)]
GithubUrlOpt = Annotated[str | None, typer.Option(help="GitHub URL.", rich_help_panel=_F)]
BaseModelOpt = Annotated[
    str | None,
    typer.Option(
        help="peftDetails.baseModel: makes an HF_PEFT_ADDON (LoRA) of this model.", rich_help_panel=_F
    ),
]
LoraRankOpt = Annotated[int | None, typer.Option(help="peftDetails.r (4 to 64).", rich_help_panel=_F)]
TargetModulesOpt = Annotated[
    list[str] | None,
    typer.Option(help="peftDetails.targetModules (comma-separated or repeated).", rich_help_panel=_F),
]
DraftModelOpt = Annotated[
    str | None, typer.Option(help="Default speculative-decoding draft model.", rich_help_panel=_F)
]
DraftCountOpt = Annotated[
    int | None, typer.Option(min=0, help="Default draft token count.", rich_help_panel=_F)
]
FromJsonOpt = Annotated[
    str | None,
    typer.Option(
        "--from-json",
        metavar="FILE",
        help="Read the Model JSON from FILE ('-' for stdin); flags override it.",
    ),
]
ModelOutputOpt = Annotated[ModelOutput, typer.Option("--output", "-o", help="Output format.")]


def _kind(value: str | None) -> str | None:
    if value is None:
        return None
    kind = value.strip().upper().replace("-", "_")
    if kind not in KINDS:
        raise UsageProblem(f"--kind: unknown kind {value!r}; expected one of {', '.join(KINDS[1:])}")
    return kind


FIELD_FLAGS = frozenset(
    {
        "display_name", "description", "kind", "parameter_count", "moe", "model_type", "context_length",
        "public", "supports_tools", "supports_image_input", "hugging_face_url", "github_url", "base_model",
        "lora_rank", "target_modules", "default_draft_model", "default_draft_token_count",
    }
)  # fmt: skip


def _field_flags(
    *,
    display_name: str | None,
    description: str | None,
    kind: str | None,
    parameter_count: str | None,
    moe: bool | None,
    model_type: str | None,
    context_length: int | None,
    public: bool | None,
    supports_tools: bool | None,
    supports_image_input: bool | None,
    hugging_face_url: str | None,
    github_url: str | None,
    base_model: str | None,
    lora_rank: int | None,
    target_modules: list[str] | None,
    default_draft_model: str | None,
    default_draft_token_count: int | None,
) -> dict[str, Any]:
    """The Model fields given as flags (only those given)."""
    fields: dict[str, Any] = {}
    scalars = {
        "displayName": display_name,
        "description": description,
        "kind": _kind(kind),
        "contextLength": context_length,
        "public": public,
        "supportsTools": supports_tools,
        "supportsImageInput": supports_image_input,
        "huggingFaceUrl": hugging_face_url,
        "githubUrl": github_url,
        "defaultDraftModel": default_draft_model,
        "defaultDraftTokenCount": default_draft_token_count,
    }
    fields.update({k: v for k, v in scalars.items() if v is not None})
    base: dict[str, Any] = {}
    if parameter_count is not None:
        base["parameterCount"] = parse_count(parameter_count)
    if moe is not None:
        base["moe"] = moe
    if model_type is not None:
        base["modelType"] = model_type
    if base:
        fields["baseModelDetails"] = base
    peft: dict[str, Any] = {}
    if base_model is not None:
        peft["baseModel"] = base_model
    if lora_rank is not None:
        peft["r"] = lora_rank
    if target_modules is not None:
        peft["targetModules"] = [m.strip() for item in target_modules for m in item.split(",") if m.strip()]
    if peft:
        fields["peftDetails"] = peft
    return fields


# -- commands --------------------------------------------------------------------------------------------


@models_app.command("list")
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
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """List the models of an account (one page, or every page with --all).

    Use account '-' for every model the key can see.
    """
    with _errors() as run:
        settings = run.settings = _settings(ctx, base_url, api_key, account, profile)
        acct = settings.require_account()
        query: dict[str, Any] = {
            "filter": filter,
            "order_by": order_by,
            "page_size": page_size,
            "page_token": page_token,
            "read_mask": read_mask,
        }
        with _client(settings) as client:
            if all_pages:
                query["page_size"] = page_size or 200
                if output is ListOutput.jsonl:
                    for model in client.iter_models(acct, **query):
                        _write(_json(model, indent=None) + "\n")
                    return
                models = list(client.iter_models(acct, **query))
                if output is ListOutput.json:
                    _write(_json(models) + "\n")
                    return
                console = _console()
                console.print(_models_table(models, acct))
                console.print(f"{len(models)} models", soft_wrap=True)
                return
            page = client.list_models(acct, **query)
        models = [m for m in page.get("models") or [] if isinstance(m, dict)]
        if output is ListOutput.json:
            _write(_json(page) + "\n")
            return
        if output is ListOutput.jsonl:
            for model in models:
                _write(_json(model, indent=None) + "\n")
            return
        console = _console()
        console.print(_models_table(models, acct))
        total = page.get("totalSize")
        footer = f"{len(models)} of {total} models" if isinstance(total, int) else f"{len(models)} models"
        console.print(footer, soft_wrap=True)
        token = page.get("nextPageToken")
        if token:
            console.print(f"more: --page-token {token}  (or --all)", soft_wrap=True)


@models_app.command("get")
def get(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    read_mask: Annotated[
        str | None, typer.Option(help="Fields to return, e.g. 'name,context_length'.")
    ] = None,
    output: ModelOutputOpt = ModelOutput.table,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Show one model."""
    with _errors() as run:
        settings = run.settings = _settings(ctx, base_url, api_key, account, profile)
        acct, model_id = _model_ref(model, settings)
        with _client(settings) as client:
            found = client.get_model(acct, model_id, read_mask=read_mask)
        _print_model(found, output)


@models_app.command("create")
def create(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The new model's id (e.g. my-model), or its full name.")],
    display_name: DisplayNameOpt = None,
    description: DescriptionOpt = None,
    kind: KindOpt = None,
    parameter_count: ParameterCountOpt = None,
    moe: MoeOpt = None,
    model_type: ModelTypeOpt = None,
    context_length: ContextLengthOpt = None,
    public: PublicOpt = None,
    supports_tools: ToolsOpt = None,
    supports_image_input: ImageOpt = None,
    hugging_face_url: HfUrlOpt = None,
    github_url: GithubUrlOpt = None,
    base_model: BaseModelOpt = None,
    lora_rank: LoraRankOpt = None,
    target_modules: TargetModulesOpt = None,
    default_draft_model: DraftModelOpt = None,
    default_draft_token_count: DraftCountOpt = None,
    cluster: Annotated[str | None, typer.Option(help="BYOC cluster (accounts/A/clusters/C).")] = None,
    from_json: FromJsonOpt = None,
    output: ModelOutputOpt = ModelOutput.table,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Create a model in the account. Without --kind: HF_BASE_MODEL, or HF_PEFT_ADDON with --base-model."""
    with _errors() as run:
        flags = _field_flags(**{name: value for name, value in locals().items() if name in FIELD_FLAGS})
        settings = run.settings = _settings(ctx, base_url, api_key, account, profile)
        acct, model_id = _model_ref(model_id, settings)
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
        with _client(settings) as client:
            created = client.create_model(acct, model_id, model, cluster=cluster)
        sys.stderr.write(f"created {created.get('name', model_id)}\n")
        _print_model(created, output)


@models_app.command("update")
def update(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    display_name: DisplayNameOpt = None,
    description: DescriptionOpt = None,
    kind: KindOpt = None,
    parameter_count: ParameterCountOpt = None,
    moe: MoeOpt = None,
    model_type: ModelTypeOpt = None,
    context_length: ContextLengthOpt = None,
    public: PublicOpt = None,
    supports_tools: ToolsOpt = None,
    supports_image_input: ImageOpt = None,
    hugging_face_url: HfUrlOpt = None,
    github_url: GithubUrlOpt = None,
    base_model: BaseModelOpt = None,
    lora_rank: LoraRankOpt = None,
    target_modules: TargetModulesOpt = None,
    default_draft_model: DraftModelOpt = None,
    default_draft_token_count: DraftCountOpt = None,
    update_mask: Annotated[
        str | None,
        typer.Option(
            help="Fields to change, e.g. 'display_name,description'; masked fields missing from the "
            "body are cleared. Default: exactly the fields given."
        ),
    ] = None,
    from_json: FromJsonOpt = None,
    output: ModelOutputOpt = ModelOutput.table,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Change fields of a model. Only the fields given are sent (PATCH)."""
    with _errors() as run:
        flags = _field_flags(**{name: value for name, value in locals().items() if name in FIELD_FLAGS})
        settings = run.settings = _settings(ctx, base_url, api_key, account, profile)
        acct, model_id = _model_ref(model, settings)
        fields = _deep_merge(_read_json(from_json), flags) if from_json is not None else flags
        if not fields and update_mask is None:
            raise UsageProblem(
                "nothing to update: give field flags (see --help), --from-json or --update-mask"
            )
        if (
            update_mask is None
            and from_json is None
            and any(k in fields for k in ("baseModelDetails", "peftDetails"))
        ):
            # a nested flag (e.g. --lora-rank) changes that subfield only, not the whole message
            update_mask = ",".join(_leaf_paths(fields))
        with _client(settings) as client:
            updated = client.update_model(acct, model_id, fields, update_mask=update_mask)
        sys.stderr.write(f"updated {updated.get('name', model_id)}\n")
        _print_model(updated, output)


@models_app.command("delete")
def delete(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="MODEL_ID or accounts/ACCOUNT_ID/models/MODEL_ID.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Delete a model (asks first, unless --yes)."""
    with _errors() as run:
        settings = run.settings = _settings(ctx, base_url, api_key, account, profile)
        acct, model_id = _model_ref(model, settings)
        name = model_name(acct, model_id)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageProblem(f"not deleting {name}: stdin is not a terminal, so pass --yes to confirm")
            if not typer.confirm(f"Delete model {name}?", default=False):
                sys.stderr.write("not deleted\n")
                raise typer.Exit(1)
        with _client(settings) as client:
            client.delete_model(acct, model_id)
        _write(f"deleted {name}\n")


def _mask(key: str | None) -> str:
    if not key:
        return ""
    return f"{key[:6]}...{key[-4:]}" if len(key) > 16 else "***"


@models_app.command("config")
def show_config(
    ctx: typer.Context,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    account: AccountOpt = None,
    profile: ProfileOpt = None,
    output: ModelOutputOpt = ModelOutput.table,
) -> None:
    """Show the connection settings in effect and where each one comes from (the key is masked)."""
    with _errors():
        settings = _settings(ctx, base_url, api_key, account, profile)
        if output is ModelOutput.json:
            shown = {
                "base_url": {"value": settings.base_url_value, "source": settings.base_url.source},
                "api_key": {"value": _mask(settings.api_key.value), "source": settings.api_key.source},
                "account": {"value": settings.account.value, "source": settings.account.source},
                "profile": settings.profile,
                "config_path": str(settings.config_path),
            }
            _write(_json(shown) + "\n")
            return
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in ("SETTING", "VALUE", "FROM"):
            table.add_column(column, overflow="fold")
        table.add_row("base_url", settings.base_url_value, settings.base_url.source)
        table.add_row("api_key", _mask(settings.api_key.value), settings.api_key.source)
        table.add_row("account", settings.account.value or "", settings.account.source)
        console = _console()
        console.print(table)
        console.print(f"profile {settings.profile!r} in {settings.config_path}", soft_wrap=True)


# -- login --------------------------------------------------------------------------------------------


def login(
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help=f"Server URL (else from the environment or the profile; default {DEFAULT_BASE_URL}).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key (else from the environment or the profile; prompted for on a terminal).",
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-a",
            help="Account id (else from the environment or the profile; prompted for on a terminal).",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Profile name (env MODELYARD_PROFILE; default 'default').",
            show_default=False,
        ),
    ] = None,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Save without checking the key.")] = False,
) -> None:
    """Save a server URL, API key and account as a profile (mode 0600) for 'modelyard models'.

    Values not given as flags come from MODELYARD_* / FIREWORKS_*, then from the profile's current values.

    The file is $MODELYARD_CONFIG, or profiles.toml in the user config directory.

    Unless --no-verify, the key is checked first by listing one model of the account.
    """
    with _errors() as run:
        settings = run.settings = resolve(
            base_url=base_url, api_key=api_key, account=account, profile=profile, profile_must_exist=False
        )
        path, name = settings.config_path, settings.profile
        url = settings.base_url_value
        key = settings.api_key.value
        acct = settings.account.value
        interactive = sys.stdin.isatty()
        if key is None:
            if not interactive:
                raise ConfigError("no API key: pass --api-key KEY (create one with 'modelyard keys create')")
            key = typer.prompt("API key", hide_input=True).strip()
        if acct is None:
            if not interactive:
                raise ConfigError("no account: pass --account ACCOUNT_ID")
            acct = typer.prompt("Account id").strip()
        if not key or not acct:
            raise ConfigError("the API key and the account must not be empty")
        note = "not verified"
        if not no_verify:
            with ModelyardClient(url, key) as client:
                try:
                    page = client.list_models(acct, page_size=1)
                except ApiError as e:
                    _fail(f"{e}{_api_hint(e, settings)}; nothing saved (--no-verify saves anyway)", 1)
            total = page.get("totalSize")
            note = f"verified: {total} models visible" if isinstance(total, int) else "verified"
        try:
            write_profile(path, name, {"base_url": url, "api_key": key, "account": acct})
        except OSError as e:
            raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None
        sys.stderr.write(f"saved profile {name!r} to {path} (account {acct} at {url}; {note})\n")


__all__ = ["human_count", "login", "models_app", "parse_count"]

"""The client CLI's options, each declared once: the connection options (accepted before the command and
after it) and the Model field flags that ``models create`` and ``models update`` share."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from modelyard.client.config import DEFAULT_BASE_URL, Settings, resolve
from modelyard.client.http import ModelyardClient
from modelyard.client.output import UsageProblem
from modelyard.resources.model import KIND

KINDS: tuple[str, ...] = KIND.values  # the Model kind enum, declaration order
_META_KEY = "modelyard.client.connection"

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


@dataclass(frozen=True)
class ConnectionFlags:
    """The connection options of a command (``None``: not given); :func:`option_groups` adds them."""

    base_url: BaseUrlOpt = None
    api_key: ApiKeyOpt = None
    account: AccountOpt = None
    profile: ProfileOpt = None


def remember_connection(ctx: typer.Context, conn: ConnectionFlags) -> None:
    """Keep the connection options given before the command (``modelyard models --account A list``)."""
    ctx.meta[_META_KEY] = conn


def connection_settings(ctx: typer.Context, conn: ConnectionFlags) -> Settings:
    """The settings in effect: options after the command, then before it, then the environment and the
    profile (``client/config.py``)."""
    group: ConnectionFlags = ctx.meta.get(_META_KEY) or ConnectionFlags()
    return resolve(
        base_url=conn.base_url or group.base_url,
        api_key=conn.api_key or group.api_key,
        account=conn.account or group.account,
        profile=conn.profile or group.profile,
    )


def api_client(settings: Settings) -> ModelyardClient:
    return ModelyardClient(settings.base_url_value, settings.require_api_key())


# -- Model field flags ------------------------------------------------------------------------------------

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


def _kind(value: str | None) -> str | None:
    if value is None:
        return None
    kind = value.strip().upper().replace("-", "_")
    if kind not in KINDS:
        raise UsageProblem(f"--kind: unknown kind {value!r}; expected one of {', '.join(KINDS[1:])}")
    return kind


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


@dataclass(frozen=True)
class ModelFieldFlags:
    """The Model fields a command accepts as flags (``None``: not given). The single declaration of those
    flags: :func:`model_field_options` adds them to a command."""

    display_name: DisplayNameOpt = None
    description: DescriptionOpt = None
    kind: KindOpt = None
    parameter_count: ParameterCountOpt = None
    moe: MoeOpt = None
    model_type: ModelTypeOpt = None
    context_length: ContextLengthOpt = None
    public: PublicOpt = None
    supports_tools: ToolsOpt = None
    supports_image_input: ImageOpt = None
    hugging_face_url: HfUrlOpt = None
    github_url: GithubUrlOpt = None
    base_model: BaseModelOpt = None
    lora_rank: LoraRankOpt = None
    target_modules: TargetModulesOpt = None
    default_draft_model: DraftModelOpt = None
    default_draft_token_count: DraftCountOpt = None

    def model_fields(self) -> dict[str, Any]:
        """The Model fields given as flags (only those given), in API JSON; UsageProblem for a bad kind or
        parameter count."""
        fields: dict[str, Any] = {}
        scalars = {
            "displayName": self.display_name,
            "description": self.description,
            "kind": _kind(self.kind),
            "contextLength": self.context_length,
            "public": self.public,
            "supportsTools": self.supports_tools,
            "supportsImageInput": self.supports_image_input,
            "huggingFaceUrl": self.hugging_face_url,
            "githubUrl": self.github_url,
            "defaultDraftModel": self.default_draft_model,
            "defaultDraftTokenCount": self.default_draft_token_count,
        }
        fields.update({k: v for k, v in scalars.items() if v is not None})
        base: dict[str, Any] = {}
        if self.parameter_count is not None:
            base["parameterCount"] = parse_count(self.parameter_count)
        if self.moe is not None:
            base["moe"] = self.moe
        if self.model_type is not None:
            base["modelType"] = self.model_type
        if base:
            fields["baseModelDetails"] = base
        peft: dict[str, Any] = {}
        if self.base_model is not None:
            peft["baseModel"] = self.base_model
        if self.lora_rank is not None:
            peft["r"] = self.lora_rank
        if self.target_modules is not None:
            peft["targetModules"] = [
                m.strip() for item in self.target_modules for m in item.split(",") if m.strip()
            ]
        if peft:
            fields["peftDetails"] = peft
        return fields


_Command = TypeVar("_Command", bound=Callable[..., Any])


def option_groups(command: _Command) -> _Command:
    """Expand each parameter of ``command`` annotated with an option group (:class:`ModelFieldFlags`,
    :class:`ConnectionFlags`) into one option per field of the group, in its place: typer sees the
    options, the command receives one instance of the group. A group is declared once and shared."""
    signature = inspect.signature(command, eval_str=True)
    groups: dict[str, tuple[type[Any], list[str]]] = {}
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        group = param.annotation
        if group in OPTION_GROUPS:
            hints = get_type_hints(group, include_extras=True)
            fields = dataclasses.fields(group)
            groups[param.name] = (group, [f.name for f in fields])
            params += [
                inspect.Parameter(
                    f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
                )
                for f in fields
            ]
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        for name, (group, names) in groups.items():
            kwargs[name] = group(**{n: kwargs.pop(n) for n in names if n in kwargs})
        return command(**kwargs)

    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper  # type: ignore[return-value]


OPTION_GROUPS: frozenset[type[Any]] = frozenset({ModelFieldFlags, ConnectionFlags})

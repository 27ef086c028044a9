"""What a catalog page shows of a Model: display values computed from its canonical JSON.

Everything here returns plain strings; the templates escape them (Jinja2 autoescaping), and a URL from
a model becomes a link only when it is an absolute http(s) URL, so ``javascript:`` never reaches an href.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from modelyard.web.facets import kind_label

_CAPABILITIES = (
    ("supportsServerless", "Serverless"),
    ("supportsTools", "Tool calling"),
    ("supportsImageInput", "Image input"),
    ("tunable", "Fine-tunable"),
)


def human_count(value: int) -> str:
    """``70553706496`` -> ``70.6B``."""
    for size, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if value >= size:
            text = f"{value / size:.1f}".removesuffix(".0")
            return text + suffix
    return str(value)


def human_tokens(value: int) -> str:
    """Context lengths the way model cards write them: ``131072`` -> ``128K``, ``1048576`` -> ``1M``,
    ``128000`` -> ``128K``."""
    if value % 1000 == 0:
        return human_count(value)
    if value >= 1024 * 1024 and value % (1024 * 1024) == 0:
        return f"{value // (1024 * 1024)}M"
    if value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}K"
    return human_count(value)


def safe_url(value: Any) -> str | None:
    """The URL when it is an absolute http(s) URL (what may become an href), else None."""
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def model_path(name: str) -> str:
    """``accounts/a/models/m`` -> ``/catalog/accounts/a/models/m``."""
    return f"/catalog/{name}"


@dataclass(frozen=True)
class Card:
    """One model in a result list."""

    name: str
    url: str
    title: str
    model_id: str
    account: str
    description: str
    chips: list[str]
    capabilities: list[str]
    public: bool


def capabilities(model: dict[str, Any]) -> list[str]:
    return [label for key, label in _CAPABILITIES if model.get(key)]


def parameters(model: dict[str, Any]) -> int:
    raw = (model.get("baseModelDetails") or {}).get("parameterCount", "0")
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def card(model: dict[str, Any]) -> Card:
    name = str(model.get("name", ""))
    parts = name.split("/")
    account, model_id = (parts[1], parts[3]) if len(parts) == 4 else ("", name)
    chips = [kind_label(str(model.get("kind", "KIND_UNSPECIFIED")))]
    count = parameters(model)
    if count:
        moe = " MoE" if (model.get("baseModelDetails") or {}).get("moe") else ""
        chips.append(f"{human_count(count)} params{moe}")
    if model.get("contextLength"):
        chips.append(f"{human_tokens(int(model['contextLength']))} context")
    if model.get("state") == "UPLOADING":
        chips.append("Uploading")
    return Card(
        name=name,
        url=model_path(name),
        title=str(model.get("displayName") or model_id),
        model_id=model_id,
        account=account,
        description=str(model.get("description", "")),
        chips=chips,
        capabilities=capabilities(model),
        public=bool(model.get("public")),
    )


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    href: str | None = None


def _date(value: Any) -> str:
    """``2024-03-05T12:00:00Z`` -> ``2024-03-05`` (the page shows days; the title attribute the rest)."""
    return str(value)[:10] if value else ""


def facts(model: dict[str, Any]) -> list[Fact]:
    """The facts a person compares, in reading order; absent ones are left out."""
    details = model.get("baseModelDetails") or {}
    peft = model.get("peftDetails") or {}
    out = [Fact("Kind", kind_label(str(model.get("kind", "KIND_UNSPECIFIED"))))]
    count = parameters(model)
    if count:
        out.append(Fact("Parameters", f"{human_count(count)} ({count:,})"))
    if details:
        out.append(Fact("Mixture of experts", "Yes" if details.get("moe") else "No"))
    if details.get("modelType"):
        out.append(Fact("Architecture", str(details["modelType"])))
    if model.get("contextLength"):
        length = int(model["contextLength"])
        out.append(Fact("Context length", f"{human_tokens(length)} ({length:,} tokens)"))
    if model.get("trainingContextLength"):
        out.append(Fact("Training context length", f"{int(model['trainingContextLength']):,} tokens"))
    precisions = model.get("supportedPrecisions") or []
    if precisions:
        out.append(Fact("Precisions", ", ".join(str(p) for p in precisions)))
    elif details.get("defaultPrecision"):
        out.append(Fact("Default precision", str(details["defaultPrecision"])))
    caps = capabilities(model)
    out.append(Fact("Capabilities", ", ".join(caps) if caps else "None listed"))
    if peft.get("baseModel"):
        base = str(peft["baseModel"])
        out.append(Fact("Base model", base, model_path(base) if base.startswith("accounts/") else None))
    if peft.get("r"):
        out.append(Fact("LoRA rank", str(peft["r"])))
    state = str(model.get("state", "STATE_UNSPECIFIED"))
    out.append(Fact("State", state.replace("_", " ").capitalize()))
    out.append(Fact("Visibility", "Public" if model.get("public") else "Private"))
    if model.get("createTime"):
        out.append(Fact("Created", _date(model["createTime"])))
    if model.get("updateTime"):
        out.append(Fact("Updated", _date(model["updateTime"])))
    deprecation = model.get("deprecationDate") or {}
    if deprecation:
        y, m, d = (int(deprecation.get(k, 0)) for k in ("year", "month", "day"))
        out.append(Fact("Deprecation date", f"{y:04d}-{m:02d}-{d:02d}"))
    for key, label in (("huggingFaceUrl", "Hugging Face"), ("githubUrl", "GitHub")):
        if model.get(key):
            out.append(Fact(label, str(model[key]), safe_url(model[key])))
    return out


@dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    code: str


def snippets(model: dict[str, Any], base_url: str) -> list[Snippet]:
    """Copyable ways to fetch this model: the Fireworks SDK, curl, the modelyard CLI and, by its OCI pull
    reference (``HOST/ACCOUNT/MODEL:latest``), oras, ``docker model pull`` and KServe's ``storageUri``."""
    name = str(model.get("name", ""))
    _, account, _, model_id = name.split("/")
    base = base_url.rstrip("/")
    sdk = (
        "import os\n"
        "from fireworks import Fireworks\n\n"
        f'client = Fireworks(api_key=os.environ["MODELYARD_API_KEY"], base_url={base!r}, '
        f"account_id={account!r})\n"
        f"model = client.models.get({model_id!r})\n"
        "print(model.display_name, model.context_length)"
    )
    url = f"{base}/v1/{name}"
    curl = f'curl -H "Authorization: Bearer $MODELYARD_API_KEY" {shlex.quote(url)}'
    cli = f"modelyard models get {shlex.quote(name)} --base-url {shlex.quote(base)}"
    # The OCI reference (README, "Pull and push with OCI tools"): the registry is the server's host.
    reference = f"{base.split('://', 1)[-1]}/{account}/{model_id}:latest"
    plain = " --plain-http" if base.startswith("http://") else ""
    oras = f"oras pull{plain} {reference} -o {model_id}"
    docker = f"docker model pull {reference}"
    kserve = f"storageUri: oci://{reference}"
    return [
        Snippet("sdk", "Python SDK", sdk),
        Snippet("curl", "curl", curl),
        Snippet("cli", "CLI", cli),
        Snippet("oras", "oras pull", oras),
        Snippet("docker", "docker model pull", docker),
        Snippet("kserve", "KServe storageUri", kserve),
    ]


@dataclass(frozen=True)
class FileRow:
    name: str
    size: str = ""
    href: str | None = None
    sha256: str | None = None


def files(model: dict[str, Any], stored: list[tuple[str, int, str | None, str | None]]) -> list[FileRow]:
    """The model's files: the ones stored in modelyard (name, size, a signed download link once the model
    is READY, the SHA-256 once committed), else the names its ``baseModelDetails.huggingfaceFiles``
    records."""
    if stored:
        return [FileRow(name, human_bytes(size), href, sha) for name, size, href, sha in stored]
    names = (model.get("baseModelDetails") or {}).get("huggingfaceFiles") or []
    return [FileRow(str(n)) for n in names]


def human_bytes(size: int) -> str:
    """``532 B``, ``1.5 KiB``, ``16.1 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"

"""A realistic, deterministic synthetic catalog of Models for the benchmarks.

The mix imitates a busy self-hosted registry: a few hundred base models and a long tail of fine-tunes
(PEFT add-ons), drafts, embeddings, image models and custom models, spread over three years.

* ids look like ``llama-v3p1-8b-instruct-ft-k3j9x2`` (family slug + a unique, shuffled base-36 suffix,
  so name order interleaves families);
* display names look like ``Qwen 2.5 7B Instruct (ft k3j9x2)``: ``display_name = "Qwen*"`` matches about
  7% of the models (:data:`QWEN_SHARE`);
* kinds, states, ``public``/``supportsServerless`` flags, parameter counts, context lengths, and create /
  update times over three years (:data:`START` .. :data:`END`) follow fixed weights.

Descriptions come in two styles: ``"short"`` (one line, the data set of the benchmarks so far) and
``"demo"`` (one or two sentences like the demo catalog's, ``modelyard/resources/demo_catalog.json``: who
made the model, what it is for, how it was trained); only the description differs between the two.

``python bench/catalog.py jsonl N [--out FILE]`` streams N models as a ``modelyard import`` file (JSON
Lines) to stdout or a file, one model at a time: item ``i`` depends only on ``i`` and the seed, so 10M
lines need no more memory than ten, and ``--start`` writes any slice of the same catalog.

Every resource is in the canonical form :func:`modelyard.importers.records.admin_model` produces, so
``Store.import_batch`` and ``modelyard import FILE.jsonl`` store exactly the same rows
(:func:`check_canonical` verifies it).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import orjson

from modelyard.aip.timestamps import format_rfc3339, parse_rfc3339

ACCOUNT = "bench"
START = parse_rfc3339("2023-11-01T00:00:00Z") or 0
END = parse_rfc3339("2026-11-01T00:00:00Z") or 0
DAY = 86_400 * 1_000_000_000

#: The display-name prefix benchmarks filter on, and roughly how many models it matches.
QWEN_PREFIX = "Qwen"
QWEN_SHARE = 0.07


@dataclass(frozen=True)
class Family:
    slug: str  # id prefix
    display: str  # display-name prefix
    weight: float
    variants: tuple[tuple[str, str, float], ...]  # (id part, display part, billions of parameters)
    contexts: tuple[int, ...]
    model_type: str
    modality: str = "text"  # text | embedding | image


FAMILIES: tuple[Family, ...] = (
    Family(
        "llama",
        "Llama",
        0.24,
        (
            ("v3p1-8b-instruct", "3.1 8B Instruct", 8.03),
            ("v3p1-70b-instruct", "3.1 70B Instruct", 70.6),
            ("v3p2-3b-instruct", "3.2 3B Instruct", 3.21),
            ("v3p3-70b-instruct", "3.3 70B Instruct", 70.6),
            ("v3-8b", "3 8B", 8.03),
            ("v2-13b-chat", "2 13B Chat", 13.0),
        ),
        (8192, 131072),
        "llama",
    ),
    Family(
        "qwen",
        "Qwen",
        QWEN_SHARE,
        (
            ("2p5-7b-instruct", "2.5 7B Instruct", 7.62),
            ("2p5-72b-instruct", "2.5 72B Instruct", 72.7),
            ("2p5-coder-32b-instruct", "2.5 Coder 32B Instruct", 32.8),
            ("3-8b", "3 8B", 8.19),
            ("3-235b-a22b", "3 235B A22B", 235.0),
        ),
        (32768, 131072),
        "qwen2",
    ),
    Family(
        "mistral",
        "Mistral",
        0.10,
        (
            ("7b-instruct-v0p3", "7B Instruct v0.3", 7.25),
            ("small-24b-instruct", "Small 24B Instruct", 23.6),
            ("nemo-12b-instruct", "Nemo 12B Instruct", 12.2),
        ),
        (32768, 131072),
        "mistral",
    ),
    Family(
        "mixtral",
        "Mixtral",
        0.04,
        (("8x7b-instruct", "8x7B Instruct", 46.7), ("8x22b-instruct", "8x22B Instruct", 141.0)),
        (32768, 65536),
        "mixtral",
    ),
    Family(
        "deepseek",
        "DeepSeek",
        0.08,
        (
            ("v3", "V3", 671.0),
            ("r1-distill-llama-8b", "R1 Distill Llama 8B", 8.03),
            ("r1-distill-qwen-14b", "R1 Distill Qwen 14B", 14.8),
            ("coder-v2-lite-instruct", "Coder V2 Lite Instruct", 15.7),
        ),
        (65536, 163840),
        "deepseek_v3",
    ),
    Family(
        "gemma",
        "Gemma",
        0.07,
        (("2-9b-it", "2 9B IT", 9.24), ("2-27b-it", "2 27B IT", 27.2), ("3-12b-it", "3 12B IT", 12.2)),
        (8192, 131072),
        "gemma2",
    ),
    Family(
        "phi",
        "Phi",
        0.06,
        (("3-mini-128k-instruct", "3 Mini 128K Instruct", 3.82), ("4", "4 14B", 14.7)),
        (16384, 131072),
        "phi3",
    ),
    Family("yi", "Yi", 0.03, (("34b-chat", "34B Chat", 34.4), ("1p5-9b", "1.5 9B", 8.83)), (4096,), "llama"),
    Family(
        "codellama",
        "Code Llama",
        0.04,
        (("13b-instruct", "13B Instruct", 13.0), ("34b-python", "34B Python", 33.7)),
        (16384,),
        "llama",
    ),
    Family(
        "starcoder2",
        "StarCoder2",
        0.03,
        (("15b", "15B", 16.0), ("7b", "7B", 7.17)),
        (16384,),
        "starcoder2",
    ),
    Family(
        "support-bot",
        "Support Bot",
        0.08,
        (("v1", "v1", 8.03), ("v2", "v2", 7.62), ("v3", "v3", 12.2)),
        (8192, 32768),
        "llama",
    ),
    Family(
        "nomic-embed",
        "Nomic Embed",
        0.02,
        (("text-v1p5", "Text v1.5", 0.137),),
        (8192,),
        "nomic_bert",
        "embedding",
    ),
    Family(
        "bge",
        "BGE",
        0.03,
        (("base-en-v1p5", "Base EN v1.5", 0.109), ("m3", "M3", 0.568)),
        (512, 8192),
        "bert",
        "embedding",
    ),
    Family(
        "flux",
        "FLUX.1",
        0.04,
        (("1-dev", "Dev", 12.0), ("1-schnell", "Schnell", 12.0)),
        (0,),
        "flux",
        "image",
    ),
    Family(
        "sdxl",
        "Stable Diffusion XL",
        0.02,
        (("1p0", "1.0", 3.5),),
        (0,),
        "sdxl",
        "image",
    ),
)

_TEXT_KINDS = (
    ("HF_PEFT_ADDON", 0.62),
    ("HF_BASE_MODEL", 0.14),
    ("CUSTOM_MODEL", 0.08),
    ("DRAFT_ADDON", 0.04),
    ("LIVE_MERGE", 0.03),
    ("SNAPSHOT_MODEL", 0.05),
    ("HF_TEFT_ADDON", 0.02),
    ("FIRE_AGENT", 0.02),
)
_IMAGE_KINDS = (("FLUMINA_ADDON", 0.7), ("FLUMINA_BASE_MODEL", 0.3))
_PURPOSES = (
    "customer support transcripts",
    "legal contract review",
    "SQL generation",
    "medical question answering",
    "code review comments",
    "product descriptions",
    "multilingual chat",
    "function calling",
    "summarising meeting notes",
    "retrieval-augmented answers",
)
#: Who publishes each family (for ``"demo"`` descriptions) and what its base models are good at.
_MAKERS = {
    "llama": "Meta",
    "qwen": "Alibaba Cloud",
    "mistral": "Mistral AI",
    "mixtral": "Mistral AI",
    "deepseek": "DeepSeek",
    "gemma": "Google",
    "phi": "Microsoft",
    "yi": "01.AI",
    "codellama": "Meta",
    "starcoder2": "BigCode",
    "support-bot": "the support team",
    "nomic-embed": "Nomic AI",
    "bge": "BAAI",
    "flux": "Black Forest Labs",
    "sdxl": "Stability AI",
}
_STRENGTHS = {
    "text": (
        "dialogue and instruction following",
        "reasoning, coding and multilingual chat",
        "long-context retrieval and summarisation",
        "tool use and structured JSON output",
        "efficient on-device inference",
    ),
    "embedding": (
        "semantic search and clustering",
        "retrieval-augmented generation over long documents",
        "multilingual sentence similarity",
    ),
    "image": (
        "photorealistic text-to-image generation",
        "fast, few-step image generation",
        "style-consistent illustration",
    ),
}
_TRAINING = (
    "supervised fine-tuning on {k}k curated examples",
    "LoRA rank {r} on {k}k conversations",
    "{k}k preference pairs (DPO) after supervised warm-up",
    "distillation from a larger teacher on {k}k prompts",
)
_EVALS = (
    "Evaluated on a held-out set of {k}k examples.",
    "Beats its base model on the team's internal benchmark by {p} points.",
    "Replaces the previous revision, which regressed on long inputs.",
    "Experimental: not for production traffic.",
    "",
)


def demo_description(
    fam: Family, disp: str, base: bool, purpose: str, tag: str, rank: int, rng: random.Random
) -> str:
    """A description in the demo catalog's style (one or two sentences, 60-260 characters)."""
    maker = _MAKERS.get(fam.slug, fam.display)
    strength = rng.choice(_STRENGTHS[fam.modality])
    if base:
        size = disp.split()[-1] if disp.split()[-1].endswith("B") else disp
        return (
            f"{maker}'s {fam.display} {disp} ({size}), mirrored from Hugging Face, tuned for {strength}; "
            f"used here for {purpose}."
        )
    k = rng.choice((2, 5, 12, 40, 150))
    training = rng.choice(_TRAINING).format(k=k, r=rank)
    tail = rng.choice(_EVALS).format(k=max(1, k // 10), p=rng.randrange(2, 15))
    text = f"Fine-tune of {maker}'s {fam.display} {disp} for {purpose} (run {tag}), trained with {training}."
    return f"{text} {tail}".rstrip()


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SUFFIX_SPACE = 36**6
_SUFFIX_MULT = 1_000_003  # prime, coprime with 36**6: i -> i*M mod 36**6 is a bijection


def suffix(i: int) -> str:
    """A unique six-character base-36 tag for item ``i`` (shuffled so name order mixes families)."""
    v = (i * _SUFFIX_MULT + 7_777_777) % _SUFFIX_SPACE
    out = []
    for _ in range(6):
        v, r = divmod(v, 36)
        out.append(_B36[r])
    return "".join(out)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _, w in weighted)
    for value, w in weighted:
        x -= w
        if x <= 0:
            return value
    return weighted[-1][0]


_FAMILY_WEIGHTS = [f.weight for f in FAMILIES]


def model(
    i: int, rng: random.Random, *, descriptions: str = "short", text_rng: random.Random | None = None
) -> tuple[str, dict[str, Any]]:
    """(model id, canonical resource without ``name``) of item ``i``. ``descriptions="demo"`` draws the
    longer description from ``text_rng``, so that every other field is the same as with ``"short"``."""
    fam = rng.choices(FAMILIES, weights=_FAMILY_WEIGHTS)[0]
    part, disp, billions = rng.choice(fam.variants)
    tag = suffix(i)
    if fam.modality == "embedding":
        kind = "EMBEDDING_MODEL" if rng.random() < 0.6 else "HF_PEFT_ADDON"
    elif fam.modality == "image":
        kind = _pick(rng, _IMAGE_KINDS)
    else:
        kind = _pick(rng, _TEXT_KINDS)
    base = kind in ("HF_BASE_MODEL", "FLUMINA_BASE_MODEL", "EMBEDDING_MODEL")
    ft = "" if base else "-ft"
    model_id = f"{fam.slug}-{part}{ft}-{tag}"
    purpose = rng.choice(_PURPOSES)
    if base:
        display = f"{fam.display} {disp} ({tag})"
        description = f"{fam.display} {disp}, mirrored from Hugging Face for {purpose}."
    else:
        display = f"{fam.display} {disp} (ft {tag})"
        description = f"Fine-tune of {fam.display} {disp} for {purpose} (run {tag})."
    create = START + rng.randrange((END - START) // 1_000_000) * 1_000_000
    age = int(rng.expovariate(1 / 30) * DAY)
    if create + age >= END:  # no pile-up of equal update times at the end of the range
        age = int(rng.random() * (END - create))
    update = create + age // 1_000_000 * 1_000_000
    ready = rng.random() < 0.88
    public = (base and rng.random() < 0.45) or rng.random() < 0.03
    resource: dict[str, Any] = {
        "displayName": display,
        "description": description,
        "createTime": format_rfc3339(create),
        "state": "READY" if ready else "UPLOADING",
        "kind": kind,
    }
    if not ready:
        resource["status"] = {"message": "waiting for upload"}
    if base:
        resource["huggingFaceUrl"] = f"https://huggingface.co/example/{fam.slug}-{part}"
    if kind == "HF_BASE_MODEL":
        details: dict[str, Any] = {
            "worldSize": 8 if billions > 100 else (2 if billions > 30 else 1),
            "checkpointFormat": "HUGGINGFACE",
            "parameterCount": str(int(billions * 1e9) + rng.randrange(1_000_000)),
            "modelType": fam.model_type,
        }
        if "mixtral" in fam.slug or "a22b" in part or (fam.slug == "deepseek" and part == "v3"):
            details["moe"] = True
        if rng.random() < 0.5:
            details["tunable"] = True
        resource["baseModelDetails"] = details
    elif kind in ("HF_PEFT_ADDON", "HF_TEFT_ADDON", "FLUMINA_ADDON", "DRAFT_ADDON"):
        resource["peftDetails"] = {
            "baseModel": f"accounts/fireworks/models/{fam.slug}-{part}",
            "r": rng.choice((8, 16, 32, 64)),
            "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj"][: rng.choice((2, 4))],
        }
        if kind == "HF_TEFT_ADDON":
            resource["teftDetails"] = {}
    if public:
        resource["public"] = True
    if fam.modality == "text" and rng.random() < 0.7:
        resource["conversationConfig"] = {"style": "jinja"}
    context = rng.choice(fam.contexts)
    if context:
        resource["contextLength"] = context
    if fam.modality == "text" and rng.random() < 0.3:
        resource["supportsTools"] = True
    if fam.modality == "text" and rng.random() < 0.05:
        resource["supportsImageInput"] = True
    if kind in ("HF_PEFT_ADDON", "HF_BASE_MODEL") and rng.random() < 0.4:
        resource["supportsLora"] = True
    resource["updateTime"] = format_rfc3339(update)
    if public and ready and kind == "HF_BASE_MODEL" and rng.random() < 0.6:
        resource["supportsServerless"] = True
    if descriptions == "demo":  # drawn last, from its own generator: every other field stays the same
        rank = resource.get("peftDetails", {}).get("r", 16)
        resource["description"] = demo_description(fam, disp, base, purpose, tag, rank, text_rng or rng)
    return model_id, resource


DESCRIPTION_STYLES = ("short", "demo")


def generate(
    n: int, *, seed: int = 20261124, start: int = 0, descriptions: str = "short"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Items ``start`` .. ``start + n - 1`` (the same ``seed`` always gives the same catalog), one at a
    time: item ``i`` depends only on ``seed`` and ``i``."""
    if descriptions not in DESCRIPTION_STYLES:
        raise ValueError(f"descriptions must be one of {DESCRIPTION_STYLES}, not {descriptions!r}")
    for i in range(start, start + n):
        text_rng = random.Random(seed * 1_000_003 + i + (1 << 62)) if descriptions == "demo" else None
        yield model(i, random.Random(seed * 1_000_003 + i), descriptions=descriptions, text_rng=text_rng)


def write_jsonl(
    out: BinaryIO,
    n: int,
    *,
    seed: int = 20261124,
    start: int = 0,
    descriptions: str = "short",
    account: str = ACCOUNT,
    chunk: int = 1000,
) -> int:
    """Write items ``start`` .. ``start + n - 1`` to ``out`` as a ``modelyard import`` file (JSON Lines),
    ``chunk`` lines per write; returns the bytes written. Memory stays flat whatever ``n``."""
    written = 0
    lines: list[bytes] = []
    for model_id, resource in generate(n, seed=seed, start=start, descriptions=descriptions):
        lines.append(json_line(model_id, resource, account=account))
        if len(lines) >= chunk:
            data = b"\n".join(lines) + b"\n"
            out.write(data)
            written += len(data)
            lines.clear()
    if lines:
        data = b"\n".join(lines) + b"\n"
        out.write(data)
        written += len(data)
    return written


def json_line(model_id: str, resource: dict[str, Any], *, account: str = ACCOUNT) -> bytes:
    """One line of a ``modelyard import`` file (without the newline)."""
    return orjson.dumps({"name": f"accounts/{account}/models/{model_id}", **resource})


def check_canonical(count: int = 500, *, descriptions: str = "short") -> None:
    """Raise AssertionError unless the first ``count`` items are exactly what the import path stores."""
    from modelyard.importers.records import admin_model

    for model_id, resource in generate(count, descriptions=descriptions):
        got_id, got = admin_model(orjson.loads(json_line(model_id, resource)), account=ACCOUNT)
        assert got_id == model_id, (got_id, model_id)
        assert got == resource, (model_id, got, resource)


def summary(n: int, *, descriptions: str = "short") -> dict[str, Any]:
    """Shares of the interesting attributes among the first ``n`` items (for the report)."""
    kinds: dict[str, int] = {}
    qwen = public = serverless = ready = big_serverless_base = description_chars = 0
    for _, r in generate(n, descriptions=descriptions):
        description_chars += len(r["description"])
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        qwen += r["displayName"].startswith(QWEN_PREFIX)
        public += bool(r.get("public"))
        serverless += bool(r.get("supportsServerless"))
        ready += r["state"] == "READY"
        params = int(r.get("baseModelDetails", {}).get("parameterCount", "0"))
        big_serverless_base += bool(
            r.get("supportsServerless") and r["kind"] == "HF_BASE_MODEL" and params > 7_000_000_000
        )
    return {
        "n": n,
        "qwen_prefix": qwen / n,
        "public": public / n,
        "supports_serverless": serverless / n,
        "ready": ready / n,
        "serverless_base_gt_7b": big_serverless_base / n,
        "description_chars_mean": description_chars / n,
        "kinds": {k: v / n for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
    }


def main(argv: list[str] | None = None) -> None:
    """``catalog.py`` checks the generator and prints the mix; ``catalog.py jsonl N`` writes N lines."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    lines = sub.add_parser("jsonl", help="write N models as a modelyard import file (JSON Lines)")
    lines.add_argument("n", type=int)
    lines.add_argument("--out", "-o", default="-", help="file to write (default: stdout)")
    lines.add_argument("--start", type=int, default=0, help="first item (a slice of the same catalog)")
    lines.add_argument("--seed", type=int, default=20261124)
    lines.add_argument("--descriptions", choices=DESCRIPTION_STYLES, default="demo")
    lines.add_argument("--account", default=ACCOUNT)
    summ = sub.add_parser("summary", help="check the generator and print the mix of the first N items")
    summ.add_argument("n", type=int, nargs="?", default=20_000)
    summ.add_argument("--descriptions", choices=DESCRIPTION_STYLES, default="short")
    args = parser.parse_args(argv)
    if args.command == "jsonl":

        def write(out: BinaryIO) -> None:
            write_jsonl(
                out,
                args.n,
                seed=args.seed,
                start=args.start,
                descriptions=args.descriptions,
                account=args.account,
            )

        if args.out == "-":
            write(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            with open(args.out, "wb") as f:
                write(f)
        return
    check_canonical()
    check_canonical(descriptions="demo")
    n = args.n if args.command == "summary" else 20_000
    style = args.descriptions if args.command == "summary" else "short"
    print(orjson.dumps(summary(n, descriptions=style), option=orjson.OPT_INDENT_2).decode())
    for mid, res in generate(3, descriptions=style):
        print(json_line(mid, res).decode())


if __name__ == "__main__":
    main()

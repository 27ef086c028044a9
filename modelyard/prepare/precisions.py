"""The precisions modelyard prepares, and which tensors each converts.

* ``FP8``: the 2-D weights of Linear layers become ``float8_e4m3fn`` with a float32 ``<name>_scale_inv``
  per 128x128 block (``kernels.Fp8Quantizer``); ``config.json`` gets the ``quantization_config`` that
  vLLM's and SGLang's ``Fp8Config.from_config`` read. Kept in their precision: embeddings, ``lm_head``,
  norms, biases, MoE router/gate weights (``mlp.gate``, ``router``, ``shared_expert_gate``), every tensor
  that is not 2-D, and non-floating tensors. The kept 2-D weights are listed (by module name) in
  ``ignored_layers`` (vLLM and SGLang) and ``modules_to_not_convert`` (SGLang's other spelling, and
  transformers' FP8 loader).
* ``BF16`` / ``FP16``: every floating tensor cast (FP16 clipped to its range); ``config.json``'s
  ``torch_dtype`` (and ``dtype``, transformers' newer name, when present) updated.
"""

from __future__ import annotations

import enum
import re
from typing import Any

#: safetensors dtypes the conversions read as floating point.
FLOATING = frozenset({"F64", "F32", "F16", "BF16"})


class Precision(enum.Enum):
    FP8 = "FP8"
    BF16 = "BF16"
    FP16 = "FP16"

    @property
    def branch(self) -> str:
        """The revision branch the variant is committed to (``fp8``, ``bf16``, ``fp16``)."""
        return self.value.lower()

    @property
    def torch_dtype(self) -> str:
        return {"FP8": "bfloat16", "BF16": "bfloat16", "FP16": "float16"}[self.value]

    @property
    def safetensors_dtype(self) -> str:
        return {"FP8": "F8_E4M3", "BF16": "BF16", "FP16": "F16"}[self.value]


#: What ``:prepare`` accepts, in the order error messages name them.
SUPPORTED = tuple(p.value for p in Precision)

#: Module names whose weights are embeddings or the output head (kept by FP8).
_EMBEDDING = re.compile(r"(^|\.)(embed_tokens|embeddings?|wte|wpe|word_embeddings|lm_head|embed_out|output)$")
#: MoE routers: ``mlp.gate`` (Qwen-MoE, Mixtral's ``block_sparse_moe.gate``, DeepSeek), ``router``,
#: ``shared_expert_gate``; never ``gate_proj``/``gate_up_proj`` (those are Linear layers).
_ROUTER = re.compile(r"(^|\.)(gate|router|shared_expert_gate|e_score_correction)$|(^|\.)router\.")
_NORM = re.compile(r"norm|(^|\.)ln_?\w*$")


def parse_precision(value: Any) -> Precision | None:
    """The Precision named by ``value`` (case-sensitive, as the API's enum), or None."""
    if isinstance(value, str):
        for precision in Precision:
            if precision.value == value:
                return precision
    return None


def module_of(tensor: str) -> str:
    """``model.layers.0.mlp.down_proj.weight`` -> ``model.layers.0.mlp.down_proj``."""
    return tensor.rsplit(".", 1)[0] if "." in tensor else tensor


def fp8_quantizes(tensor: str, dtype: str, shape: list[int]) -> bool:
    """Whether FP8 turns this tensor into e4m3 weights and block scales."""
    if dtype not in FLOATING or len(shape) != 2 or not tensor.endswith(".weight"):
        return False
    return not fp8_keeps_module(module_of(tensor))


def fp8_keeps_module(module: str) -> bool:
    """Whether a module's 2-D weight stays in its precision under FP8 (embedding, head, norm, router)."""
    return bool(
        _EMBEDDING.search(module) or _ROUTER.search(module) or _NORM.search(module.rsplit(".", 1)[-1])
    )


def casts(dtype: str, precision: Precision) -> bool:
    """Whether BF16/FP16 casts a tensor of this dtype (every floating tensor of another dtype)."""
    return dtype in FLOATING and dtype != precision.safetensors_dtype

"""What ``:validateUpload`` derives beyond the config: the default precision from the weights' dtypes
(``baseModelDetails.defaultPrecision``) and the sampling defaults from ``generation_config.json``
(``defaultSamplingParams``), as the demo catalog's models carry them.

* The precision is the dtype holding most of the parameters across the safetensors files (the header's
  shapes, never the data): ``BF16``, ``F16`` -> ``FP16``, ``F8_E4M3``/``F8_E5M2`` -> ``FP8``. Other
  dtypes (``F32``, integer-packed quantizations) name no deployment precision and set nothing.
* Sampling defaults are the numeric ``temperature``, ``top_p``, ``top_k``, ``min_p``,
  ``repetition_penalty``, ``presence_penalty`` and ``frequency_penalty`` of ``generation_config.json``;
  with ``do_sample: false`` (greedy decoding) only ``repetition_penalty`` applies. A file that is not a
  JSON object of such values adds a warning, never a refusal: it is optional.

The headers are parsed again from bytes :class:`RememberingReader` kept while the validation's own
check read them, so no byte is read from the storage twice.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from modelyard.importers import safetensors
from modelyard.storage.base import RangeReader

GENERATION_CONFIG_FILE = "generation_config.json"
#: dtype of the weights -> DeploymentPrecision.
DTYPE_PRECISION = {"BF16": "BF16", "F16": "FP16", "F8_E4M3": "FP8", "F8_E5M2": "FP8"}
SAMPLING_KEYS = (
    "temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty",
)  # fmt: skip
#: Reads remembered per file (a safetensors header takes two: its length, then the JSON).
_REMEMBER_READS = 4


class RememberingReader:
    """A RangeReader that keeps its first few reads, so that a second parse of a header costs nothing."""

    def __init__(self, inner: RangeReader) -> None:
        self.inner = inner
        self._kept: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return self.inner.size

    def read(self, offset: int, length: int) -> bytes:
        key = (offset, length)
        if key in self._kept:
            return self._kept[key]
        data = self.inner.read(offset, length)
        if len(self._kept) < _REMEMBER_READS:
            self._kept[key] = data
        return data


def check_weights(
    paths: list[str],
    readers: Mapping[str, Callable[[], RangeReader]],
    check: Callable[[str, RangeReader], int],
) -> tuple[list[int], Counter[str]]:
    """``check`` (the validation's safetensors check) of each file, and the parameters per dtype."""
    counts: list[int] = []
    dtypes: Counter[str] = Counter()
    for path in paths:
        reader = RememberingReader(readers[path]())
        counts.append(check(path, reader))
        dtypes.update(dtype_parameters(path, reader))
    return counts, dtypes


def dtype_parameters(path: str, reader: RangeReader) -> Counter[str]:
    """Parameters per dtype of one safetensors file (its header, already checked)."""
    header, _ = safetensors.parse_safetensors_header(reader.read, path)
    out: Counter[str] = Counter()
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        shape = info.get("shape")
        if isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            out[str(info.get("dtype"))] += math.prod(shape)
    return out


def default_precision(dtypes: Counter[str]) -> str | None:
    """The DeploymentPrecision of the dtype holding most parameters, or None."""
    if not dtypes:
        return None
    dtype, _ = max(dtypes.items(), key=lambda item: (item[1], item[0]))
    return DTYPE_PRECISION.get(dtype)


def sampling_defaults(config: Any, warnings: list[str]) -> dict[str, float]:
    """``defaultSamplingParams`` from a parsed ``generation_config.json`` (warnings for what is unusable)."""
    if not isinstance(config, dict):
        warnings.append(f"{GENERATION_CONFIG_FILE} is not a JSON object; no sampling defaults were read")
        return {}
    greedy = config.get("do_sample") is False
    out: dict[str, float] = {}
    for key in SAMPLING_KEYS:
        value = config.get(key)
        if value is None or (greedy and key != "repetition_penalty"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            warnings.append(f"{GENERATION_CONFIG_FILE}: {key} is not a number; left out")
            continue
        if isinstance(value, int) and abs(value) > 2**53:
            warnings.append(f"{GENERATION_CONFIG_FILE}: {key} is out of range; left out")
            continue
        out[key] = float(value)
    return out

"""Conversion kernels: FP8 block-128 e4m3 quantisation and BF16/FP16 casts, in NumPy with ``ml_dtypes``.

No torch: a checkpoint's tensors arrive as raw little-endian bytes (``dtypes.DTYPES`` maps a safetensors
dtype name to its NumPy dtype) and leave as raw bytes of the target dtype.

FP8 (the layout of DeepSeek-V3 and Qwen3-FP8 checkpoints, which vLLM and SGLang load with
``weight_block_size: [128, 128]``): a 2-D weight of shape ``(rows, cols)`` is cut into 128x128 blocks
(the last row and column of blocks may be smaller); each block's scale is ``amax / 448`` (448 being
e4m3fn's largest finite value), stored as float32 ``weight_scale_inv`` of shape ``(ceil(rows/128),
ceil(cols/128))``; the block's values are divided by its scale, clipped to +-448 and cast to
``float8_e4m3fn``. Dequantising is ``fp8 * scale`` per block. A block of zeros gets scale 1.

Speed: the weight is processed one band of 128 rows at a time in one reused float32 buffer (as wide as
the weight, padded to a multiple of 128 columns with zeros): widen the band into it (BF16 by a 16-bit
shift of the raw bits, other dtypes by NumPy's cast), take each block's max and min with a reshape to
``(rows, blocks, 128)`` and two reductions, divide in place by the scales broadcast over the block,
clip in place, and cast into the output. Nothing is allocated per band but the small per-block vectors.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import numpy.typing as npt

#: The block edge of FP8 block quantisation (``weight_block_size: [128, 128]``).
BLOCK = 128
#: float8_e4m3fn's largest finite value.
FP8_MAX = 448.0  # float(ml_dtypes.finfo(float8_e4m3fn).max); tests check it
FP8 = np.dtype(ml_dtypes.float8_e4m3fn)
BF16 = np.dtype(ml_dtypes.bfloat16)
FP16 = np.dtype(np.float16)
FP16_MAX = float(np.finfo(np.float16).max)

Array = npt.NDArray[Any]


class KernelError(ValueError):
    """A tensor the kernels cannot convert (not finite, wrong shape or dtype)."""


def scale_shape(rows: int, cols: int) -> tuple[int, int]:
    """The shape of a ``(rows, cols)`` weight's ``weight_scale_inv``."""
    return (-(-rows // BLOCK), -(-cols // BLOCK))


class Fp8Quantizer:
    """Quantises 2-D weights to FP8 block-128; holds the reused band buffers between calls (one
    quantizer per thread)."""

    def __init__(self) -> None:
        self._floats = np.empty(0, dtype=np.float32)
        self._scratch = Scratch((0,))

    def _buffers(self, padded_cols: int) -> tuple[Array, Scratch]:
        need = BLOCK * padded_cols
        if self._floats.size < need:
            self._floats = np.empty(need, dtype=np.float32)
            self._scratch = Scratch((need,))
        return self._floats[:need].reshape(BLOCK, padded_cols), self._scratch

    def quantize(
        self, weight: Array, out: Array | None = None, scales: Array | None = None
    ) -> tuple[Array, Array]:
        """``weight`` (2-D, floating: float64, float32, float16 or bfloat16) as ``(fp8 weight, float32
        scales)``.

        ``out`` (``float8_e4m3fn``, the weight's shape) and ``scales`` (float32, ``scale_shape``) may be
        given to write into. Raises KernelError for a weight holding inf or NaN."""
        if weight.ndim != 2:
            raise KernelError(f"FP8 block quantisation takes a 2-D weight, not shape {weight.shape}")
        rows, cols = weight.shape
        srows, scols = scale_shape(rows, cols)
        if out is None:
            out = np.empty((rows, cols), dtype=FP8)
        if scales is None:
            scales = np.empty((srows, scols), dtype=np.float32)
        if rows == 0 or cols == 0:
            return out, scales
        padded = scols * BLOCK
        band, scratch = self._buffers(padded)
        if padded != cols:
            band[:, cols:] = 0.0  # the padding columns of the last block stay zero: they never set its amax
        bf16 = weight.dtype == BF16
        band_bits = band.view(np.uint32)
        out_bytes = out.view(np.uint8)
        for b in range(srows):
            r0 = b * BLOCK
            h = min(BLOCK, rows - r0)
            rows_view = band[:h]
            if bf16:
                # bfloat16 is the top half of a float32: widen the raw bits and shift them into place.
                target = band_bits[:h, :cols]
                np.copyto(target, weight[r0 : r0 + h].view(np.uint16), casting="unsafe")
                np.left_shift(target, 16, out=target)
            else:
                np.copyto(rows_view[:, :cols], weight[r0 : r0 + h], casting="unsafe")
            # Each block's amax: the column-wise max and min over the band (contiguous, vectorised),
            # then over each block's 128 columns.
            highs = rows_view.max(axis=0).reshape(scols, BLOCK).max(axis=1)
            lows = rows_view.min(axis=0).reshape(scols, BLOCK).min(axis=1)
            amax = np.maximum(highs, -lows)
            if not np.isfinite(amax).all():
                raise KernelError(f"rows {r0}..{r0 + h - 1} hold a value that is not finite (inf or NaN)")
            scale = scales[b]
            np.divide(amax, np.float32(FP8_MAX), out=scale)
            scale[amax == 0] = 1.0
            blocks = rows_view.reshape(h, scols, BLOCK)
            np.divide(blocks, scale[None, :, None], out=blocks)
            np.clip(rows_view, -FP8_MAX, FP8_MAX, out=rows_view)
            encode_e4m3(rows_view[:, :cols], out_bytes[r0 : r0 + h], scratch.view((h, cols)))
        return out, scales


#: The bits of float32 2**-6, e4m3fn's smallest normal value: below it e4m3fn is subnormal.
_E4M3_MIN_NORMAL_BITS = 121 << 23
#: Half an e4m3 unit at bit 20 less one, minus the exponent rebias 127 - 7 (modulo 2**32).
_ROUND_AND_REBIAS = np.uint32((0x7FFFF - (120 << 23)) % (1 << 32))


class Scratch:
    """The buffers ``encode_e4m3`` works in, allocated once per shape: a fresh temporary of a band's
    size per call costs page faults that take longer than the arithmetic."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.bits = np.empty(shape, dtype=np.uint32)
        self.other = np.empty(shape, dtype=np.uint32)
        self.mask = np.empty(shape, dtype=np.bool_)

    def view(self, shape: tuple[int, int]) -> Scratch:
        """Scratch for a smaller 2-D shape (a part of these buffers)."""
        rows, cols = shape
        part = Scratch.__new__(Scratch)
        part.shape = shape
        n = rows * cols
        part.bits = self.bits.reshape(-1)[:n].reshape(shape)
        part.other = self.other.reshape(-1)[:n].reshape(shape)
        part.mask = self.mask.reshape(-1)[:n].reshape(shape)
        return part


def encode_e4m3(values: Array, out: Array, scratch: Scratch | None = None) -> None:
    """float32 ``values`` (already within +-448) into e4m3fn codes ``out`` (uint8, same shape), rounding
    to nearest even: the same bytes as ``values.astype(float8_e4m3fn)``, about 20x faster than
    ml_dtypes' element-by-element cast.

    Normal results: on the float32 bits, add the round-to-nearest-even increment at bit 20 (the last of
    e4m3's 3 mantissa bits), rebias the exponent (127 -> 7), shift, and put the sign back at bit 7; a
    carry out of the mantissa lands in the exponent, as it should. The few values below 2**-6 (e4m3
    subnormals, multiples of 2**-9) are found and rounded apart: ``rint(|x| * 512)`` is their code."""
    if scratch is None or scratch.shape != values.shape:
        scratch = Scratch(values.shape)
    u = values.view(np.uint32)
    a, other = scratch.bits, scratch.other
    np.bitwise_and(u, 0x7FFFFFFF, out=a)
    np.less(a, _E4M3_MIN_NORMAL_BITS, out=scratch.mask)
    small = np.flatnonzero(scratch.mask)
    np.right_shift(a, 20, out=other)
    np.bitwise_and(other, 1, out=other)
    np.add(a, other, out=a)
    np.add(a, _ROUND_AND_REBIAS, out=a)  # wraps for the small ones: fixed below
    np.right_shift(a, 20, out=a)
    np.right_shift(u, 24, out=other)
    np.bitwise_and(other, 0x80, out=other)
    np.bitwise_or(a, other, out=a)
    np.copyto(out, a, casting="unsafe")
    if small.size:
        cols = values.shape[1]
        picked = values[small // cols, small % cols]
        codes = np.rint(np.abs(picked) * np.float32(512)).astype(np.uint8)
        codes |= np.signbit(picked).astype(np.uint8) << np.uint8(7)
        out[small // cols, small % cols] = codes


def dequantize_fp8(weight: Array, scales: Array) -> Array:
    """``fp8 * scale`` per 128x128 block, as float32 (the reference the tests compare with)."""
    rows, cols = weight.shape
    expanded = np.repeat(np.repeat(scales.astype(np.float32), BLOCK, axis=0), BLOCK, axis=1)[:rows, :cols]
    result: Array = weight.astype(np.float32) * expanded
    return result


#: float32 bits of 2**-14, float16's smallest normal value.
_F16_MIN_NORMAL_BITS = 113 << 23
#: Half a float16 unit at bit 13 less one, minus the exponent rebias 127 - 15 (modulo 2**32).
_F16_ROUND_AND_REBIAS = np.uint32((0xFFF - (112 << 23)) % (1 << 32))
#: Elements converted per step by ``Caster`` (4 MiB of float32: the buffers stay in cache).
CAST_CHUNK = 1 << 20


class Caster:
    """Casts floating tensors to BF16 or FP16 in chunks through reused buffers (one caster per thread),
    with the same results as ``astype`` (round to nearest even) but without NumPy's element-by-element
    float16 code:

    * BF16 -> FP16 and FP16 -> BF16 on the 16-bit patterns (a BF16 value in FP16's normal range is exact
      in FP16; FP16's range lies inside BF16's, its 10 mantissa bits rounded to 7); the rare values outside
      those ranges (zeros, subnormals, large values, inf, NaN) through float32;
    * otherwise widened to float32 (BF16 and FP16 exactly, float64 rounded), then to BF16 by the bits
      (``(u + 0x7FFF + lsb) >> 16``, NaN kept a quiet NaN) or to FP16 (rebiased and rounded at bit 13,
      subnormals and NaN by NumPy).

    FP16 results are clipped to +-65504 first, so a large value becomes FP16's largest instead of inf."""

    def __init__(self) -> None:
        self._floats = np.empty(CAST_CHUNK, dtype=np.float32)
        self._bits = np.empty(CAST_CHUNK, dtype=np.uint32)
        self._other = np.empty(CAST_CHUNK, dtype=np.uint32)
        self._mask = np.empty(CAST_CHUNK, dtype=np.bool_)
        self._halves = np.empty((2, CAST_CHUNK), dtype=np.uint16)

    def cast(self, tensor: Array, target: np.dtype[Any], out: Array | None = None) -> Array:
        if target not in (BF16, FP16):
            raise KernelError(f"cannot cast to {target}")
        if out is None:
            out = np.empty(tensor.shape, dtype=target)
        src = np.ascontiguousarray(tensor).reshape(-1)
        dst = out.reshape(-1)
        if src.dtype == target:
            np.copyto(dst, src)
            return out
        for start in range(0, src.size, CAST_CHUNK):
            part = src[start : start + CAST_CHUNK]
            n = part.size
            floats = self._floats[:n]
            if part.dtype == BF16 and target == FP16:
                self._bf16_to_f16(part, dst[start : start + n].view(np.uint16))
                continue
            if part.dtype == FP16 and target == BF16:
                self._f16_to_bf16(part, dst[start : start + n].view(np.uint16))
                continue
            if part.dtype == BF16:
                widened = floats.view(np.uint32)
                np.copyto(widened, part.view(np.uint16), casting="unsafe")
                np.left_shift(widened, 16, out=widened)
            elif part.dtype == FP16:
                self._widen_f16(part, floats)
            else:
                np.copyto(floats, part, casting="unsafe")
            if target == FP16:
                np.clip(floats, -FP16_MAX, FP16_MAX, out=floats)
                self._to_f16(floats, dst[start : start + n].view(np.uint16))
            else:
                self._to_bf16(floats, dst[start : start + n].view(np.uint16))
        return out

    def _bf16_to_f16(self, part: Array, out: Array) -> None:
        """BF16 to FP16 on the 16-bit patterns: in FP16's normal range every BF16 value is exact in FP16
        (7 mantissa bits into 10): rebias the exponent (127 -> 15) and shift the mantissa 3 bits up.
        Values below 2**-14 (FP16 subnormals: rounded) or above 65280 (clipped to 65504), inf and NaN
        go through the float32 path."""
        n = part.size
        bits = part.view(np.uint16)
        a, sign = self._halves[0, :n], self._halves[1, :n]
        np.bitwise_and(bits, 0x7FFF, out=a)
        # Normal and in range: 0x3880 (2**-14) <= a <= 0x477F (65280); one unsigned compare tests both.
        np.subtract(a, np.uint16(0x3880), out=sign)
        mask = self._mask[:n]
        np.greater(sign, np.uint16(0x477F - 0x3880), out=mask)
        special = np.flatnonzero(mask)
        np.subtract(a, np.uint16(0x3800), out=a)
        np.left_shift(a, 3, out=a)
        np.bitwise_and(bits, 0x8000, out=sign)
        np.bitwise_or(a, sign, out=out)
        if special.size:
            picked = part[special].astype(np.float32)
            np.clip(picked, -FP16_MAX, FP16_MAX, out=picked)
            out[special] = picked.astype(np.float16).view(np.uint16)

    def _f16_to_bf16(self, part: Array, out: Array) -> None:
        """FP16 to BF16 on the 16-bit patterns: FP16's normal range lies inside BF16's, so rebias the
        exponent (15 -> 127) and round the mantissa from 10 bits to 7 (nearest even; a carry lands in
        the exponent). Zeros, subnormals, inf and NaN go through float32."""
        n = part.size
        bits = part.view(np.uint16)
        a, other = self._halves[0, :n], self._halves[1, :n]
        np.bitwise_and(bits, 0x7C00, out=a)
        mask = self._mask[:n]
        np.equal(a, 0, out=mask)
        special = np.flatnonzero(mask)
        np.equal(a, 0x7C00, out=mask)
        if mask.any():
            special = np.union1d(special, np.flatnonzero(mask))
        np.bitwise_and(bits, 0x7FFF, out=a)
        np.right_shift(a, 3, out=other)
        np.bitwise_and(other, 1, out=other)
        np.add(a, other, out=a)
        np.add(a, np.uint16(3), out=a)
        np.right_shift(a, 3, out=a)
        np.add(a, np.uint16(112 << 7), out=a)
        np.bitwise_and(bits, 0x8000, out=other)
        np.bitwise_or(a, other, out=out)
        if special.size:
            out[special] = part[special].astype(np.float32).astype(BF16).view(np.uint16)

    def _widen_f16(self, part: Array, floats: Array) -> None:
        """float16 to float32 by the bits (NumPy's own cast is element by element): the exponent
        rebiased (15 -> 127) and the mantissa moved up 13 bits; zeros, subnormals, inf and NaN (rare)
        by NumPy's cast."""
        n = part.size
        h = self._bits[:n]
        out = floats.view(np.uint32)
        np.copyto(h, part.view(np.uint16), casting="unsafe")
        np.bitwise_and(h, 0x7FFF, out=out)
        np.left_shift(out, 13, out=out)
        np.add(out, np.uint32(112 << 23), out=out)
        mask = self._mask[:n]
        np.bitwise_and(h, 0x7C00, out=h)  # the exponent: 0 (zero, subnormal) or 0x7C00 (inf, NaN) are special
        np.equal(h, 0, out=mask)
        special = np.flatnonzero(mask)
        np.equal(h, 0x7C00, out=mask)
        if mask.any():
            special = np.union1d(special, np.flatnonzero(mask))
        np.copyto(h, part.view(np.uint16), casting="unsafe")
        np.bitwise_and(h, 0x8000, out=h)
        np.left_shift(h, 16, out=h)
        np.bitwise_or(out, h, out=out)
        if special.size:
            floats[special] = part[special].astype(np.float32)

    def _to_f16(self, floats: Array, out: Array) -> None:
        """Clipped float32 to float16 bits: the normal range by the bits (round to nearest even at bit
        13, exponent rebiased 127 -> 15), the few subnormals and NaNs by NumPy's cast."""
        n = floats.size
        u = floats.view(np.uint32)
        bits, mask = self._bits[:n], self._mask[:n]
        np.bitwise_and(u, 0x7FFFFFFF, out=bits)
        np.less(bits, _F16_MIN_NORMAL_BITS, out=mask)
        special = np.flatnonzero(mask)
        np.greater(bits, 0x7F800000, out=mask)  # NaN
        special = np.union1d(special, np.flatnonzero(mask)) if mask.any() else special
        lsb = self._other[:n]
        np.right_shift(bits, 13, out=lsb)
        np.bitwise_and(lsb, 1, out=lsb)
        np.add(bits, lsb, out=bits)
        np.add(bits, _F16_ROUND_AND_REBIAS, out=bits)
        np.right_shift(bits, 13, out=bits)
        np.right_shift(u, 16, out=lsb)
        np.bitwise_and(lsb, 0x8000, out=lsb)
        np.bitwise_or(bits, lsb, out=bits)
        np.copyto(out, bits, casting="unsafe")
        if special.size:
            out[special] = floats[special].astype(np.float16).view(np.uint16)

    def _to_bf16(self, floats: Array, out: Array) -> None:
        n = floats.size
        u = floats.view(np.uint32)
        bits = self._bits[:n]
        np.right_shift(u, 16, out=bits)
        np.bitwise_and(bits, 1, out=bits)
        np.add(bits, 0x7FFF, out=bits)
        np.add(bits, u, out=bits)
        np.right_shift(bits, 16, out=bits)
        np.copyto(out, bits, casting="unsafe")
        mask = self._mask[:n]
        np.isnan(floats, out=mask)
        nans = np.flatnonzero(mask)
        if nans.size:
            out[nans] = (u[nans] >> 16).astype(np.uint16) | np.uint16(0x0040)


def cast(tensor: Array, target: np.dtype[Any], out: Array | None = None) -> Array:
    """``tensor`` cast to BF16 or FP16 (see ``Caster``)."""
    return Caster().cast(tensor, target, out)

"""The conversion kernels against ml_dtypes' and NumPy's own casts, and FP8's block rules."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from modelyard.prepare import kernels

E4M3 = ml_dtypes.float8_e4m3fn


def _random_bits(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32).view(np.float32)


def test_encode_e4m3_matches_ml_dtypes_on_every_kind_of_float32() -> None:
    values = _random_bits(1 << 20, 1)
    values = values[np.isfinite(values)]
    special = np.array(
        [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            2**-10,
            3 * 2**-10,
            2**-6,
            -(2**-6) * 1.0625,
            448,
            -448,
            1.0625,
            1.1875,
            1.125 + 2**-5,
            1.375 - 2**-5,
            240,
            2**-9 * 0.5,
            2**-9 * 1.5,
            447.99,
            2**-7,
        ],
        dtype=np.float32,
    )
    values = np.concatenate([special, np.clip(values, -448, 448)]).reshape(1, -1)
    out = np.empty(values.shape, dtype=np.uint8)
    kernels.encode_e4m3(values, out)
    np.testing.assert_array_equal(out, values.astype(E4M3).view(np.uint8))


def test_fp8_quantize_layout_and_rules() -> None:
    rng = np.random.default_rng(2)
    rows, cols = 300, 200  # neither a multiple of 128
    weight = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    weight[:128, :128] = 0.0  # a block of zeros
    weight[200, 150] = 3.0  # one large value sets its block's scale
    q, scales = kernels.Fp8Quantizer().quantize(weight.astype(ml_dtypes.bfloat16))
    assert q.dtype == E4M3 and q.shape == (rows, cols)
    assert scales.dtype == np.float32 and scales.shape == (3, 2) == kernels.scale_shape(rows, cols)
    source = weight.astype(ml_dtypes.bfloat16).astype(np.float32)
    for bi in range(3):
        for bj in range(2):
            block = source[bi * 128 : (bi + 1) * 128, bj * 128 : (bj + 1) * 128]
            amax = float(np.abs(block).max())
            expected_scale = np.float32(amax) / np.float32(448) if amax else np.float32(1)
            assert scales[bi, bj] == expected_scale
            expected = np.clip(block / expected_scale, -448, 448).astype(E4M3)
            got = q[bi * 128 : (bi + 1) * 128, bj * 128 : (bj + 1) * 128]
            np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))
    assert float(np.abs(q.astype(np.float32)).max()) == 448.0  # each block's amax lands on 448
    restored = kernels.dequantize_fp8(q, scales)
    assert restored[200, 150] == pytest.approx(3.0)
    assert not restored[:128, :128].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64])
def test_fp8_quantize_accepts_each_floating_dtype(dtype: type) -> None:
    weight = (np.random.default_rng(3).standard_normal((129, 257)) * 0.1).astype(dtype)
    quantizer = kernels.Fp8Quantizer()
    q, scales = quantizer.quantize(weight)
    # e4m3 keeps 3 mantissa bits: each value within half a unit in the last place (2**-4 relative),
    # or within the subnormal step (scale * 2**-10) for the smallest.
    restored = kernels.dequantize_fp8(q, scales)
    step = np.repeat(np.repeat(scales, 128, 0), 128, 1)[:129, :257]
    source = weight.astype(np.float32)
    assert np.all(np.abs(restored - source) <= np.maximum(np.abs(source) * 2**-4, step * 2**-10) * 1.0001)
    again, _ = quantizer.quantize(weight)  # the reused buffers give the same answer
    np.testing.assert_array_equal(again.view(np.uint8), q.view(np.uint8))


def test_fp8_quantize_refuses_non_finite_values() -> None:
    weight = np.zeros((4, 4), dtype=np.float32)
    weight[1, 2] = np.inf
    with pytest.raises(kernels.KernelError, match="not finite"):
        kernels.Fp8Quantizer().quantize(weight)
    with pytest.raises(kernels.KernelError, match="2-D"):
        kernels.Fp8Quantizer().quantize(np.zeros(4, dtype=np.float32))


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (source, target)
        for source in (np.float32, np.float16, ml_dtypes.bfloat16, np.float64)
        for target in (kernels.BF16, kernels.FP16)
        if np.dtype(source) != target
    ],
)
def test_casts_match_numpy_and_ml_dtypes(source: type, target: np.dtype) -> None:
    values = _random_bits(1 << 18, 4)
    values = np.concatenate(
        [values, np.array([np.nan, np.inf, -np.inf, 1e5, -7e4, 65504, 65520, 2**-20], np.float32)]
    )
    tensor = (
        values.astype(source) if source is not np.float16 else np.clip(values, -65504, 65504).astype(source)
    )
    out = kernels.Caster().cast(tensor.reshape(2, -1), target)
    widened = tensor.astype(np.float32)
    expected = (
        np.clip(widened, -65504, 65504).astype(np.float16)
        if target == kernels.FP16
        else widened.astype(target)
    )
    both_nan = np.isnan(out.reshape(-1).astype(np.float32)) & np.isnan(expected.astype(np.float32))
    assert np.array_equal(out.reshape(-1).view(np.uint16)[~both_nan], expected.view(np.uint16)[~both_nan])
    if target == kernels.FP16:
        assert np.isfinite(out.astype(np.float32)[~np.isnan(out.astype(np.float32))]).all()  # clipped, no inf


def test_constants_are_the_formats_own() -> None:
    assert float(ml_dtypes.finfo(E4M3).max) == kernels.FP8_MAX
    assert float(np.finfo(np.float16).max) == kernels.FP16_MAX

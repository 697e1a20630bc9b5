"""``dtype="auto"`` on CPUs: bfloat16 only where the CPU has native bf16 matrix instructions.

The capability check (:func:`clipbridge.models.files.cpu_native_matmul`) is patched both ways, so
these tests say the same on an AVX2 machine and on one with AVX512-BF16/AMX.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clipbridge import Embedder
from clipbridge.cli.main import main
from clipbridge.errors import ModelLoadError
from clipbridge.models import clear_model_cache, files

ATOL, RTOL = 1e-5, 1e-4  # the reference's tolerance (tests/core/test_parity.py)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh_models():
    """Models are cached per (folder, device, dtype): one built under a patched check stays here."""
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture(params=[True, False], ids=["native-bf16", "no-native-bf16"])
def native(request, monkeypatch) -> bool:
    real = files.cpu_native_matmul

    def patched(dtype: torch.dtype) -> bool:
        return request.param if dtype == torch.bfloat16 else real(dtype)

    monkeypatch.setattr(files, "cpu_native_matmul", patched)
    monkeypatch.delenv(files.CPU_DTYPE_ENV, raising=False)  # tests/conftest.py pins it
    return request.param


def test_auto_is_bfloat16_only_on_a_cpu_with_native_bf16(native):
    assert files.resolve_dtype("auto", CPU) == (torch.bfloat16 if native else torch.float32)
    assert files.compute_dtype_for(CPU, torch.bfloat16) == (
        torch.bfloat16 if native else torch.float32
    )


def test_explicit_dtypes_and_other_devices_ignore_the_cpu(native):
    assert files.resolve_dtype("float32", CPU) == torch.float32
    assert files.resolve_dtype("bfloat16", CPU) == torch.bfloat16
    assert files.resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert files.resolve_dtype("auto", torch.device("mps")) == torch.float32


def test_embedder_auto_loads_the_resolved_dtype(native, tiny_model_path, fixture_texts):
    loaded = Embedder(tiny_model_path, device="cpu").backend.loaded
    want = torch.bfloat16 if native else torch.float32
    assert loaded.dtype == want
    assert next(loaded.model.parameters()).dtype == want
    assert loaded.compute_dtype == want


def test_float32_stays_exact_whatever_the_cpu(native, tiny_model_path, fixture_texts, expected):
    """``dtype="float32"`` is the reference's path even where auto would pick bfloat16."""
    emb = Embedder(tiny_model_path, device="cpu", dtype="float32", normalize=False, max_length=512)
    assert emb.backend.loaded.compute_dtype == torch.float32
    got = emb.embed_texts(fixture_texts)
    np.testing.assert_allclose(got, expected["text_embeds_raw"], atol=ATOL, rtol=RTOL)


def test_float32_images_equal_the_reference(native, tiny_model_path, fixture_images, expected):
    emb = Embedder(tiny_model_path, device="cpu", dtype="float32", normalize=False)
    got = emb.embed_images(fixture_images)
    np.testing.assert_allclose(got, expected["image_embeds_raw"], atol=ATOL, rtol=RTOL)


def test_info_prints_the_resolved_dtype_and_the_cpu(native, tiny_model_path, capsys):
    assert main(["info", "--model", tiny_model_path, "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    name = "bfloat16" if native else "float32"
    assert f"dtype: {name} (auto)" in out
    capability = torch.backends.cpu.get_cpu_capability()
    assert f"cpu: {capability}; native bf16: {'yes' if native else 'no'}" in out


def test_info_names_float32_compute_for_bf16_weights_without_native_bf16(
    monkeypatch, tiny_model_path, capsys
):
    monkeypatch.setattr(files, "cpu_native_matmul", lambda dtype: dtype == torch.float32)
    monkeypatch.delenv(files.CPU_DTYPE_ENV, raising=False)
    argv = ["info", "--model", tiny_model_path, "--device", "cpu", "--dtype", "bfloat16"]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert "dtype: bfloat16, computed in float32" in out
    assert "cpu: " + torch.backends.cpu.get_cpu_capability() + "; native bf16: no" in out


@pytest.mark.parametrize("value", ["float32", "bfloat16"])
def test_the_environment_variable_decides_auto_on_a_cpu(native, monkeypatch, value):
    monkeypatch.setenv(files.CPU_DTYPE_ENV, value)
    assert files.resolve_dtype("auto", CPU) == getattr(torch, value)
    assert files.resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16  # CPUs only
    assert files.resolve_dtype("float32", CPU) == torch.float32  # an explicit dtype wins


def test_a_bad_environment_value_is_one_sentence(monkeypatch, tiny_model_path):
    monkeypatch.setenv(files.CPU_DTYPE_ENV, "fp8")
    with pytest.raises(ModelLoadError, match="CLIPBRIDGE_CPU_DTYPE must be 'float32' or 'bf"):
        Embedder(tiny_model_path, device="cpu")

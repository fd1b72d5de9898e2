"""reasoner.cpu: the CPU class, the dtype it implies, vLLM's CPU settings, and the emulation
of an AVX2-only CPU on a stronger one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reasoner.cpu import CPU_CLASSES, choose_dtype, detect_cpu, emulation_env, serving_plan
from reasoner.server import ServerSpec, _command

BASE = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx"
CPUINFO = {
    "avx512-bf16": f"{BASE} avx2 fma avx512f avx512bw avx512_bf16",
    "amx": f"{BASE} avx2 fma avx512f amx_bf16 amx_tile",
    "avx512": f"{BASE} avx2 fma avx512f avx512bw",
    "avx2": f"{BASE} avx2 fma",
    "baseline": BASE,
}
MEMINFO = "MemTotal:       24576000 kB\nMemFree: 1 kB\n"


def cpu(flags: str, environ: dict | None = None):
    return detect_cpu(environ or {}, cpuinfo=f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n",
                      meminfo=MEMINFO)


@pytest.mark.parametrize("name, expected", [("avx512-bf16", "avx512-bf16"), ("amx", "avx512-bf16"),
                                            ("avx512", "avx512"), ("avx2", "avx2"), ("baseline", "baseline")])
def test_class_from_the_flags(name, expected):
    info = cpu(CPUINFO[name])
    assert info.cpu_class == info.hardware_class == expected and not info.emulated
    assert info.model == "Test CPU" and info.memory_gib == pytest.approx(23.4, abs=0.1)
    assert info.native_bf16 == (expected == "avx512-bf16")


@pytest.mark.parametrize("environ", [{"ATEN_CPU_CAPABILITY": "avx2"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"},
                                     {"ATEN_CPU_CAPABILITY": "AVX2", "ONEDNN_MAX_CPU_ISA": "avx2"}])
def test_torch_and_onednn_caps_emulate_avx2(environ):
    info = cpu(CPUINFO["avx512-bf16"], environ)
    assert info.hardware_class == "avx512-bf16" and info.cpu_class == "avx2" and info.emulated
    assert choose_dtype("auto", info) == "fp32"


def test_a_cap_above_the_hardware_changes_nothing():
    info = cpu(CPUINFO["avx2"], {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    assert info.cpu_class == "avx2" and not info.emulated


def test_dtype_auto_is_bf16_only_where_it_is_native():
    assert [choose_dtype("auto", cpu(CPUINFO[n])) for n in ("avx512-bf16", "avx512", "avx2")] == ["bf16", "fp32", "fp32"]
    assert choose_dtype("bf16", cpu(CPUINFO["avx2"])) == "bf16"  # an explicit choice wins
    assert choose_dtype("fp32", cpu(CPUINFO["amx"])) == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        choose_dtype("fp16", cpu(CPUINFO["avx2"]))


def test_serving_plan_uses_every_core_and_emulates_with_the_shim():
    native = serving_plan("auto", cpu(CPUINFO["amx"]), kv_cache_gib=4)
    assert native.dtype == "bf16" and native.vllm_dtype == "bfloat16" and not native.emulated
    assert native.env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"  # 2 cores here (<= 4): none idles
    assert "ATEN_CPU_CAPABILITY" not in native.env and "DEEPSTAR_EMULATED_CPU" not in native.env
    assert native.env["PYTHONPATH"].endswith("vllm_site")  # the grouped LoRA ops load on every class
    emulated = serving_plan("auto", cpu(CPUINFO["amx"], {"ATEN_CPU_CAPABILITY": "avx2"}), kv_cache_gib=4,
                            pythonpath="/somewhere")
    assert emulated.dtype == "fp32" and emulated.vllm_dtype == "float32" and emulated.emulated
    assert emulated.env["ONEDNN_MAX_CPU_ISA"] == "AVX2" and emulated.env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    shim, rest = emulated.env["PYTHONPATH"].split(os.pathsep)
    assert shim.endswith("vllm_site") and rest == "/somewhere"
    assert "no native bf16" in emulated.reason


def test_kv_cache_is_capped_by_memory():
    small = detect_cpu({}, cpuinfo="flags : avx2 fma\n", meminfo="MemTotal: 4194304 kB\n")  # 4 GiB
    assert serving_plan("auto", small, kv_cache_gib=4).env["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_the_server_command_carries_the_plans_dtype(tmp_path):
    spec = ServerSpec(model_path=tmp_path, served_name="m", state_path=tmp_path / "s.json", log_dir=tmp_path)
    for flags, env, dtype in ((CPUINFO["avx2"], {}, "float32"), (CPUINFO["amx"], {}, "bfloat16"),
                              (CPUINFO["amx"], {"ATEN_CPU_CAPABILITY": "avx2"}, "float32")):
        cmd = _command(spec, "cpu", serving_plan("auto", cpu(flags, env), kv_cache_gib=4))
        assert cmd[cmd.index("--dtype") + 1] == dtype
    cmd = _command(ServerSpec(model_path=tmp_path, served_name="m", state_path=tmp_path / "s.json",
                              log_dir=tmp_path, dtype="fp32"), "cuda")
    assert cmd[cmd.index("--dtype") + 1] == "float32"
    assert "--dtype" not in _command(spec, "cuda")  # auto on CUDA: vLLM's own choice


def test_this_machine_is_one_of_the_classes():
    info = detect_cpu()
    assert info.cpu_class in CPU_CLASSES and info.cores >= 1 and info.memory_gib > 0
    assert json.loads(json.dumps(info.as_dict()))["cpu_class"] == info.cpu_class


def test_training_asks_the_same_function(monkeypatch):
    import torch  # the train extra: CI installs it, so its absence fails here rather than skips

    from reasoner.train import resolve_dtype

    dev = torch.device("cpu")
    assert resolve_dtype("auto", dev) == (torch.bfloat16 if detect_cpu().native_bf16 else torch.float32)
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert resolve_dtype("auto", dev) == torch.float32
    assert resolve_dtype("bf16", dev) == torch.bfloat16


@pytest.mark.integration
def test_the_shim_makes_vllm_load_its_avx2_kernels():
    """A real child with the emulation environment: torch answers as an AVX2-only CPU, vLLM's
    CPU platform imports its AVX2 kernel library, and its attention takes the AVX2 kernels'
    ISA, not AMX tiles (which the AVX2 library lacks: 'Unsupported CPU attention configuration')."""
    info = detect_cpu({"ATEN_CPU_CAPABILITY": "avx2"})
    env = {**os.environ, **emulation_env(info, os.environ.get("PYTHONPATH", ""))}
    probe = ("import torch; from vllm.platforms.cpu import CpuPlatform; CpuPlatform.import_kernels(); "
             "from vllm.v1.attention.backends.cpu_attn import _get_attn_isa; "
             "assert _get_attn_isa(torch.bfloat16, 128, 256) == 'vec', _get_attn_isa(torch.bfloat16, 128, 256); "
             "print(torch.backends.cpu.get_cpu_capability(), torch.cpu._is_avx512_supported(), "
             "','.join(sorted({l.split('/')[-1].strip() for l in open('/proc/self/maps') if '/vllm/_C' in l})))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    capability, avx512, libraries = out.stdout.strip().splitlines()[-1].split(" ", 2)
    assert capability == "AVX2" and avx512 == "False"
    assert libraries.split(",") == ["_C_AVX2.abi3.so"]  # the library vLLM loads on an AVX2-only CPU

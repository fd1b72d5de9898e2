"""The CPU this process runs on, and the one decision that follows from it: which dtype the
model computes in, and how vLLM's CPU engine is set up.

Why it matters: on a CPU without native bf16 (no AVX512-BF16, no AMX) every bf16 matrix
product is emulated. Measured on a 2-core AVX2-only EPYC, torch's 1024x1024 bf16 matmul ran
at 0.9 GFLOP/s against 109 GFLOP/s in fp32, and vLLM served the bundled model slower in bf16
than in fp32. Where the CPU has native bf16 (AVX512-BF16 or AMX), bf16 halves the bytes read
per token and is the faster choice. `serve`, `quiet-star serve` and training all ask
`choose_dtype` here, so the three never disagree.

CPU classes, best first:
    avx512-bf16   AVX-512 with native bf16 (AVX512-BF16 or AMX-BF16): bf16
    avx512        AVX-512 without bf16: fp32
    avx2          AVX2 and FMA, no AVX-512 (many cloud VMs, AMD Zen 2/3): fp32
    baseline      anything older: fp32

Emulating a weaker class on a stronger machine (for measurements and CI on the other class):
torch's own variables `ATEN_CPU_CAPABILITY=avx2` and oneDNN's `ONEDNN_MAX_CPU_ISA=AVX2`
restrict the kernels torch and oneDNN dispatch to; `detect_cpu` reads them and reports the
class they allow, marked `emulated`. `emulation_env` gives the variables (MKL's included)
for child processes, plus a `sitecustomize` that makes vLLM load its AVX2 kernel library
(vLLM picks it from the hardware flags, which no variable masks). What emulation cannot
reproduce: the weaker machine's clock, caches and memory bandwidth.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CPU_CLASSES",
    "CpuInfo",
    "ServingPlan",
    "choose_dtype",
    "detect_cpu",
    "emulation_env",
    "site_pythonpath",
    "serving_plan",
]

CPU_CLASSES = ("avx512-bf16", "avx512", "avx2", "baseline")
DTYPES = ("auto", "bf16", "fp32")
# the server processes' sitecustomize (CPU emulation, grouped LoRA ops): see reasoner/vllm_site
_SITE_DIR = Path(__file__).with_name("vllm_site")


def site_pythonpath(pythonpath: str = "") -> str:
    """`pythonpath` with the vLLM site folder first (once)."""
    rest = [p for p in pythonpath.split(os.pathsep) if p and p != str(_SITE_DIR)]
    return os.pathsep.join([str(_SITE_DIR), *rest])

# ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA values -> the class they cap the process at
_ATEN_CAP = {"avx2": "avx2", "default": "baseline", "avx512": "avx512"}
_ONEDNN_CAP = {"avx2": "avx2", "avx2_vnni": "avx2", "avx2_vnni_2": "avx2", "avx": "baseline",
               "sse41": "baseline", "avx512_core": "avx512", "avx512_core_vnni": "avx512"}


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU offers. `cpu_class` is capped by ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA."""

    model: str
    flags: frozenset[str] = field(repr=False)
    cores: int  # CPUs this process may run on (affinity), not the host's
    memory_gib: float
    hardware_class: str
    cpu_class: str

    @property
    def emulated(self) -> bool:
        return self.cpu_class != self.hardware_class

    @property
    def native_bf16(self) -> bool:
        return self.cpu_class == "avx512-bf16"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = sorted(f for f in self.flags if f.startswith(("avx", "amx", "fma")))
        d["emulated"] = self.emulated
        d["native_bf16"] = self.native_bf16
        return d


def _hardware_class(flags: frozenset[str]) -> str:
    if "avx512f" in flags and ({"avx512_bf16", "amx_bf16"} & flags):
        return "avx512-bf16"
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags and "fma" in flags:
        return "avx2"
    return "baseline"


def _weaker(a: str, b: str) -> str:
    return max(a, b, key=CPU_CLASSES.index)


def _cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    model, flags = "unknown CPU", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    return model, flags


def _memory_gib(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def detect_cpu(environ: Mapping[str, str] | None = None, *, cpuinfo: str | None = None,
               meminfo: str | None = None) -> CpuInfo:
    """The CPU class of this process. `environ` (default os.environ) is read for torch's and
    oneDNN's ISA caps only; `cpuinfo`/`meminfo` replace /proc's files in tests."""
    env = os.environ if environ is None else environ
    model, flags = _cpuinfo(_read("/proc/cpuinfo") if cpuinfo is None else cpuinfo)
    hardware = _hardware_class(flags)
    capped = hardware
    aten = env.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if aten in _ATEN_CAP:
        capped = _weaker(capped, _ATEN_CAP[aten])
    onednn = env.get("ONEDNN_MAX_CPU_ISA", "").strip().lower()
    if onednn in _ONEDNN_CAP:
        capped = _weaker(capped, _ONEDNN_CAP[onednn])
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return CpuInfo(model=model, flags=flags, cores=cores,
                   memory_gib=_memory_gib(_read("/proc/meminfo") if meminfo is None else meminfo),
                   hardware_class=hardware, cpu_class=capped)


def choose_dtype(requested: str, cpu: CpuInfo) -> str:
    """'bf16' or 'fp32' for CPU compute: the request, or for 'auto' bf16 only where it is native."""
    if requested not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return "bf16" if cpu.native_bf16 else "fp32"


def emulation_env(cpu: CpuInfo, pythonpath: str = "") -> dict[str, str]:
    """Variables a child process needs to run as `cpu.cpu_class` on stronger hardware ({} when
    nothing is emulated). The sitecustomize shim masks AVX-512 from vLLM's kernel choice;
    `pythonpath` is the child's PYTHONPATH so far, kept behind the shim."""
    if not cpu.emulated:
        return {}
    env = {"ATEN_CPU_CAPABILITY": "avx2" if cpu.cpu_class == "avx2" else "default",
           "ONEDNN_MAX_CPU_ISA": "AVX2" if cpu.cpu_class == "avx2" else "SSE41",
           "MKL_ENABLE_INSTRUCTIONS": "AVX2" if cpu.cpu_class == "avx2" else "SSE4_2"}
    if cpu.cpu_class in ("avx2", "baseline"):
        env["PYTHONPATH"] = site_pythonpath(pythonpath)
        env["DEEPSTAR_EMULATED_CPU"] = cpu.cpu_class
    return env


@dataclass(frozen=True)
class ServingPlan:
    """How vLLM's CPU engine is started on this CPU: its dtype and environment."""

    dtype: str  # 'bf16' | 'fp32'
    cpu_class: str
    emulated: bool
    env: dict[str, str]
    reason: str

    @property
    def vllm_dtype(self) -> str:
        return {"bf16": "bfloat16", "fp32": "float32"}[self.dtype]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def serving_plan(requested_dtype: str, cpu: CpuInfo, *, kv_cache_gib: int, pythonpath: str = "") -> ServingPlan:
    """dtype and vLLM CPU settings for `cpu`.

    Threads: vLLM reserves one core for its scheduler by default, which on 2 cores leaves the
    model a single thread; every core computes here (the scheduler and API server mostly wait
    on the engine, and sharing measured faster than idling a core; see README, Performance).
    KV cache: the configured GiB, capped at a quarter of the machine's memory.
    """
    dtype = choose_dtype(requested_dtype, cpu)
    kv = max(1, min(kv_cache_gib, int(cpu.memory_gib // 4) or 1))
    env = {"VLLM_CPU_KVCACHE_SPACE": str(kv),
           "VLLM_CPU_OMP_THREADS_BIND": "auto",
           "VLLM_CPU_NUM_OF_RESERVED_CPU": "0" if cpu.cores <= 4 else "1",
           **emulation_env(cpu, pythonpath),
           # every server process loads the site folder: grouped LoRA ops (and the emulation shim)
           "PYTHONPATH": site_pythonpath(pythonpath)}
    why = (f"{requested_dtype} requested" if requested_dtype != "auto" else
           "native bf16 on this CPU" if dtype == "bf16" else "no native bf16 on this CPU: bf16 would be emulated")
    return ServingPlan(dtype=dtype, cpu_class=cpu.cpu_class, emulated=cpu.emulated, env=env, reason=why)

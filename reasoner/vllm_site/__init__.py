"""A `sitecustomize` for child processes that emulate a CPU without AVX-512.

`reasoner.cpu.emulation_env` puts this folder first on a child's PYTHONPATH when
ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA cap the process below the hardware's class.
vLLM's CPU build picks its kernel library (_C, _C_AVX512 or _C_AVX2) from torch's
hardware probes, which no environment variable masks; the shim answers them as the
emulated class would. Nothing here is imported by deepstar itself.
"""

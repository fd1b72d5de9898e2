"""Loaded at interpreter start of each vLLM-CPU server process (see __init__)."""

import os

if os.environ.get("DEEPSTAR_EMULATED_CPU") in ("avx2", "baseline"):
    try:
        import torch
    except ImportError:  # a child without torch has no kernel choice to make
        torch = None
    if torch is not None:
        # every AVX-512 and AMX probe vLLM consults: its kernel library (_C, _C_AVX512 or
        # _C_AVX2) and its attention ISA (AMX tiles for bf16) are picked from these
        for name in dir(torch.cpu):
            if name.startswith(("_is_avx512", "_is_amx")):
                setattr(torch.cpu, name, lambda: False)

if os.environ.get("DEEPSTAR_LORA_OPS", "grouped") != "reference":
    try:
        import deepstar_lora_ops
    except ImportError:  # a process started with this folder on its path but without it
        deepstar_lora_ops = None
    if deepstar_lora_ops is not None:
        deepstar_lora_ops.install()

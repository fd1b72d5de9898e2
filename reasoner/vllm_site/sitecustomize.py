"""Loaded at interpreter start of a child that emulates an AVX2-only CPU (see __init__)."""

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

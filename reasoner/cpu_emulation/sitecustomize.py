"""Loaded at interpreter start of a child that emulates an AVX2-only CPU (see __init__)."""

import os

if os.environ.get("DEEPSTAR_EMULATED_CPU") in ("avx2", "baseline"):
    try:
        import torch
    except ImportError:  # a child without torch has no kernel choice to make
        torch = None
    if torch is not None:
        torch.cpu._is_avx512_supported = lambda: False
        torch.cpu._is_avx512_bf16_supported = lambda: False

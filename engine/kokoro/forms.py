"""Which form of the decoder graph this machine runs, and the session settings every stage uses.

Two forms of the decoder hold the same integers: the shipped one (`stage_decoder.onnx`, u8×u8
`ConvInteger`) and `stage_decoder_vnni.onnx` (engine/kokoro/int8.py: im2col + u8×s8
`MatMulIntegerToFloat`), which onnxruntime runs on its VNNI kernels: 0.80× the decoder's time on
an AVX-512 VNNI CPU (bench/results/decoder_variants.md). Without VNNI, onnxruntime's u8×s8 kernel
sums byte pairs in int16 (vpmaddubsw) and full-range s8 weights can saturate it, so such CPUs keep
the shipped graph, and asking for the VNNI form there is an error (on an AVX2 CPU its takes correlate
0.40 with the shipped decoder's). Light: no onnxruntime, no onnx (the cache key asks for the form).
"""
from __future__ import annotations

import os
from functools import lru_cache

from ..errors import InputError

ENV = "TAKEFIT_DECODER"          # auto (default) | vnni | shipped
FORMS = ("auto", "vnni", "shipped")


@lru_cache(maxsize=1)
def cpu_features() -> frozenset[str]:
    """The CPU features numpy's dispatcher found (it reads the same cpuid bits as onnxruntime's MLAS)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:           # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return frozenset(name for name, present in features.items() if present)


@lru_cache(maxsize=1)
def cpu_has_vnni() -> bool:
    """AVX-512 VNNI (numpy lists it) or AVX-VNNI (Alder Lake and later: numpy does not list it, Linux's
    cpu flags do)."""
    if "AVX512VNNI" in cpu_features():
        return True
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            return any(line.startswith("flags") and " avx_vnni" in line for line in f)
    except OSError:
        return False


def decoder_form() -> str:
    """'vnni' or 'shipped' for this process: $TAKEFIT_DECODER, else 'vnni' where the CPU has VNNI."""
    wanted = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if wanted not in FORMS:
        raise InputError(f"{ENV}={wanted!r} is not a decoder form; use one of {', '.join(FORMS)}")
    if wanted == "auto":
        return "vnni" if cpu_has_vnni() else "shipped"
    if wanted == "vnni" and not cpu_has_vnni():
        raise InputError(f"{ENV}=vnni needs a CPU with AVX-512 VNNI or AVX-VNNI and this one has neither: its "
                         f"u8×s8 kernel saturates and the takes come out wrong (correlation 0.40 with the shipped "
                         f"decoder's, measured on an AVX2 CPU). Unset {ENV} or set it to shipped; for a cluster "
                         f"with such workers, set {ENV}=shipped on the dubbing machine (its form is the workers').")
    return wanted


def stage_file(name: str) -> str:
    """The graph a stage loads: 'decoder' becomes 'decoder_vnni' in the VNNI form."""
    return "decoder_vnni" if name == "decoder" and decoder_form() == "vnni" else name

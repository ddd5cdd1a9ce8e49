"""What enrollment's backward pass keeps (engine/enroll/saving.py) against the node-by-node graph, side
by side: alternating rounds, each in a fresh process (first touches of that memory are a cost).

    nice -n 5 python bench/enroll_saved.py [--rounds 2] [--steps 10] [--threads 2]

"plain" is the graph as it ran before saving.py: PyTorch's own conv1d (which saves its input for a weight
gradient nobody asks for) and each Snake as its five ONNX nodes. The reference is a built-in voice
(af_nicole, excluded from the start pick) reading one sentence, as in tests/test_enroll.py; quality fast.
Prints wall time, the steps' mean, minor page faults, kernel time, peak RSS, the objective, and — after
the enrollment, in the same process — the bytes one forward pass on the first practice sentence saves for
backward, by ONNX op type.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from enroll_heap import ENROLL, compare                                 # noqa: E402

CHILD = r"""
import sys
import torch.nn.functional as F
from takefit.engine.enroll import graph
if sys.argv[1] != "saving":
    graph._snake_chains = lambda nodes, consts: {}
    graph.conv1d = lambda x, w, b, stride, pad, dil, groups: F.conv1d(x, w, b, stride, pad, dil, groups)
""" + ENROLL + r"""
import collections, json
import numpy as np, torch
from takefit.engine.enroll.invert import practice

s = practice(engine, "af_kore", engine.voice_bank.table("af_kore"), 1.0, "en", 1)[0]
dec = graph.TorchDecoder(engine.paths.stage("decoder"), threads=threads)
dec.prepare(s.tokens, s.row, s.frames, s.f0, s.energy)
op, kept, seen = ["?"], collections.Counter(), set()
for step in dec.steps:
    step.fn = (lambda f, name: lambda *a: (op.__setitem__(0, name), f(*a))[1])(step.fn, step.op)
def pack(t):
    if t.data_ptr() not in seen:
        seen.add(t.data_ptr())
        kept[op[0]] += t.numel() * t.element_size()
    return t
row_t = torch.from_numpy(s.row.astype(np.float32))
delta = torch.zeros(128, requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    dec(torch.cat([row_t[:128] + delta, row_t[128:]]))
row["saved_mib"] = {k: v / 2**20 for k, v in kept.most_common()}
row["audio_s"] = s.seconds
print(json.dumps(row))
"""


def _saved_table(rows: list[dict]) -> list[str]:
    first = {r["graph"]: r for r in rows if r["round"] == 1}
    ops = sorted({k for r in first.values() for k in r["saved_mib"]},
                 key=lambda k: -first["plain"]["saved_mib"].get(k, 0))
    audio = first["plain"]["audio_s"]
    out = [f"\nsaved for backward by one forward ({audio:.2f} s practice sentence), MiB by op type\n",
           "| op | plain | saving |", "|---|---:|---:|"]
    for k in ops:
        a, b = (first[g]["saved_mib"].get(k, 0.0) for g in ("plain", "saving"))
        if max(a, b) >= 1:
            out.append(f"| {k} | {a:.1f} | {b:.1f} |")
    total = {g: sum(first[g]["saved_mib"].values()) for g in first}
    out.append(f"| **total** | **{total['plain']:.0f}** | **{total['saving']:.0f}** |")
    return out


def main() -> None:
    rows = compare(__doc__, CHILD, {"plain": "plain", "saving": "saving"}, "graph",
                   ("peak RSS MiB", lambda r: f"{r['rss_mib']:.0f}"))
    print("\n".join(_saved_table(rows)))


if __name__ == "__main__":
    main()

"""`takefit emotion` — what an emotion description (or preset, vector, reference clip) will do."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from takefit.engine.emotion import EMOTIONS, Emotion, canonical, dominant
from takefit.engine.errors import InputError

DESCRIPTION = """\
Show the 8-float emotion vector [happy, angry, sad, afraid, disgusted, melancholic, surprised, calm]
that a description maps to (dominant emotion first), and how takefit will deliver it (pitch, range,
level, rate, pauses), before rendering anything.

TEXT may be a description in Chinese or English ("愤怒地质问，语气急促", "sadly and slowly"; intensity
words such as 有点 / 非常 / slightly / extremely scale it), a preset with an intensity ("angry 0.7",
"生气", "neutral"), or a vector ("0,0.8,0,0,0,0,0.1,0.1"). With --ref, a reference clip is measured
instead. Use the same forms in cue tags ([alice | emotion_text=愤怒地质问]) and cast files."""

EPILOG = """examples:
  takefit emotion "愤怒地质问，语气急促"
  takefit emotion "slightly sad, speaking slowly" --json
  takefit emotion "contempt 0.5"
  takefit emotion --ref refs/angry.wav --alpha 0.8
"""


def register(sub) -> None:
    p = sub.add_parser("emotion", help="show the emotion vector a description maps to",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", help="a description, a preset ('angry 0.7') or an 8-float vector")
    p.add_argument("--ref", metavar="CLIP", help="measure a reference clip (WAV/FLAC) instead of TEXT")
    p.add_argument("--alpha", type=float, default=1.0, help="emo_alpha, how much of the emotion (0-1, default 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def emotion_for(text: str | None, ref: str | None, alpha: float):
    """TEXT as a preset or vector when it is one, else a description."""
    if ref:
        if text:
            raise InputError("give TEXT or --ref, not both")
        return Emotion(reference=str(Path(ref).expanduser().resolve()), alpha=alpha)
    if not text or not text.strip():
        raise InputError("give a description, e.g. takefit emotion \"sadly and slowly\" (or --ref CLIP)")
    first = text.strip().split()[0].split(":")[0]
    if canonical(first) is not None and len(text.split()) <= 2 or "," in text and \
            all(p.strip().replace(".", "", 1).isdigit() for p in text.strip("[]() ").split(",")):
        return Emotion.parse(text, alpha)
    return Emotion(text=text, alpha=alpha)


def run(args) -> int:
    from takefit.engine.emotion.resolve import EmotionResolver

    emotion = emotion_for(args.text, args.ref, args.alpha)
    resolved = EmotionResolver().resolve(emotion)
    ranked = dominant(resolved.vector)
    doc = {"input": args.text if not args.ref else args.ref, "form": emotion.kind, "source": resolved.source,
           "vector": [round(v, 4) for v in resolved.vector], "order": list(EMOTIONS),
           "ranked": [{"emotion": e, "weight": round(w, 4)} for e, w in ranked],
           "dominant": ranked[0][0] if ranked[0][1] > 0 else None, "delivery": resolved.delivery.to_json()}
    if emotion.reference:
        from takefit.engine.emotion.reference import analyse
        doc["clip"] = analyse(emotion.reference).to_json()
    if args.json:
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0
    print(f"{doc['input']}  →  {doc['dominant'] or 'neutral'}   ({emotion.kind}"
          + (f", alpha {emotion.alpha:g}" if emotion.alpha != 1 else "") + ")")
    for e, w in ranked:
        print(f"  {e:<12} {w:4.2f}  {'█' * round(w * 20)}")
    d = resolved.delivery
    print(f"delivery: pitch {d.f0_shift:+.1f} st, range ×{d.f0_range:.2f}, level {d.gain_db:+.1f} dB, "
          f"rate ×{d.rate:.2f}, pauses ×{d.pause:.2f}")
    print("vector: [" + ", ".join(f"{v:g}" for v in resolved.vector) + "]")
    return 0

"""`takefit voices` — the built-in voices with language, gender and a one-line note (upstream's grade)."""
from __future__ import annotations

import json

from takefit.engine import assets
from takefit.engine.kokoro.voices import describe
from takefit.engine.profiles import ProfileStore


def register(sub) -> None:
    p = sub.add_parser("voices", help="list the voices", description="List the built-in voices.")
    p.add_argument("--language", help="only this language (en, zh, ja, fr, ...)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    names = sorted(assets.sources()["voices"]["files"])
    infos = [describe(n) for n in names]
    if args.language:
        infos = [v for v in infos if v.language == args.language]
    if args.json:
        print(json.dumps([v.to_wire() for v in infos], ensure_ascii=False, indent=1))
        return 0
    print(f"{'voice':<16}{'language':<10}{'gender':<8}{'accent':<22}note (grades: hexgrad/Kokoro-82M VOICES.md)")
    for v in infos:
        print(f"{v.name:<16}{v.language:<10}{v.gender:<8}{v.accent:<22}{v.note}")
    enrolled = ProfileStore().names()
    if enrolled:
        print(f"\nenrolled voices ({len(enrolled)}): {', '.join(enrolled)} — details: takefit voice list")
    return 0

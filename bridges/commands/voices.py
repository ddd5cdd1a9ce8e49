"""`takefit voices` — the built-in voices with language and gender."""
from __future__ import annotations

import json

from takefit.engine import assets
from takefit.engine.kokoro.voices import DEFAULT_VOICE, describe
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
        print(json.dumps([v.__dict__ for v in infos], ensure_ascii=False, indent=1))
        return 0
    defaults = set(DEFAULT_VOICE.values())
    print(f"{'voice':<16}{'language':<10}{'gender':<8}accent")
    for v in infos:
        mark = "  (default for " + v.language + ")" if v.name in defaults else ""
        print(f"{v.name:<16}{v.language:<10}{v.gender:<8}{v.accent}{mark}")
    enrolled = ProfileStore().names()
    if enrolled:
        print(f"\nenrolled voices ({len(enrolled)}): {', '.join(enrolled)} — details: takefit voice list")
    return 0

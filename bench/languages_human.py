#!/usr/bin/env python3
"""Languages against people: how Whisper base reads a professional speaker, beside takefit reading her words.

bench/languages.py puts takefit's takes above a floor (espeak-ng speaking the same phonemes); this bench
gives the other end of the scale for the languages where an open recording of a person exists with its
text: Asterisk's core prompt sets (Debian packages, CC-BY-SA-3.0), read by IVR voice actors in a studio
and kept as wideband G.722 (16 kHz sampling, 50–7000 Hz):

- French: June Wallack (Canadian French), `fr_CA_f_June`;
- Spanish: Allison Smith (Mexican Spanish), `es_MX_f_Allison`.

Each set's text package holds the prompts' texts (`core-sounds-<lang>.txt`). Every prompt of at least
MIN_WORDS words and at most MAX_SECONDS long (Whisper's one window), with no digits (the file writes some
numbers as the recording does not say them) and no description of a sound (`[beep]`, `(ahooga)`), is
taken once (the first of identical texts); takefit
reads the same text in each of the language's voices, natural, at 16 kHz. Both are transcribed by
Whisper base exactly as bench/languages.py does (language forced, greedy and/or reference decoding) and
scored with its normalisation (WER after word joins). The Spanish text file writes no accents
("numero", "telefono"), so for Spanish both sides are compared with accents folded; French keeps them.
The texts are used as written, typos included ("présentemnet"): takefit reads the letters, the speaker
read the word, so a typo counts against takefit only.

The table gives each column's pooled WER and the difference takefit − human with a 95 % interval from
a paired bootstrap over prompts (2000 resamples): a difference whose interval holds 0 is no difference
this many prompts can show.

    .venv/bin/python bench/languages_human.py                       # fr + es, greedy: ~10 min on 2 cores
    .venv/bin/python bench/languages_human.py --decoding both --languages fr
    .venv/bin/python bench/languages_human.py --from-jsonl bench/results/languages_human.jsonl
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import enroll_real  # noqa: E402  (the recordings' fetching and G.722 decoding)
import languages  # noqa: E402  (the recogniser, the takes and the scoring)

RESULTS = languages.RESULTS
MIN_WORDS = 6
# Whisper hears 30 s at a time and, without timestamps, drops what a long recording says past its first
# window (a 40 s Spanish prompt came back as its first and last sentences): both sides stay within one
MAX_SECONDS = 20.0
G722_BYTES_PER_SECOND = 8000     # 64 kbit/s, no header


@dataclass(frozen=True)
class PromptSet:
    """One language's recorded prompts: the audio package, the text package and where each keeps its files."""
    speaker: str
    audio_package: str
    folder: str                 # the recordings, inside the audio package
    text_package: str
    transcript: str             # the texts, inside the text package
    fold_accents: bool = False  # the text file writes no accents: compare both sides without them


SETS = {"fr": PromptSet("June Wallack (fr-CA)", "asterisk-core-sounds-fr-g722",
                        "/usr/share/asterisk/sounds/fr_CA_f_June", "asterisk-core-sounds-fr",
                        "/usr/share/doc/asterisk-core-sounds-fr/core-sounds-fr.txt.gz"),
        "es": PromptSet("Allison Smith (es-MX)", "asterisk-core-sounds-es-g722",
                        "/usr/share/asterisk/sounds/es_MX_f_Allison", "asterisk-core-sounds-es",
                        "/usr/share/doc/asterisk-core-sounds-es/core-sounds-es.txt.gz", fold_accents=True)}


READING = """Reading it: each prompt's recording and takefit's take of its text are transcribed alike; the
human column is what Whisper base makes of a professional voice in a studio, so a goal below it asks more of
a take than of a person. Both sides are counted against the set's text file, which is not always what was
recorded (a Spanish prompt's recording begins with another prompt's sentence); IVR prompts pause between
sentences, and on some Spanish recordings Whisper stops at the pause and drops the rest — that much of the
human column is the recogniser and the files, not the voice. Rows per prompt: languages_human.jsonl.

Recordings and texts: Asterisk core sounds 1.6.1 (Debian asterisk-core-sounds-fr/-es and their -g722
packages), French © 2006-2008 June Wallack (translation Clod Patry, Kristopher Lalletti, June Wallack),
Spanish © 2003-2010 Allison Smith, financial contributions Digium; CC-BY-SA-3.0. The prompt texts quoted
in languages_human.jsonl are under that licence."""


def usable(text: str) -> bool:
    return len(text.split()) >= MIN_WORDS and not re.search(r"[\d\[\]()]", text)


def prompts(lang: str, limit: int | None = None) -> list[tuple[str, str, Path]]:
    """(name, text, recording) of the set's usable prompts, first of identical texts, in the file's order."""
    s, packages = SETS[lang], enroll_real.manifest()["packages"]
    audio = enroll_real.fetch_package(s.audio_package, packages[s.audio_package]["version"])
    texts = enroll_real.fetch_package(s.text_package, packages[s.text_package]["version"])
    out, seen = [], set()
    with gzip.open(texts / s.transcript.lstrip("/"), "rt", encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([\w/-]+):\s*(.+)$", line.strip())
            if not m or not usable(m[2]):
                continue
            path = audio / s.folder.lstrip("/") / f"{m[1]}.g722"
            key = languages.norm_words(m[2], lang)
            if path.is_file() and path.stat().st_size <= MAX_SECONDS * G722_BYTES_PER_SECOND and key not in seen:
                seen.add(key)
                out.append((m[1], m[2].strip(), path))
    return out[:limit]


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def score(asr, audio16: np.ndarray, text: str, lang: str) -> dict:
    hyp = asr(audio16, lang)
    if SETS[lang].fold_accents:
        return {**languages.score_text(fold(hyp), fold(text), lang), "hyp": hyp}
    return languages.score_text(hyp, text, lang)


def run(langs: list[str], out: Path, decoding: str, limit: int | None, log=print) -> list[dict]:
    asrs, takes, rows = languages.recognisers(decoding), languages.Takes(), []
    with out.open("w", encoding="utf-8") as f:
        for lang in langs:
            t0, items = time.perf_counter(), prompts(lang, limit)
            for name, text, path in items:
                heard = {"human": enroll_real.decode_g722(path)}
                for voice in languages.VOICES[lang]:
                    heard[voice] = takes(text, voice, None)[0]
                for column, audio in heard.items():
                    for dec, asr in asrs.items():
                        row = {"lang": lang, "prompt": name, "text": text, "column": column, "decoding": dec,
                               **score(asr, audio, text, lang)}
                        rows.append(row)
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
            log(f"{lang}: {len(items)} prompts in {time.perf_counter() - t0:.0f} s")
    return rows


def bootstrap_difference(mine: list[dict], column: str, seed: int = 0) -> tuple[float, float, float]:
    """WER(column) − WER(human), pooled, and its 95 % interval over prompts resampled in pairs."""
    by = {(r["prompt"], r["column"]): r for r in mine}
    names = sorted({r["prompt"] for r in mine})
    e_h, e_t = (np.array([by[(n, c)]["errors"] for n in names], float) for c in ("human", column))
    length = np.array([by[(n, "human")]["ref_len"] for n in names], float)
    return (float((e_t.sum() - e_h.sum()) / length.sum()),
            *languages.bootstrap_interval(e_t - e_h, length, seed))


def table(rows: list[dict]) -> str:
    head = ["language", "decoding", "speaker (recording)", "human WER", "takefit voice", "takefit WER",
            "takefit − human (95 % interval)", "prompts", "words"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lang in dict.fromkeys(r["lang"] for r in rows):
        for dec in dict.fromkeys(r["decoding"] for r in rows if r["lang"] == lang):
            mine = [r for r in rows if r["lang"] == lang and r["decoding"] == dec]
            human = [r for r in mine if r["column"] == "human"]
            for voice in languages.VOICES[lang]:
                d, lo, hi = bootstrap_difference(mine, voice)
                lines.append(f"| {lang} | {dec} | {SETS[lang].speaker} | {languages.pooled(human):.1%} | {voice} | "
                             f"{languages.pooled([r for r in mine if r['column'] == voice]):.1%} | "
                             f"{d * 100:+.1f} points ({lo * 100:+.1f} … {hi * 100:+.1f}) | {len(human)} | "
                             f"{sum(r['ref_len'] for r in human)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="The recordings are fetched with apt-get download into ~/.cache/takefit/"
                                        "real_speech (bench/data/real_speech.json lists them and their licences).")
    ap.add_argument("--languages", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--decoding", choices=[*languages.DECODINGS, "both"], default="greedy",
                    help="Whisper's decoding, as in bench/languages.py (default greedy)")
    ap.add_argument("--prompts", type=int, default=None, help="at most this many prompts per language")
    ap.add_argument("--out", type=Path, default=RESULTS / "languages_human.jsonl", help="the table goes beside it")
    ap.add_argument("--from-jsonl", type=Path, help="only rebuild the table from a saved run")
    args = ap.parse_args(argv)
    langs = [x.strip() for x in args.languages.split(",") if x.strip()]
    unknown = [x for x in langs if x not in SETS]
    if unknown:
        ap.error(f"no recorded prompts for {', '.join(unknown)}: choose from {', '.join(SETS)}")
    if args.from_jsonl:
        rows = [json.loads(x) for x in args.from_jsonl.read_text("utf-8").splitlines() if x.strip()]
    else:
        rows = run(langs, args.out, args.decoding, args.prompts, log=lambda m: print(m, file=sys.stderr))
    text = "# bench/languages_human.py\n\n" + table([r for r in rows if r["lang"] in langs]) + "\n\n" + READING + "\n"
    print(text)
    if not args.from_jsonl and args.prompts is None:       # a sample run leaves the report alone
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

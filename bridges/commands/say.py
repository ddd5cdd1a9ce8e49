"""`takefit say` — speak one line, fitted to a length, into a 48 kHz / 24-bit WAV."""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

from takefit.engine import bwf
from takefit.engine.bwf import DROP_FRAME_RATES, Broadcast, since_midnight
from takefit.engine.backend import clip_refusal, is_clip_voice
from takefit.engine.errors import InputError, OutputError, UnknownVoiceError
from takefit.engine.files import check_writable, write_atomic
from takefit.engine.pins import frame_rate
from takefit.engine.request import (DEFAULT_LEAD, DEFAULT_TAIL, FIT_METHODS, LANGUAGES, MAX_TEXT_CHARS, MAX_VARIANT,
                                    check_variant, target_string)
from takefit.engine.target import SYNTAX_HELP, Target, parse_rate
from takefit.engine.emotion import Emotion
from takefit.bridges.commands.emotion import emotion_for
from takefit.bridges.commands.levels import add_levels, levels
from takefit.bridges.resolve.frames import RateError, timecode_to_frame

EPILOG = f"""targets (pick one; none = the natural length):
  --fit 3.2s            exactly 3.2 seconds (also 3.2, 1500ms)
  --ratio 0.9           90 % of the line's natural length
  --frames 77@23.976    77 frames at 23.976 fps (24000/1001); also 25, 29.97, 30000/1001 ...

where the speech goes (the slot is the target length):
  the first sound starts at the slot's first frame (--lead, default 0) and the last sound ends
  --tail before its last frame (default 0.04 s: the decay, so no final consonant is cut). A vowel the
  model would hold on as near-silence is cut, not stretched; pauses inside the line stay.

hit points — pin a word's onset to a time in the slot (from its first frame):
  "Ready? {{@1.5s}}Go!"        "Go" starts 1.5 s into the slot (also {{@1500ms}})
  "三，二，一，{{@48f}}开始！"     frames at the timeline rate: --frames N@FPS gives it, or --fps
  --explain shows the segments between pins and where each pinned word starts naturally.

pronunciation:
  inline pinyin         这个行(xíng)不行(xing2)？   银行(yin2 hang2)  — tone marks or numbers, any case
  inline IPA            [Kokoro](/kˈOkəɹO/)   — any language but Chinese (Kokoro's phoneme set)
  Japanese readings     東京(とうきょう)  東京(tōkyō)   — kana or romaji after the kanji
  dictionary file       --dict words.txt, lines like `重庆  chong2 qing4`, `takefit  tˈAkfɪt`,
                        `東京  とうきょう`; a line `[es]` starts entries for Spanish only (docs/languages.md)

languages (-l): zh en ja es fr it pt (Brazilian) hi. Kana → Japanese, Devanagari → Hindi; kanji →
  Japanese on a line with kana or in a Japanese voice, else Mandarin; Latin letters → -l when it is a
  Latin-script language, else the voice's language (`-v ef_dora "Hola"` is Spanish), else English.

examples:
  takefit say "Hello there." --fit 1.5s -o hello.wav
  takefit say "我们用 takefit 给视频配音。" --frames 77@23.976 -v zm_yunxi
  takefit say --explain "他还没还钱。"          # how it will be read, natural length; renders nothing
  echo "Line from a script." | takefit say - --ratio 1.1 --json
  takefit say -f line.txt --fit 4s --method stretch --rate 44100
  takefit say "Roll camera." --fit 1.5s --take 2 -o roll_t2.wav   # another read, the same 1.5 s
  takefit say "你怎么能这样？" --emotion "愤怒地质问，语气急促" --fit 2s    # emotion first, then the exact fit

The take is loudness-normalised to -23 LUFS (EBU R128; --loudness off to keep the raw level),
true peak ≤ -1 dBTP, limited where a loud target needs it; --delivery netflix (or atsc-a85, podcast …)
sets both to what that spec asks.
A slot that needs more than 0.7-1.4x the natural pace still renders, with a warning that says what
would fit; one that cannot be met at all is an error naming the feasible range.
Text: at most {MAX_TEXT_CHARS} characters per line.
"""


def register(sub) -> None:
    p = sub.add_parser("say", help="speak a line fitted exactly to a length",
                       description="Render TEXT (Chinese, English, Japanese, Spanish, French, Italian, Portuguese, "
                                   "Hindi or mixed) in a voice, exactly the length "
                                   "you ask for, to a 48 kHz 24-bit WAV.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", help="the line; '-' or nothing reads standard input")
    p.add_argument("-f", "--file", type=Path, help="read the line from a UTF-8 text file")
    p.add_argument("-v", "--voice", default="auto", help="voice name (`takefit voices`); auto picks by language. "
                   "With --daemon on a backend that clones clips (--backend indextts): an audio file's path")
    p.add_argument("-l", "--language", default="auto", choices=LANGUAGES,
                   help="the line's language (default auto: by script, Latin letters by the voice's language; "
                        "pt is Brazilian Portuguese)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fit", metavar="LENGTH", help="target length: 3.2s, 3.2, 1500ms")
    g.add_argument("--ratio", metavar="R", help="target = R × natural length, e.g. 0.9")
    g.add_argument("--frames", metavar="N@FPS", help="target in frames, e.g. 77@23.976")
    p.add_argument("-o", "--output", type=Path, help="output WAV (default: takefit-<hash>.wav here)")
    p.add_argument("--method", default="auto", choices=FIT_METHODS,
                   help="duration fitting (default: auto, chosen per ratio from measured intelligibility)")
    p.add_argument("--rate", type=int, default=48000, help="output sample rate (default: 48000)")
    p.add_argument("--pre-roll", type=float, default=0.0, metavar="S", help="seconds of silence first, inside the length")
    p.add_argument("--lead", type=float, default=DEFAULT_LEAD, metavar="S",
                   help=f"seconds from the slot's start to the first sound (default {DEFAULT_LEAD:g})")
    p.add_argument("--tail", type=float, default=DEFAULT_TAIL, metavar="S",
                   help=f"seconds from the last sound's end to the slot's end (default {DEFAULT_TAIL:g})")
    p.add_argument("--fps", metavar="RATE", help="frame rate for hit points in frames ({@30f}) when the target "
                   "is not --frames, e.g. 23.976 or 25")
    add_levels(p, "target")
    p.add_argument("--speed", type=float, default=1.0, help="natural pace multiplier before fitting (0.5-2)")
    p.add_argument("--dict", type=Path, metavar="FILE", help="pronunciation dictionary (word → pinyin / kana / IPA)")
    p.add_argument("--explain", action="store_true", help="print how the line will be read; render nothing")
    p.add_argument("--emotion", metavar="E", help="emotion: a preset ('angry 0.7', '生气'), an 8-float vector "
                   "('0,0.8,0,0,0,0,0.1,0.1'), a description ('愤怒地质问', 'sadly and slowly') or 'from_line' "
                   "(`takefit emotion E` shows what it maps to)")
    p.add_argument("--emotion-ref", metavar="CLIP", help="emotion from a reference clip (its delivery is transferred)")
    p.add_argument("--emo-alpha", type=float, default=1.0, metavar="A", help="how much of the emotion, 0-1 (default 1)")
    p.add_argument("--variant", "--take", type=int, default=1, metavar="N",
                   help=f"another read of the same line: pauses, pitch contour, pace and intensity vary; the "
                        f"length still fits exactly; N=1 is the standard read (default), 2-{MAX_VARIANT} others, "
                        f"each the same every time")
    p.add_argument("--timecode", metavar="TC@FPS",
                   help="where the take goes on a timeline, e.g. 01:00:10:00@23.976 (01:00:10;00@29.97: drop "
                        "frame): stored as its BWF time reference, so an editor drops it there; default 0")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--daemon", action="store_true",
                   help="render through the takefit daemon (started if none is running; see `takefit daemon`)")
    p.set_defaults(func=run)


def read_text(args) -> str:
    if args.file is not None:
        if args.text not in (None,):
            raise InputError("give the text either as an argument or with -f FILE, not both")
        try:
            return args.file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read text file {args.file}: {e}") from None
    if args.text in (None, "-"):
        if sys.stdin is None or (args.text is None and sys.stdin.isatty()):
            raise InputError("no text given: pass TEXT, -f FILE, or pipe the line into `takefit say -`")
        return sys.stdin.read()
    return args.text


def parse_target(args) -> Target:
    if args.fit:
        t = Target.parse(args.fit)
        if t.kind != "seconds":
            raise InputError(f"--fit takes a length in seconds, got {args.fit!r}; {SYNTAX_HELP}")
        return t
    if args.ratio:
        return Target.parse(args.ratio.rstrip("xX") + "x")
    if args.frames:
        t = Target.parse(args.frames)
        if t.kind != "frames":
            raise InputError(f"--frames takes N@FPS, e.g. 77@23.976, got {args.frames!r}")
        return t
    return Target.natural()


def pin_rate(args, target: Target):
    """The frame rate hit points in frames are counted in: the --frames target's, else --fps."""
    return frame_rate(target, parse_rate(args.fps) if getattr(args, "fps", None) else None)


def timecode_position(args, target: Target) -> tuple[Fraction, Fraction | None, bool]:
    """--timecode → (seconds since midnight, frame rate, drop frame); without it (0, the target's or
    --fps's rate, False). The rate after '@', else --frames' or --fps'."""
    rate = pin_rate(args, target)
    if not getattr(args, "timecode", None):
        return Fraction(0), rate, False
    tc, _, fps = args.timecode.partition("@")
    rate = parse_rate(fps) if fps.strip() else rate
    if rate is None:
        raise InputError(f"--timecode {args.timecode!r} needs its frame rate: e.g. {tc.strip()}@25 (or give "
                         f"--frames N@FPS or --fps)")
    try:
        frame = timecode_to_frame(tc, rate)
    except RateError as e:
        raise InputError(f"--timecode: {e} (e.g. 01:00:10:00@23.976)") from None
    if frame < 0:
        raise InputError(f"--timecode {args.timecode!r} is before midnight: a time reference starts at 00:00:00:00")
    drop = tc.strip().rstrip("0123456789")[-1:] in (";", ",", ".") and rate in DROP_FRAME_RATES
    return since_midnight(frame, rate), rate, drop


def take_broadcast(args, target: Target, text: str, voice: str) -> Broadcast:
    """The take's bext/iXML: the line, its voice, and --timecode as its place."""
    position, rate, drop = timecode_position(args, target)
    return Broadcast(description=text, position=position, timecode_rate=rate, drop_frame=drop,
                     note=f"{text} [{voice}]")


def default_output(text: str, variant: int = 1) -> Path:
    """takefit-<hash>.wav; another read of the line gets its own name (-take2), not the standard's."""
    take = f"-take{variant}" if variant != 1 else ""
    return Path(f"takefit-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:8]}{take}.wav")


def parse_emotion_args(args):
    """--emotion / --emotion-ref / --emo-alpha → an Emotion, or None."""
    emotion, ref = getattr(args, "emotion", None), getattr(args, "emotion_ref", None)
    if emotion and ref:
        raise InputError("give --emotion or --emotion-ref, not both")
    if ref:
        return Emotion(reference=str(Path(ref).expanduser().resolve()), alpha=args.emo_alpha)
    if emotion:
        return emotion_for(emotion, None, args.emo_alpha)
    if args.emo_alpha != 1.0:
        raise InputError("--emo-alpha scales an emotion: give --emotion or --emotion-ref too")
    return None


def run(args) -> int:
    text = read_text(args)
    target = parse_target(args)
    loudness, true_peak = levels(args)
    timecode_position(args, target)  # a bad --timecode fails before the slow part
    out = None
    if not args.explain:
        check_variant(args.variant)  # as a bad output path: fail before the slow part
        out = check_writable(args.output or default_output(text, args.variant))
    if getattr(args, "daemon", False):  # --daemon: the same take, from the daemon
        return say_via_daemon(args, text, target, (loudness, true_peak), out)
    if is_clip_voice(args.voice):       # the engine here is Kokoro's: it clones no clips
        raise UnknownVoiceError(clip_refusal(args.voice))
    # Only now the engine: the daemon path above must stay a thin client (no model, no G2P imports).
    from takefit.engine import Engine, Lexicon, RenderRequest
    from takefit.engine.audio import write_wav

    # wait=False: the model's sessions load while the line is read (spaCy's imports), not before it
    engine = Engine(lexicon=Lexicon.load(args.dict) if args.dict else None, wait=False)
    if args.explain:
        info = engine.explain(text, args.voice, args.language, args.speed, target=target, lead=args.lead,
                              tail=args.tail, frame_rate=pin_rate(args, target))
        print(json.dumps(info, ensure_ascii=False, indent=1) if args.json else format_explain(info))
        return 0
    req = RenderRequest(text=text, voice=args.voice, language=args.language, target=target,
                        sample_rate=args.rate, pre_roll=args.pre_roll, method=args.method,
                        loudness=loudness, speed=args.speed, emotion=parse_emotion_args(args), lead=args.lead,
                        tail=args.tail, frame_rate=pin_rate(args, target), variant=args.variant,
                        true_peak=true_peak)
    take = render_with_progress(engine, req, quiet=args.json)
    write_wav(out, take.audio, take.sample_rate, comment=f"synthetic speech (takefit, voice {take.voice})",
              title=take.text[:200], broadcast=take_broadcast(args, target, take.text, take.voice))
    print_take(out, take, as_json=args.json)
    return 0


def print_take(out: Path, take, as_json: bool, extra: dict | None = None, note: str = "") -> None:
    """The result line (or JSON) for a written take; `take` is an engine Take or a daemon result."""
    summary = {"path": str(out.resolve()), "samples": take.samples, "sample_rate": take.sample_rate,
               "seconds": round(take.seconds, 6), "natural_seconds": round(take.natural_seconds, 3),
               "ratio": round(take.ratio, 4), "method": take.method, "voice": take.voice,
               "speech_start": round(take.speech_start, 4), "speech_end": round(take.speech_end, 4),
               "pins": [p.to_json() if hasattr(p, "to_json") else p for p in take.pins],
               "warnings": take.warnings, "timings": {k: round(v, 3) for k, v in take.timings.items()},
               **(extra or {})}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return
    for w in take.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{out.resolve()}  {take.seconds:.3f} s ({take.samples} samples @ {take.sample_rate} Hz), "
          f"speech {take.speech_start:.3f}–{take.speech_end:.3f} s, natural {take.natural_seconds:.2f} s, "
          f"ratio {take.ratio:.3f} (on speech), {take.method}, voice {take.voice}{note}")
    for p in take.pins:
        p = p.to_json() if hasattr(p, "to_json") else p
        print(f"  {p['word']!r} at {p['placed']:.3f} s (asked {p['asked']:.3f} s)")


@contextmanager
def progress_bar(desc: str, quiet: bool = False):
    """A percentage bar on a terminal's stderr; yields the `progress(fraction, message)` callback. The bar
    is made at the first report: a cached take from the daemon sends none, and its audition does not wait
    for tqdm to load (≈ 25 ms of a 0.3 s round trip on an AVX2 machine)."""
    bar = None

    def progress(fraction: float, message: str) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=100, desc=desc, unit="%", disable=quiet or not sys.stderr.isatty(),
                       bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}", file=sys.stderr)
        bar.n = int(fraction * 100)
        bar.set_postfix_str(message)
        bar.refresh()

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


def render_with_progress(engine, req, quiet: bool = False):
    with progress_bar("rendering", quiet) as progress:
        return engine.render(req, progress=progress)


def format_explain(info: dict) -> str:
    lines = [f"text:     {info['text']}", f"voice:    {info['voice']}",
             f"natural:  {info['natural_seconds']:.2f} s"]
    for seg in info["segments"]:
        lines.append(f"[{seg['language']}] {seg['text']}")
        for w in seg["words"]:
            if "pinyin" in w:
                mark = "  (override)" if w.get("override") else ""
                lines.append(f"    {w['text']:<8} {w['pinyin']:<24} {w['phonemes']}{mark}")
            else:
                lines.append(f"    {w['text']:<16} {w['phonemes']}")
    lines.append(f"phonemes: {info['phonemes']}")
    for seg in info.get("pin_segments", []):
        lines.append(f"segment {seg['from']} → {seg['to']}: reads in {seg['natural']:.2f} s, given "
                     f"{seg['given']:.2f} s ({seg['ratio']:.2f}×)")
    for p in info.get("pins", []):
        lines.append(f"pin:      {p['word']!r} at {p['at']:.3f} s (naturally at {p['natural']:.3f} s)")
    for w in info["warnings"]:
        lines.append(f"warning:  {w}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- say --daemon
def say_via_daemon(args, text: str, target, take_levels: tuple, out: Path | None) -> int:
    """`takefit say --daemon`: the same take, rendered by the (auto-started) daemon; `take_levels` (loudness,
    true-peak ceiling) as `levels(args)` resolved them."""
    dictionary = None
    if args.dict:
        try:
            dictionary = Path(args.dict).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read pronunciation dictionary {args.dict}: {e}") from None

    if is_clip_voice(args.voice) and Path(args.voice).expanduser().exists():
        args.voice = str(Path(args.voice).expanduser().resolve())     # the daemon's working folder is not ours
    from takefit.daemon.connect import connect      # zmq: 50–65 ms a `say` without --daemon never needs

    with connect("start") as client:
        if args.explain:
            info = client.explain(text, args.voice, args.language, args.speed, dictionary)
            print(json.dumps(info, ensure_ascii=False, indent=1) if args.json else format_explain(info))
            return 0
        request = dict(voice=args.voice, language=args.language, target=target_string(target),
                       sample_rate=args.rate, pre_roll=args.pre_roll, method=args.method, loudness=take_levels[0],
                       speed=args.speed, dictionary=dictionary, lead=args.lead, tail=args.tail,
                       frame_rate=pin_rate(args, target), variant=args.variant, true_peak=take_levels[1])
        emotion = parse_emotion_args(args)
        if emotion is not None:
            request["emotion"] = emotion
        result = _render_with_bar(client, text, request, quiet=args.json)
    data = result.wav if isinstance(result.wav, bytes) else None
    if data is not None and args.timecode:   # the daemon's take has no place on a timeline; the user gave one
        data = bwf.with_chunks(data, take_broadcast(args, target, result.text, result.voice))
    _write_atomic(out, data)
    print_take(out, result, as_json=args.json, extra={"daemon": {"job": result.job, "cached": result.cached}},
               note=" (cached)" if result.cached else "")
    return 0


def _render_with_bar(client, text, request, quiet: bool):
    with progress_bar("rendering (daemon)", quiet) as progress:
        return client.render(text, inline=True, progress=progress, **request)


def _write_atomic(path: Path, data: bytes | None) -> None:
    if data is None:
        raise OutputError("the daemon did not send the audio inline")
    write_atomic(path, data)

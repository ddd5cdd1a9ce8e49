"""`takefit voice enroll|list|show|remove` — enrolled voices: a new voice from a 5-second reference clip."""
from __future__ import annotations

import argparse
import json
import sys

from takefit.bridges.commands.say import progress_bar

DESCRIPTION = """\
Enroll a new voice from a short recording of one speaker, then use its name wherever a built-in
voice name goes (takefit say -v NAME, cast files, the daemon).

Enrollment starts from the closest built-in voice of the same language and pitch, and learns the
speaker's timbre by gradient-based style inversion of the embedded model (needs the enroll extra:
torch, CPU only). The result is a small profile file; rendering with it needs no torch.

Clone only voices you are authorised to use: enrollment asks for a consent record (--consent), or
an explicit --no-consent-record. Every take rendered with any voice carries a WAV comment saying it
is synthetic speech and which voice made it.
"""

ENROLL_EPILOG = """\
the reference clip:
  5 to 10 s of one speaker reading, little noise or music: WAV, FLAC, OGG, MP3 (what libsndfile
  reads), any sample rate, mono or stereo. Under 3 s of speech is refused; longer clips are cut to
  their best 10 s of speech. Clipped or silent clips are refused. Without --text, the words are
  recognised with Whisper base (English or Mandarin). Hiss, hum or room noise: add --denoise.

quality:
  fast   10 optimisation steps on 3 s of the clip (20 when under 5 s of speech): under a minute
         on 2 free cores with 5 s or more of speech
  best   25 steps on up to 6 s of the clip (50 when under 5 s of speech), a few minutes

examples:
  takefit voice enroll anna anna.wav --consent "Anna Berg, signed release 2026-03-02"
  takefit voice enroll anna anna.flac --text "The words she says in the clip." --quality best --consent "..."
  takefit voice enroll anna2 anna.wav --prosody-from am_michael --consent "..."   # Anna's voice, Michael's delivery
  takefit say -v anna "Hello from the enrolled voice." -o hello.wav
"""


def register(sub) -> None:
    p = sub.add_parser("voice", help="enroll a voice from a clip; list, show or remove enrolled voices",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    vs = p.add_subparsers(dest="voice_command", metavar="ACTION")
    e = vs.add_parser("enroll", help="a new voice from a 3–30 s reference clip", description=DESCRIPTION,
                      epilog=ENROLL_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("name", help="the new voice's name (letters, digits, - and _; not a built-in name)")
    e.add_argument("reference", help="the reference clip (WAV/FLAC/OGG/MP3, 3–30 s of one speaker)")
    e.add_argument("--text", help="what the clip says (default: recognised with Whisper base)")
    e.add_argument("--consent", metavar="WHO_WHEN", help='consent record stored with the voice, e.g. "Anna Berg, 2026-03-02"')
    e.add_argument("--no-consent-record", action="store_true", help="enroll without a consent record (your own voice, …)")
    e.add_argument("--quality", choices=("fast", "best"), default="fast", help="fast (default, ~1 min) or best")
    e.add_argument("--prosody-from", metavar="VOICE_OR_CLIP",
                   help="take the delivery (prosody half of the style) from this voice or clip's nearest voice")
    e.add_argument("--denoise", action="store_true",
                   help="remove background noise from the clip first (DeepFilterNet3, bundled; for noisy recordings)")
    e.add_argument("--force", action="store_true", help="replace an enrolled voice of the same name")
    e.add_argument("--json", action="store_true", help="print the profile summary as JSON")
    e.add_argument("--daemon", action="store_true", help="enroll in the running daemon (takefit daemon start)")
    e.set_defaults(func=run_enroll)
    ls = vs.add_parser("list", help="enrolled voices (built-in ones: takefit voices)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_list)
    sh = vs.add_parser("show", help="one enrolled voice: base voice, pitch, similarity, consent, reference hash")
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=run_show)
    rm = vs.add_parser("remove", help="delete an enrolled voice")
    rm.add_argument("name")
    rm.set_defaults(func=run_remove)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_enroll(args) -> int:
    if args.daemon:
        from takefit.daemon.connect import connect

        with progress_bar(f"enrolling {args.name}", quiet=args.json) as progress, \
                connect("start", retries=3) as client:
            summary = client.enroll_voice(
                args.name, args.reference, text=args.text, quality=args.quality, consent=args.consent,
                no_consent_record=args.no_consent_record, prosody_from=args.prosody_from, force=args.force,
                progress=progress, denoise=args.denoise)
        return _print_enrolled(summary, args.json)
    from takefit.engine import Engine
    from takefit.engine.enroll import enroll_voice
    from takefit.engine.enroll.pipeline import check_request
    from takefit.engine.profiles import ProfileStore

    store = ProfileStore()
    from takefit.engine import assets

    # refuse bad requests before loading anything heavy
    check_request(args.name, args.reference, args.quality, args.consent, args.no_consent_record, args.force, store,
                  sorted(assets.sources()["voices"]["files"]))
    from takefit.engine.enroll.reference import load_reference

    load_reference(args.reference)          # a refused clip is reported before the model loads
    if args.denoise:
        from takefit.engine.enroll.denoise import check_available

        check_available()
    engine = Engine()
    with progress_bar(f"enrolling {args.name}", quiet=args.json) as progress:
        profile = enroll_voice(args.name, args.reference, text=args.text, quality=args.quality, consent=args.consent,
                               no_consent_record=args.no_consent_record, prosody_from=args.prosody_from,
                               force=args.force, progress=progress, engine=engine, store=store, denoise=args.denoise)
    return _print_enrolled(profile.summary(), args.json)


def _print_enrolled(summary: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return 0
    for n in summary.get("notices", []):
        print(f"note: {n}", file=sys.stderr)
    sim = summary.get("similarity", {})
    s0, s1 = sim.get("start_pitch", {}), sim.get("enrolled", {})
    print(f"enrolled {summary['name']}: from {summary['base_voice']}, pitch ×{summary['pitch_ratio']:.3f}, "
          f"{summary['stats'].get('seconds', 0):.0f} s ({summary['quality']})")
    if s0 and s1:
        print(f"  similarity to the reference, on a sentence it never trained on: {summary['base_voice']} + pitch "
              f"{s0['dvector']:.3f} → {s1['dvector']:.3f} (d-vector), {s0['resemblyzer']:.3f} → {s1['resemblyzer']:.3f} "
              f"(resemblyzer)")
    print(f"  use it: takefit say -v {summary['name']} \"Your line.\"")
    return 0


def run_list(args) -> int:
    from takefit.engine.profiles import ProfileStore

    store = ProfileStore()
    rows = []
    for name in store.names():
        try:
            rows.append(store.load(name).summary())
        except Exception as e:                      # a damaged file is listed, not fatal
            rows.append({"name": name, "error": str(e)})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print(f"no enrolled voices in {store.directory} (enroll one: takefit voice enroll NAME clip.wav; "
              f"built-in voices: takefit voices)")
        return 0
    print(f"{'voice':<20}{'language':<10}{'base':<14}{'quality':<9}{'created':<27}consent")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<20}damaged: {r['error']}")
            continue
        print(f"{r['name']:<20}{r['language']:<10}{r['base_voice']:<14}{r['quality']:<9}{r['created']:<27}"
              f"{r['consent'] or '(no consent record)'}")
    print(f"\n{len(rows)} enrolled voice(s) in {store.directory}; built-in voices: takefit voices")
    return 0


def run_show(args) -> int:
    from takefit.engine.profiles import ProfileStore

    s = ProfileStore().load(args.name).summary()
    if args.json:
        print(json.dumps(s, ensure_ascii=False, indent=1))
        return 0
    for k in ("name", "language", "base_voice", "pitch_ratio", "quality", "created", "consent", "prosody_from",
              "reference_sha256", "transcript"):
        print(f"{k:<18}{s[k]}")
    layers = s.get("adapted_layers", 0)
    rms = s["stats"].get("adapt_rms", "?")
    print(f"{'decoder':<18}" + (f"adapted to the speaker ({layers} AdaIN layers, offsets rms {rms})" if layers
                                else "the built-in decoder (the timbre is in the style table only)"))
    for k, d in s["similarity"].items():
        print(f"{'similarity ' + k:<17} " + ", ".join(f"{e} {v:.3f}" for e, v in d.items()))
    print(f"{'stats':<18}" + ", ".join(f"{k} {v}" for k, v in s["stats"].items()))
    for n in s["notices"]:
        print(f"{'note':<18}{n}")
    return 0


def run_remove(args) -> int:
    from takefit.engine.profiles import ProfileStore

    store = ProfileStore()
    store.remove(args.name)
    print(f"removed enrolled voice {args.name} from {store.directory}")
    return 0

"""The cast file (`takefit.cast.toml`): characters → voice, language, emotion; marker colour → character.

    [defaults]                 # cues with no tag, no mapped colour
    character = "narrator"
    voice = "auto"
    emotion = "calm 0.5"

    [characters.alice]
    voice = "af_heart"         # or a reference clip to clone: voice = "refs/anna.wav" (relative to this
                               # file; a backend with clip voices only, e.g. `--backend indextts`)
    emotion = "happy 0.3"      # or: emotion = "happy"  +  intensity = 0.3
    # or one of: emotion = [0.0, 0.8, 0, 0, 0, 0, 0.1, 0.1]   (IndexTTS2's 8-float vector)
    #            emotion_text = "愤怒地质问，语气急促"           (a description)
    #            emotion_ref = "refs/angry.wav"                 (a clip; relative to this file)
    #            emotion = "from_line"                          (what the line itself suggests)
    emo_alpha = 0.8            # how much of the emotion, 0-1

    speed = "natural"          # or "exact" (the default): see SPEED_POLICIES
    lead = 0.0                 # seconds from the slot's start to the first sound (or "100ms")
    tail = 0.04                # seconds from the last sound's end to the slot's end
    max_ratio = 1.2            # natural: how far a take may overrun its slot before it is fitted

    [colors]                   # marker colour (or a subtitle's text colour) → character
    red = "alice"

    [pronunciations]           # applied to every cue
    "行" = "xíng"
    takefit = "/tˈAkfɪt/"

See docs/cues.md. Unknown keys are errors (a typo must not silently change a voice).
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from takefit.engine.backend import CLIP_SUFFIXES, is_clip_voice
from takefit.engine.emotion import check_alpha
from takefit.engine.errors import InputError
from takefit.engine.files import write_atomic
from takefit.engine.request import DEFAULT_LEAD, DEFAULT_TAIL

from takefit.otio_adapters import subtitles, tags
from takefit.otio_adapters.cue import Cue, Emotion, normalize_color

CAST_FILE = "takefit.cast.toml"
_EMOTION_KEYS = ("emotion", "intensity", "emotion_text", "emotion_ref", "emo_alpha")
_CHARACTER_KEYS = ("voice", "language") + _EMOTION_KEYS + ("speed", "max_ratio", "lead", "tail")
# exact: every take is fitted to its slot. natural: the line keeps its own pace (silence fills a
# longer slot); a take longer than its slot may overrun it by up to max_ratio × the slot, beyond
# that it is fitted to the slot after all.
SPEED_POLICIES = ("exact", "natural")
DEFAULT_MAX_RATIO = 1.2
MAX_RATIO_RANGE = (1.0, 3.0)
_DEFAULT_KEYS = ("character",) + _CHARACTER_KEYS
_TOP_KEYS = ("defaults", "characters", "colors", "colours", "pronunciations")


@dataclass(frozen=True)
class Character:
    name: str
    voice: str = "auto"
    language: str = "auto"
    emotion: Emotion | None = None
    speed: str | None = None          # a SPEED_POLICIES name; None: inherit ([defaults], else exact)
    max_ratio: float | None = None    # None: inherit ([defaults], else DEFAULT_MAX_RATIO)
    lead: float | None = None         # handles in seconds; None: inherit ([defaults], else the engine's)
    tail: float | None = None


@dataclass
class Cast:
    path: Path | None = None
    default_character: str = ""
    defaults: Character = field(default_factory=lambda: Character(""))
    characters: dict[str, Character] = field(default_factory=dict)  # key: lower-case name
    colors: dict[str, str] = field(default_factory=dict)              # normalised colour → character
    pronunciations: tuple[tuple[str, str], ...] = ()

    def character(self, name: str) -> Character | None:
        return self.characters.get(name.strip().lower())

    def character_for_color(self, color: str | None) -> str | None:
        return self.colors.get(normalize_color(color)) if color else None

    def resolve(self, cue: Cue) -> Cue:
        """The cue with text, character, voice, language and emotion decided: tag > a speaker label in the text >
        the file's speaker (an Actor) > colour > cast defaults; the emotion: tag > the subtitle's direction
        ("(angrily)") > the character's > the defaults'."""
        inner, body = tags.split(cue.raw_text)
        problems, notes = list(cue.problems), list(cue.notes)
        tag = tags.Tag()
        if inner is not None:
            try:
                tag = tags.parse(inner)
            except InputError as e:
                problems.append(f"bad tag [{inner}]: {e}")
        said = subtitles.spoken(body, frozenset(self.characters))
        name = (tag.character or said.speaker or cue.speaker or self.character_for_color(cue.color)
                or self.default_character)
        char = self.character(name) if name else None
        if (tag.character or said.speaker or cue.speaker) and char is None and self.characters and said.text:
            notes.append(f"character {name!r} is not in the cast ({', '.join(sorted(self.characters))}); "
                         f"using the defaults")
        notes += _turn_notes(said, name)
        base = char or self.defaults
        # cast-wide pronunciations are for whichever lines contain the word; the cue's own are checked
        text, _ = tags.apply_pronunciations(said.text, self.pronunciations)
        text, pron_notes = tags.apply_pronunciations(text, tag.pronunciations)
        notes += pron_notes
        return replace(
            cue, text=text, character=(char.name if char else name) or "",
            voice=tag.voice or _inherit(base.voice, self.defaults.voice, "auto"),
            language=tag.language or _inherit(base.language, self.defaults.language, "auto"),
            emotion=_with_alpha(tag.emotion or _directed(said, notes) or base.emotion or self.defaults.emotion,
                                tag.emo_alpha, notes),
            speed=base.speed or self.defaults.speed or "exact",
            max_ratio=base.max_ratio or self.defaults.max_ratio or DEFAULT_MAX_RATIO,
            lead=_first(tag.lead, base.lead, self.defaults.lead, DEFAULT_LEAD),
            tail=_first(tag.tail, base.tail, self.defaults.tail, DEFAULT_TAIL),
            variant=_first(tag.variant, cue.variant),      # a take= tag, else the cue's own (a pick)
            silence=said.silence or (f"nothing to say: only [{inner}]" if inner is not None and not said.text else ""),
            problems=tuple(problems), notes=tuple(notes))


def _turn_notes(said: subtitles.Spoken, character: str) -> list[str]:
    """Several people in one cue (dialogue dashes, `>>`, labels): one voice reads them all; say so."""
    named_alone = len(said.speakers) == said.turns and len({s.lower() for s in said.speakers}) == 1
    if said.turns < 2 or named_alone:          # one person's lines ("JOHN: Wait." / "JOHN: Come back!")
        return []
    who = f" ({', '.join(dict.fromkeys(said.speakers))})" if said.speakers else ""
    return [f"{said.turns} speakers in one cue{who}, read in one voice ({character or 'the default'}'s); to give "
            f"each their own, name each turn's speaker (- JOHN: …) or split the cue (a subtitle or marker each)"]


def uncast(cues: list[Cue], cast: Cast) -> list[str]:
    """A note where two or more characters the lines name (tags, labels, Actors) are not in the cast and
    so are all read by the same default voice: a subtitle file's speakers, before anyone cast them."""
    default = cast.defaults.voice or "auto"
    lines: dict[str, int] = {}
    for c in cues:
        if c.character and c.character != cast.default_character and c.text.strip() and c.voice == default \
                and cast.character(c.character) is None:
            lines[c.character] = lines.get(c.character, 0) + 1
    if len(lines) < 2:
        return []
    listed = ", ".join(f"{name} ({n} line{'s' if n > 1 else ''})" for name, n in lines.items())
    return [f"{len(lines)} characters are not in the cast and all read by the same voice ({default}): {listed}; "
            f"give each a voice in {CAST_FILE} ([characters.NAME] voice = \"…\"; `takefit voices` lists them) "
            f"or in `takefit panel`"]


def _directed(said: subtitles.Spoken, notes: list[str]) -> Emotion | None:
    """The emotion a subtitle's direction names ("(angrily)"): read as an emotion text, as a tag's would be."""
    if said.direction is None:
        return None
    notes.append(f"emotion from the subtitle's direction: {said.direction!r}")
    return Emotion(text=said.direction)


def _first(*values):
    return next(v for v in values if v is not None)


def _with_alpha(emotion: Emotion | None, alpha: float | None, notes: list[str]) -> Emotion | None:
    if alpha is None:
        return emotion
    if emotion is None:
        notes.append("tag emo_alpha has no emotion to scale (no emotion in the tag or the cast); ignored")
        return None
    return replace(emotion, alpha=alpha)


def _inherit(value: str, default: str, fallback: str) -> str:
    return value if value not in ("", "auto", None) else (default or fallback)


def find(timeline_path: Path, explicit: Path | None) -> Path | None:
    """--cast FILE, else takefit.cast.toml next to the timeline, else none."""
    if explicit is not None:
        return explicit
    candidate = timeline_path.parent / CAST_FILE
    return candidate if candidate.is_file() else None


def load(path: Path | None) -> Cast:
    if path is None:
        return Cast()
    return _read(Path(path))[1]


def _read(p: Path) -> tuple[dict, Cast]:
    try:
        doc = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"cast file {p} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read cast file {p}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"cast file {p} is not valid TOML: {e}") from None
    except RecursionError:       # tomllib parses nested arrays recursively: 5,000 levels exhaust the stack
        raise InputError(f"cast file {p} nests its arrays or tables too deep to read; a cast file holds a table "
                         f"per character (docs/cues.md, 'The cast file')") from None
    try:
        return doc, parse(doc, p)
    except InputError as e:
        raise InputError(f"cast file {p}: {e}") from None


def parse(doc: dict, path: Path | None = None) -> Cast:
    _check_keys(doc, _TOP_KEYS, "top level")
    d = _table(doc, "defaults")
    _check_keys(d, _DEFAULT_KEYS, "[defaults]")
    base = p.parent if (p := path) is not None else Path.cwd()
    defaults = _character("", d, "[defaults]", base)
    characters = {}
    for name, entry in _table(doc, "characters").items():
        if not isinstance(entry, dict):
            raise InputError(f"[characters.{name}] must be a table, e.g. [characters.{name}] voice = \"af_heart\"")
        _check_keys(entry, _CHARACTER_KEYS, f"[characters.{name}]")
        characters[name.strip().lower()] = _character(name.strip(), entry, f"[characters.{name}]", base)
    colors = {}
    for color, who in {**_table(doc, "colours"), **_table(doc, "colors")}.items():
        if not isinstance(who, str) or who.strip().lower() not in characters:
            raise InputError(f"[colors] {color} = {who!r}: not a character in [characters] "
                             f"({', '.join(sorted(characters)) or 'none defined'})")
        colors[normalize_color(color)] = who.strip()
    prons = []
    for word, pron in _table(doc, "pronunciations").items():
        if not isinstance(pron, str) or not pron.strip():
            raise InputError(f"[pronunciations] {word!r} needs a pinyin or /IPA/ string")
        prons.append((word, pron))
    default_character = str(d.get("character", "")).strip()
    return Cast(path, default_character, defaults, characters, colors, tuple(prons))


def _table(doc: dict, key: str) -> dict:
    v = doc.get(key, {})
    if not isinstance(v, dict):
        raise InputError(f"'{key}' must be a table ([{key}])")
    return v


def _check_keys(d: dict, allowed: tuple[str, ...], where: str) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        raise InputError(f"unknown key(s) {', '.join(map(repr, bad))} in {where}: accepted {', '.join(allowed)}")


def _character(name: str, d: dict, where: str, base: Path) -> Character:
    for k in ("voice", "language", "emotion_text", "emotion_ref"):
        if k in d and not isinstance(d[k], str):
            raise InputError(f"{where} {k} must be a string")
    language = d.get("language", "auto").strip().lower()
    if language not in tags.LANGUAGES:
        raise InputError(f"{where} language {language!r}: accepted {', '.join(tags.LANGUAGES)}")
    try:
        emotion = _emotion(d, base)
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    speed, max_ratio = _speed_policy(d, where)
    lead, tail = (tags.parse_handle(d[k], f"{where} {k} =") if k in d else None for k in ("lead", "tail"))
    voice = _voice(d.get("voice", "auto").strip() or "auto", base, where)
    return Character(name, voice, language, emotion, speed, max_ratio, lead, tail)


def _voice(voice: str, base: Path, where: str) -> str:
    """A voice name as written, or a reference clip (a path ending in CLIP_SUFFIXES) as its absolute,
    resolved path: relative to the cast file like emotion_ref, and absolute because the daemon's working
    folder is not the cast file's. Whether the backend clones clips is the renderer's to say."""
    if not is_clip_voice(voice):
        return voice
    clip = Path(voice).expanduser()
    clip = clip if clip.is_absolute() else base / clip
    if not clip.is_file():
        raise InputError(f"{where} voice {voice!r}: no such file {clip.absolute()} (a voice ending in "
                         f"{', '.join(CLIP_SUFFIXES)} is a reference clip; paths are relative to the cast file)")
    return str(clip.resolve())


def _emotion(d: dict, base: Path) -> Emotion | None:
    """emotion = "angry 0.7" | [8 floats] | "from_line"; emotion_text = "..."; emotion_ref = "clip.wav";
    + intensity (presets), emo_alpha (any form)."""
    given = [k for k in ("emotion", "emotion_text", "emotion_ref") if d.get(k) not in (None, "")]
    if len(given) > 1:
        raise InputError(f"give one of emotion, emotion_text, emotion_ref (got {', '.join(given)})")
    if not given:
        for k in ("intensity", "emo_alpha"):
            if k in d:
                raise InputError(f"has {k} but no emotion (emotion, emotion_text or emotion_ref)")
        return None
    alpha = 1.0
    if "emo_alpha" in d:
        try:
            alpha = check_alpha(d["emo_alpha"])
        except InputError as e:
            raise InputError(f"{e} (e.g. emo_alpha = 0.8)") from None
    key = given[0]
    if "intensity" in d and key != "emotion":
        raise InputError("intensity goes with a preset emotion (\"angry\"); scale the others with emo_alpha")
    if key == "emotion_text":
        return Emotion(text=d["emotion_text"], alpha=alpha)
    if key == "emotion_ref":
        ref = Path(d["emotion_ref"]).expanduser()
        ref = ref if ref.is_absolute() else (base / ref)
        if not ref.is_file():
            raise InputError(f"emotion_ref {d['emotion_ref']!r}: no such file {ref} (paths are relative to "
                             f"the cast file)")
        return Emotion(reference=str(ref.resolve()), alpha=alpha)
    value = d["emotion"]
    if isinstance(value, list):
        emotion = Emotion(vector=value, alpha=alpha)
    elif isinstance(value, str):
        emotion = tags.parse_emotion(value, alpha)
    else:
        raise InputError("emotion must be a string (\"angry 0.7\") or a list of 8 numbers 0-1")
    if "intensity" in d:
        if emotion.preset is None:
            raise InputError("intensity goes with a preset emotion (\"angry\"); scale the others with emo_alpha")
        emotion = replace(emotion, intensity=tags.parse_intensity(str(d["intensity"]), emotion.preset))
    return emotion


def _speed_policy(d: dict, where: str) -> tuple[str | None, float | None]:
    speed = d.get("speed")
    if speed is not None and (not isinstance(speed, str) or speed.strip().lower() not in SPEED_POLICIES):
        raise InputError(f"{where} speed = {speed!r}: accepted \"exact\" (fit every take to its slot) or "
                         f"\"natural\" (keep the line's own pace; see max_ratio)")
    ratio = d.get("max_ratio")
    lo, hi = MAX_RATIO_RANGE
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not lo <= ratio <= hi:
            raise InputError(f"{where} max_ratio = {ratio!r}: give a number from {lo:g} to {hi:g} (how many times "
                             f"its slot a natural take may last before it is fitted, e.g. 1.2)")
        ratio = float(ratio)
    return (speed.strip().lower() if speed else None), ratio


# ------------------------------------------------------------------ writing
def save(doc: dict, path: Path) -> Path:
    """Write a cast document (the dict `load_doc` reads; what the casting panel edits) as TOML,
    atomically. It is checked with `parse` first, so a file that would not load is never written.
    A clip voice in the cast file's folder is written relative to it (the project folder may move).
    Comments in an earlier file are not kept."""
    parse(doc, Path(path))
    return write_atomic(path, dumps(_clips_relative(doc, Path(path).expanduser().absolute().parent)))


def _clips_relative(doc: dict, folder: Path) -> dict:
    """The document with each absolute clip voice under `folder` made relative to it (the rest as is)."""
    def table(t):
        if not isinstance(t, dict):
            return t
        v = t.get("voice")
        if isinstance(v, str) and is_clip_voice(v) and Path(v).is_absolute():
            try:
                t = {**t, "voice": Path(v).resolve().relative_to(folder.resolve()).as_posix()}
            except ValueError:           # outside the folder: the absolute path stays
                pass
        return t
    out = dict(doc)
    if "defaults" in out:
        out["defaults"] = table(out["defaults"])
    if isinstance(out.get("characters"), dict):
        out["characters"] = {name: table(t) for name, t in out["characters"].items()}
    return out


def load_doc(path: Path) -> dict:
    """The cast file as a plain dict (checked like `load`)."""
    return _read(Path(path))[0]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(doc: dict) -> str:
    """A small TOML writer for the cast's shapes: tables of tables of strings, numbers, booleans and
    lists of those (tomllib reads; the standard library has no writer)."""
    lines: list[str] = []
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    for k, v in scalars.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for name, table in doc.items():
        if isinstance(table, dict):
            _table_lines(lines, [name], table)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table_lines(lines: list[str], path: list[str], table: dict) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    nested = {k: v for k, v in table.items() if isinstance(v, dict)}
    if plain or not nested:
        lines += ["", f"[{'.'.join(_key(p) for p in path)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for k, v in nested.items():
        _table_lines(lines, path + [k], v)


def _key(k: str) -> str:
    return k if _BARE_KEY.fullmatch(k) else json.dumps(k, ensure_ascii=False)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise InputError(f"cannot write {v} to a cast file: numbers must be finite")
        return repr(v)
    if isinstance(v, str):
        # JSON's string escapes are all valid in a TOML basic string
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise InputError(f"cannot write {type(v).__name__} {v!r} to a cast file")

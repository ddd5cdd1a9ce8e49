"""The cast file (`takefit.cast.toml`): characters → voice, language, emotion; marker colour → character.

    [defaults]                 # cues with no tag, no mapped colour
    character = "narrator"
    voice = "auto"
    emotion = "calm 0.5"

    [characters.alice]
    voice = "af_heart"
    emotion = "happy 0.3"      # or: emotion = "happy"  +  intensity = 0.3
    # or one of: emotion = [0.0, 0.8, 0, 0, 0, 0, 0.1, 0.1]   (IndexTTS2's 8-float vector)
    #            emotion_text = "愤怒地质问，语气急促"           (a description)
    #            emotion_ref = "refs/angry.wav"                 (a clip; relative to this file)
    #            emotion = "from_line"                          (what the line itself suggests)
    emo_alpha = 0.8            # how much of the emotion, 0-1

    [colors]                   # marker colour → character
    red = "alice"

    [pronunciations]           # applied to every cue
    "行" = "xíng"
    takefit = "/tˈAkfɪt/"

See docs/cues.md. Unknown keys are errors (a typo must not silently change a voice).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from takefit.engine.emotion import check_alpha
from takefit.engine.errors import InputError

from takefit.otio_adapters import tags
from takefit.otio_adapters.cue import Cue, Emotion, normalize_color

CAST_FILE = "takefit.cast.toml"
_EMOTION_KEYS = ("emotion", "intensity", "emotion_text", "emotion_ref", "emo_alpha")
_CHARACTER_KEYS = ("voice", "language") + _EMOTION_KEYS
_DEFAULT_KEYS = ("character",) + _CHARACTER_KEYS
_TOP_KEYS = ("defaults", "characters", "colors", "colours", "pronunciations")


@dataclass(frozen=True)
class Character:
    name: str
    voice: str = "auto"
    language: str = "auto"
    emotion: Emotion | None = None


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
        """The cue with text, character, voice, language and emotion decided: tag > colour > cast defaults."""
        inner, body = tags.split(cue.raw_text)
        problems, notes = list(cue.problems), list(cue.notes)
        tag = tags.Tag()
        if inner is not None:
            try:
                tag = tags.parse(inner)
            except InputError as e:
                problems.append(f"bad tag [{inner}]: {e}")
        name = tag.character or self.character_for_color(cue.color) or self.default_character
        char = self.character(name) if name else None
        if tag.character and char is None and self.characters:
            notes.append(f"character {tag.character!r} is not in the cast ({', '.join(sorted(self.characters))}); "
                         f"using the defaults")
        base = char or self.defaults
        # cast-wide pronunciations are for whichever lines contain the word; the cue's own are checked
        text, _ = tags.apply_pronunciations(tags.clean(body), self.pronunciations)
        text, pron_notes = tags.apply_pronunciations(text, tag.pronunciations)
        notes += pron_notes
        return replace(
            cue, text=text, character=(char.name if char else name) or "",
            voice=tag.voice or _inherit(base.voice, self.defaults.voice, "auto"),
            language=tag.language or _inherit(base.language, self.defaults.language, "auto"),
            emotion=_with_alpha(tag.emotion or base.emotion or self.defaults.emotion, tag.emo_alpha, notes),
            problems=tuple(problems), notes=tuple(notes))


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
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(f"cast file {p} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read cast file {p}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"cast file {p} is not valid TOML: {e}") from None
    try:
        return parse(doc, p)
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
    return Character(name, d.get("voice", "auto").strip() or "auto", language, emotion)


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

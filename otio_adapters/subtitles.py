"""What a subtitle says aloud: the conventions of subtitle text that a dub must not read out.

Subtitles for the deaf and hard of hearing (SDH), broadcast captions and subtitle tools write more than
the words spoken, and a dub made from them read it all: "JOHN: (whispering) We go." said the name and
the stage direction, "I know [sighs] you're right." said "sighs", "&amp;" was said "amp", "♪ La la ♪"
was spoken flat and "- I was home. - Liar!" gave one voice to two people. Here, per cue text (its tag
already split off, tags.py):

    <i>…</i>, {\\an8}        markup: removed (as before), and WebVTT's karaoke times <00:01.500>
    &amp; &#39; &nbsp;      character references: the characters (only the `&…;` forms: "R&D" stays)
    JOHN: / MAN #2 (V.O.):  a speaker label (upper case, at the start of a line or turn; a cast character's
                            name in any case): the character, unless the cue's tag names one; not said
    <v Roger>               WebVTT's voice span: the same, in any case ("Roger")
    [door slams]            a description in square brackets, anywhere: not said
                            (`[word](/IPA/)`, the engine's pronunciation link, is kept)
    (whispering)            a description in parentheses opening a line or turn: not said (a mid-line
                            aside "I (and only I) know" is speech; 行(xíng) is a pinyin reading); one that
                            names an emotion, "(angrily)", is the line's emotion text (Spoken.direction)
    {TL: an idiom}          a SubStation comment block: not said (`{\\i1}` is markup, `{@12f}` a pin)
    ♪ … ♪  ♫               lyrics: not spoken (songs are sung or kept from the original mix)
    WE HAVE TO GO.          a line in capitals (broadcast captions): read in sentence case
    - Where? / - Here.      dialogue dashes (also `>>`, captions' speaker change): the dashes are not
                            said; where every turn names its speaker ("- JOHN: Where?" / "- MARY: Here."),
                            the cue becomes one per speaker (by_speaker), else the turns are counted so
                            the run can say one voice reads several people
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from takefit.engine.emotion.text import keyword_hits
from takefit.engine.errors import InputError
from takefit.otio_adapters import tags
from takefit.otio_adapters.cue import Cue

_REFERENCE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# a turn opens with a dash (not a minus: "-5 degrees") or captions' `>>`; a dialogue line may hold two
_DASH = re.compile(r"^\s*(?:[-–—](?=\s|[^\W\d])|>>)\s*")
_INLINE_TURN = re.compile(r"(?<=[.!?…])\s+(?:[-–—]|>>)\s+")
# JOHN:  MAN #2:  DR. O'NEIL (V.O.):  — upper case is checked in _is_label
_LABEL = re.compile(r"^\s*(?P<name>[^\W\d_][\w .'#\-]{0,40}?)\s*(?:\([^()]{1,20}\))?\s*:\s+(?=\S)")
_BRACKETED = re.compile(r"\[[^\[\]\n]*\](?!\()")          # not `[word](/IPA/)`
_OPENING_ASIDE = re.compile(r"^\s*\([^()\n]*\)\s*")
# WebVTT's voice span, kept through the markup's removal as a private-use mark around the name
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+(?P<name>[^<>\n]+)>")
_VOICED = re.compile("^\ue000([^\ue001]*)\ue001\\s*")
_TIMESTAMP = re.compile(r"<\d[\d:.]*>")
_COMMENT = re.compile(r"\{(?![@\\])[^{}\n]*\}")
_EIGHT = {(1, 1, 1): "white", (1, 1, 0): "yellow", (0, 1, 1): "cyan", (0, 1, 0): "green", (1, 0, 1): "magenta",
          (1, 0, 0): "red", (0, 0, 1): "blue", (0, 0, 0): "black"}
_HTML_NAMES = {"white": "#ffffff", "yellow": "#ffff00", "cyan": "#00ffff", "aqua": "#00ffff", "lime": "#00ff00",
               "green": "#00ff00", "magenta": "#ff00ff", "fuchsia": "#ff00ff", "red": "#ff0000", "blue": "#0000ff",
               "black": "#000000"}
_FONT_COLOR = re.compile(r"<font\b[^>]*\bcolor\s*=\s*[\"']?(?P<value>#?[\w]+)", re.IGNORECASE)
# WebVTT's default colour classes (W3C WebVTT §7: ::cue(.lime) …)
_VTT_CLASSES = {"white": "white", "lime": "green", "cyan": "cyan", "red": "red", "yellow": "yellow",
                "magenta": "magenta", "blue": "blue", "black": "black"}
_VTT_COLOR = re.compile(r"<c(?:\.[\w-]+)*\.(" + "|".join(_VTT_CLASSES) + r")\b[^>]*>")
_CAPS_MIN = 4                       # letters: "OK." stays, "WE GO." is a caption in capitals
MIN_TURN_FRAMES = 6                 # a quarter of a second at 24 fps: less is no line to read
_LYRIC = re.compile(r"[♪♫♬][^♪♫♬\n]*(?:[♪♫♬]+|$)")


@dataclass(frozen=True)
class Spoken:
    """A cue's text as it is said, and what was left unsaid."""
    text: str                          # markup, labels, descriptions, lyrics and dashes removed; lines joined
    speaker: str | None = None         # the first turn's speaker label ("JOHN"), None without one
    unsaid: tuple[str, ...] = ()       # the descriptions removed: "[door slams]", "(whispering)"
    lyrics: bool = False               # sung words (♪ … ♪) were left out
    turns: int = 1                     # turns marked by dialogue dashes, `>>` or labels (2+: several people)
    speakers: tuple[str, ...] = ()     # the turns' labels, in order

    @property
    def direction(self) -> str | None:
        """The first description that says how the line is spoken in a word the emotion model knows as one
        emotion's ("(angrily)", "[sadly]", "(nervously)"): the line's emotion, below a tag's; None without.
        "(whispering)", "[door slams]" name none and set nothing."""
        for found in self.unsaid:
            words = found.strip("[](){} ")
            if words and keyword_hits(words).sum() == 1:
                return words
        return None

    @property
    def silence(self) -> str:
        """Why nothing is said, where these conventions left nothing ("" otherwise)."""
        if self.text:
            return ""
        if self.lyrics:
            return "lyrics (♪): a song is not spoken; remove the ♪ marks to have it read"
        if self.unsaid:
            return f"only a description, nothing to say: {' '.join(self.unsaid)}"
        return ""


def spoken(body: str, cast: frozenset[str] = frozenset()) -> Spoken:
    """The spoken part of a cue's text (its tag already split off). `cast`: the cast's characters (lower
    case), whose names are labels in any case ("John: …"); other labels are upper case ("JOHN: …")."""
    unsaid: list[str] = []
    lines = _lines(body)
    turns = [(name, said) for _, name, said in _read_turns(lines, cast, unsaid) if name or said]
    labels = tuple(name for name, _ in turns if name)
    text = sentence_case(tags.clean("\n".join(said for _, said in turns if said)))
    sung = any(_LYRIC.search(ln) for ln in lines)
    return Spoken(text, turns[0][0] if turns else None, tuple(unsaid), sung, max(1, len(turns)), labels)


def by_speaker(cue: Cue, cast: frozenset[str] = frozenset()) -> list[Cue]:
    """A cue in which two or more people speak, every turn naming its speaker (labels, voice spans), as
    one cue per turn: each turn is then read by its own character's voice. The slot is shared by the
    length of what each says (a turn's speech is about as long as its text), in whole frames, each
    turn at least MIN_TURN_FRAMES. Anything else stays one cue: a point cue (no slot to share), a tag
    naming the character (the editor said who reads it), a turn without a name (who is unknown).
    `cast`: as for `spoken`."""
    inner, body = tags.split(cue.raw_text)
    if cue.duration == 0 or (inner is not None and _names_character(inner)):
        return [cue]
    turns = [turn for turn in _read_turns(_lines(body), cast, []) if turn[2]]
    names = [name for _, name, _ in turns]
    if len(turns) < 2 or None in names or len({n.lower() for n in names}) < 2:
        return [cue]
    weights = [len(tags.clean(said)) for _, _, said in turns]
    bounds = [cue.start + round(cue.duration * sum(weights[:k]) / sum(weights)) for k in range(len(turns) + 1)]
    if any(b - a < MIN_TURN_FRAMES for a, b in zip(bounds, bounds[1:])):
        return [cue]
    head = cue.raw_text[:len(cue.raw_text) - len(body)]
    note = f"one of {len(turns)} speakers of one cue ({', '.join(names)}): the slot shared by their lines' length"
    return [replace(cue, start=a, duration=b - a, raw_text=f"{head.rstrip()} {_written(raw)}".lstrip(),
                    notes=cue.notes + (note,),
                    origin=f"{cue.origin}, {name}'s turn") for (raw, name, _), a, b in zip(turns, bounds, bounds[1:])]


def _names_character(inner: str) -> bool:
    try:
        return tags.parse(inner).character is not None
    except InputError:
        return True                   # a bad tag: left whole, for the cast to name the problem


def _written(turn: str) -> str:
    """A turn as text again: its voice mark back as WebVTT's span."""
    return re.sub("\ue000([^\ue001]*)\ue001", r"<v \1>", turn).strip()


def _lines(body: str) -> list[str]:
    """The text's lines without markup or karaoke times, references read, voice spans as marks."""
    text = _VOICE.sub(lambda m: f"\ue000{m['name'].strip()}\ue001", _references(body or ""))
    return [ln for ln in _TIMESTAMP.sub("", tags.MARKUP.sub("", text)).splitlines() if ln.strip()]


def color_name(red: int, green: int, blue: int) -> str:
    """A subtitle colour as the cast's [colors] table names it: each channel on or off (teletext's and
    CEA-608's eight colours, which broadcast subtitles pick speakers by: BBC yellow, cyan, green …)."""
    return _EIGHT[(red >= 128, green >= 128, blue >= 128)]


def text_color(text: str) -> str | None:
    """The colour a subtitle's text is written in, where its markup gives one: SRT's `<font color="…">`
    (a name or #rrggbb), WebVTT's colour classes (`<c.yellow>`). The first one; None without."""
    m = _FONT_COLOR.search(text or "")
    if m:
        value = m["value"].strip().lower()
        hexa = _HTML_NAMES.get(value, value).lstrip("#")
        if re.fullmatch(r"[0-9a-f]{6}|[0-9a-f]{3}", hexa):
            hexa = hexa if len(hexa) == 6 else "".join(c * 2 for c in hexa)
            return color_name(*(int(hexa[i:i + 2], 16) for i in (0, 2, 4)))
        return None
    m = _VTT_COLOR.search(text or "")
    return _VTT_CLASSES[m[1]] if m else None


def sentence_case(text: str) -> str:
    """An all-capitals line (broadcast captions: SCC, some SDH) in sentence case: the English reader
    takes capitals for emphasis and stresses every word ("WE HAVE" wˈi hˈæv, "We have" wˌi hæv); it reads
    a lower-case "fbi" or "nypd" letter by letter all the same. Lines with any lower-case letter, and
    scripts without case, are left as written."""
    cased = [c for c in text if c.isupper() or c.islower()]
    if len(cased) < _CAPS_MIN or any(c.islower() for c in cased):
        return text
    lowered = re.sub(r"(^|[.!?…]\s+)(\W*)(\w)", lambda m: m[1] + m[2] + m[3].upper(), text.lower())
    return re.sub(r"\bi\b", "I", lowered)


def _references(text: str) -> str:
    return _REFERENCE.sub(lambda m: html.unescape(m[0]).replace("\xa0", " "), text)


def _read_turns(lines: list[str], cast: frozenset[str], unsaid: list[str]) -> list[tuple[str, str | None, str]]:
    """(the turn as written, its speaker or None, what it says) for each turn; descriptions to `unsaid`."""
    return [(raw, *_turn(_LYRIC.sub(" ", raw), unsaid, cast)) for raw in _turns(lines, cast)]


def _turns(lines: list[str], cast: frozenset[str]) -> list[str]:
    """The lines regrouped by speaker: a dash, `>>`, a label or a voice span opens a turn; other lines
    continue one."""
    out: list[str] = []
    for line in (piece for ln in lines for piece in re.split("(?=\ue000)", ln) if piece.strip()):
        first, *more = _INLINE_TURN.split(line) if _DASH.match(line) else [line]
        if out and not (_DASH.match(first) or _label(first, cast) or _VOICED.match(first)):
            out[-1] += "\n" + first
        else:
            out.append(first)
        out += more                   # each after a sentence's end and a dash: a turn of its own
    return out


def _label(text: str, cast: frozenset[str] = frozenset()) -> re.Match | None:
    m = _LABEL.match(text)
    return m if m and (_is_label(m["name"]) or m["name"].strip().lower() in cast) else None


def _turn(text: str, unsaid: list[str], cast: frozenset[str]) -> tuple[str | None, str]:
    """(the turn's speaker label or None, what it says)."""
    text = _DASH.sub("", text, count=1)
    name = None
    if (m := _VOICED.match(text) or _label(text, cast)) is not None:
        name, text = (m[1] if m.re is _VOICED else m["name"]).strip() or None, text[m.end():]
    unsaid += _BRACKETED.findall(text) + _COMMENT.findall(text)
    text = _COMMENT.sub("", _BRACKETED.sub(" ", text))
    while (m := _OPENING_ASIDE.match(text)) is not None:
        unsaid.append(m.group().strip())
        text = text[m.end():]
    return name, text.strip()


def _is_label(name: str) -> bool:
    """An SDH speaker label: upper case with two or more letters ("JOHN", "MAN #2"), not a sentence's
    opening word ("Note:", "Look:") — those are said."""
    letters = [c for c in name if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)

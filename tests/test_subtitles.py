"""What a subtitle says aloud (otio_adapters/subtitles.py): SDH speaker labels, descriptions, lyrics,
character references and dialogue dashes are not read out; through a real SRT, the cast and a real take."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from takefit.bridges import cli
from takefit.engine.frontend import Frontend
from takefit.otio_adapters import cast
from takefit.otio_adapters.cue import Cue
from takefit.otio_adapters.extract import extract
from takefit.otio_adapters.subtitles import by_speaker, spoken, text_color


@pytest.mark.parametrize("text, said, speaker, unsaid", [
    ("JOHN: (whispering) We need to go.", "We need to go.", "JOHN", ("(whispering)",)),
    ("MAN #2 (V.O.): Copy that.", "Copy that.", "MAN #2", ()),
    ("DR. O'NEIL: Sit.", "Sit.", "DR. O'NEIL", ()),
    ("I know [sighs] you're right.", "I know you're right.", None, ("[sighs]",)),
    ("[DOOR SLAMS]\nWho's there?", "Who's there?", None, ("[DOOR SLAMS]",)),
    ("It costs $5&nbsp;&amp; it&#39;s 10:30.", "It costs $5 & it's 10:30.", None, ()),
    ("<i>Where were you?</i>", "Where were you?", None, ()),
])
def test_labels_descriptions_and_references_are_not_said(text, said, speaker, unsaid):
    got = spoken(text)
    assert (got.text, got.speaker, got.unsaid, got.turns) == (said, speaker, unsaid, 1)


@pytest.mark.parametrize("text", [
    "Note: this is said.",              # a sentence's opening word, not an upper-case label
    "I (and only I) know.",             # an aside inside the line is speech
    "他还没还(huán)钱。",                 # a pinyin reading follows its character
    "Say [Kokoro](/kˈOkəɹO/) twice.",   # the engine's pronunciation link
    "-5 degrees out there.",            # a minus, not a dialogue dash
    "R&D beats AT&T; yes.",             # & without a character reference's form
    "We have to leave\nbefore the storm hits.",
])
def test_speech_that_looks_like_a_convention_is_kept(text):
    got = spoken(text)
    assert got.text == " ".join(text.split()) and got.speaker is None and got.turns == 1 and not got.unsaid


@pytest.mark.parametrize("text, said, turns, speakers", [
    ("- I was home.\n- Liar!", "I was home. Liar!", 2, ()),
    ("- I was home. - Liar!", "I was home. Liar!", 2, ()),
    ("Where were you?\n- At home.", "Where were you? At home.", 2, ()),
    ("JOHN: Hi.\nMARY: Hello.", "Hi. Hello.", 2, ("JOHN", "MARY")),
    (">> JOHN: Good evening.\n>> Thanks.", "Good evening. Thanks.", 2, ("JOHN",)),
    ("Wait... - what?", "Wait... - what?", 1, ()),       # a dash inside a line that opens without one
])
def test_dialogue_turns_are_counted_and_their_marks_not_said(text, said, turns, speakers):
    got = spoken(text)
    assert (got.text, got.turns, got.speakers) == (said, turns, speakers)


def test_what_leaves_nothing_to_say_says_why():
    assert spoken("♪ La la la ♪").silence.startswith("lyrics (♪)")
    assert spoken("♪ La la ♪ Stop singing!").text == "Stop singing!"
    assert spoken("(laughs)").silence == "only a description, nothing to say: (laughs)"
    assert spoken("[phone ringing]\n[door slams]").silence.endswith("[phone ringing] [door slams]")
    assert spoken("Hello.").silence == "" and spoken("").silence == ""


def test_the_cast_takes_the_label_as_the_character_below_a_tag(tmp_path):
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\n'
                                                '[characters.mary]\nvoice = "af_bella"\n', "utf-8")
    c = cast.load(cast.find(tmp_path / "cut.srt", None))
    john = c.resolve(Cue("c001", 0, 50, Fraction(25), "JOHN: (whispering) We go."))
    assert (john.character, john.voice, john.text, john.notes) == ("john", "am_adam", "We go.", ())
    tagged = c.resolve(Cue("c002", 0, 50, Fraction(25), "[mary] JOHN: We go."))
    assert (tagged.character, tagged.voice, tagged.text) == ("mary", "af_bella", "We go.")
    stranger = c.resolve(Cue("c003", 0, 50, Fraction(25), "NURSE: Next!"))
    assert stranger.character == "NURSE" and "not in the cast" in stranger.notes[0]
    both = c.resolve(Cue("c004", 0, 50, Fraction(25), "JOHN: Hi.\nMARY: Hello."))
    assert both.character == "john" and "2 speakers in one cue (JOHN, MARY)" in both.notes[0]
    alone = c.resolve(Cue("c006", 0, 50, Fraction(25), "JOHN: Wait.\nJohn: Come back!"))
    assert (alone.character, alone.text, alone.notes) == ("john", "Wait. Come back!", ())   # one person: no note
    bare = c.resolve(Cue("c005", 0, 50, Fraction(25), "[door slams]"))
    assert (bare.text, bare.silence) == ("", "nothing to say: only [door slams]")


SDH = """1
00:00:01,000 --> 00:00:03,000
JOHN: (whispering) We need to go.

2
00:00:03,500 --> 00:00:05,000
[door slams]

3
00:00:05,500 --> 00:00:07,000
♪ La la la ♪

4
00:00:07,500 --> 00:00:09,500
- Now?
- Now!
"""


def test_an_sdh_srt_dubs_only_what_is_spoken(tmp_path, capsys):
    """A real SRT through the OTIO adapter, the cast and the engine: the label picks the voice, the take
    holds the words alone (as long as the same words said without the label and the direction), and the
    description and the lyrics are skipped with their reasons."""
    src = tmp_path / "scene.srt"
    src.write_text(SDH, "utf-8")
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\nspeed = "natural"\n',
                                                "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--loudness", "off", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in report["cues"]}
    assert by_id["c001"]["character"] == "john" and by_id["c001"]["voice_used"] == "am_adam"
    assert (by_id["c002"]["status"], by_id["c002"]["error"]) == ("skipped", "nothing to say: only [door slams]")
    assert by_id["c003"]["status"] == "skipped" and by_id["c003"]["error"].startswith("lyrics (♪)")
    assert any("2 speakers in one cue" in w for w in by_id["c004"]["warnings"])
    take = sf.read(tmp_path / by_id["c001"]["take"], dtype="float32")[0]
    assert cli.main(["say", "We need to go.", "--voice", "am_adam", "--loudness", "off",
                     "-o", str(tmp_path / "plain.wav")]) == 0
    plain = sf.read(tmp_path / "plain.wav", dtype="float32")[0]
    # kept at its natural pace (speed = natural): the same words, the same speech, within a few ms
    assert abs(_speech_seconds(take, 48000) - _speech_seconds(plain, 48000)) < 0.05


def _speech_seconds(audio: np.ndarray, rate: int) -> float:
    """From the first to the last 10 ms frame within 40 dB of the loudest."""
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(level > level.max() - 40)
    return (loud[-1] - loud[0] + 1) * 480 / rate


def turns(raw: str, duration: int = 60) -> list[tuple[int, int, str]]:
    return [(c.start, c.duration, c.raw_text) for c in
            by_speaker(Cue("c001", 100, duration, Fraction(25), raw, origin="subtitle 1 at 00:00:04:00"))]


def test_named_speakers_get_a_cue_each_sharing_the_slot_by_their_lines():
    assert turns("JOHN: Where were you?\nMARY: At home.") == [(100, 39, "JOHN: Where were you?"),
                                                            (139, 21, "MARY: At home.")]
    assert turns(">> ROGER: WE GO.\n>> ANNA: NOW?") == [(100, 36, ">> ROGER: WE GO."), (136, 24, ">> ANNA: NOW?")]
    assert turns("- <v Anna>Now?\n- <v Bob>Yes, right now, go!") == [(100, 10, "<v Anna>Now?"),
                                                                    (110, 50, "<v Bob>Yes, right now, go!")]
    assert turns("[angry] JOHN: Hi.\nMARY: Hello there.")[1] == (112, 48, "[angry] MARY: Hello there.")


@pytest.mark.parametrize("raw, duration", [
    ("- I was home.\n- Liar!", 60),                 # nobody named: who speaks is unknown
    ("JOHN: Hi.\n- Hello.", 60),                    # the second turn unnamed
    ("JOHN: Hi.\nJOHN: Hello.", 60),                # one speaker
    ("[alice] JOHN: Hi.\nMARY: Hello.", 60),         # the tag names who reads it
    ("JOHN: Hi.\nMARY: Hello.", 0),                 # a point cue: no slot to share
    ("JOHN: Hi.\nMARY: A much longer line than his.", 8),   # his turn would be under 6 frames
])
def test_other_cues_stay_whole(raw, duration):
    assert turns(raw, duration) == [(100, duration, raw)]


def test_a_two_speaker_subtitle_dubs_as_two_takes_in_two_voices(tmp_path, capsys):
    src = tmp_path / "two.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:04,000\nJOHN: Where were you last night?\nMARY: At home.\n", "utf-8")
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\n'
                                                '[characters.mary]\nvoice = "af_bella"\n', "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"]) == 0
    cues = json.loads(capsys.readouterr().out)["cues"]
    assert [(c["character"], c["voice_used"], c["position"]["start_frame"], c["position"]["duration_frames"])
            for c in cues] == [("john", "am_adam", 25, 57), ("mary", "af_bella", 82, 18)]   # 26 and 8 characters
    assert all(c["status"] in ("rendered", "flagged") for c in cues)
    assert [c["text"] for c in cues] == ["Where were you last night?", "At home."]


def test_a_subtitle_file_written_back_keeps_its_subtitles_whole(tmp_path):
    src = tmp_path / "two.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:04,000\nJOHN: Where were you?\nMARY: At home.\n", "utf-8")
    tl = otio.adapters.read_from_file(str(src), rate=25)
    assert [c.raw_text for c in extract(tl)] == ["JOHN: Where were you?", "MARY: At home."]
    otio.adapters.write_to_file(tl, str(tmp_path / "back.srt"))
    assert (tmp_path / "back.srt").read_text("utf-8") == \
        "1\n00:00:01,000 --> 00:00:04,000\nJOHN: Where were you?\nMARY: At home.\n"


@pytest.mark.parametrize("text, said", [
    ("ROGER: WE HAVE TO LEAVE. I KNOW!", "We have to leave. I know!"),
    (">> ...AND THEN THE FBI CAME.", "...And then the fbi came."),     # read F B I all the same (misaki)
    ("ÇA VA? OUI.", "Ça va? Oui."),
    ("OK.", "OK."),                                                  # too short to be a caption in capitals
    ("We met the FBI.", "We met the FBI."),                          # mixed case: as written
])
def test_a_line_in_capitals_is_read_in_sentence_case(text, said):
    assert spoken(text).text == said


def test_capitals_are_emphasis_to_the_english_reader():
    """Why: the frontend stresses every word of a line in capitals (and spells lower-case acronyms)."""
    reader = Frontend()                         # the engine's reader, as `say --explain` shows it
    caps, plain = (reader.read(t).phonemes for t in ("WE HAVE TO GO.", spoken("WE HAVE TO GO.").text))
    assert caps.count("ˈ") > plain.count("ˈ")
    assert "ˌɛfbˌiˈI" in reader.read("The fbi is here.").phonemes


@pytest.mark.parametrize("text, direction", [
    ("(angrily) Get out!", "angrily"),
    ("JOHN: (nervously) I don't know.", "nervously"),
    ("I said [sadly] it's over.", "sadly"),
    ("(whispering) We go.", None),            # a manner, not an emotion the model names
    ("[door slams] Who's there?", None),
    ("Get out!", None),
])
def test_a_direction_that_names_an_emotion_is_found(text, direction):
    assert spoken(text).direction == direction


def test_the_direction_is_the_emotion_below_a_tag_and_above_the_cast(tmp_path):
    (tmp_path / "takefit.cast.toml").write_text('[defaults]\nemotion = "calm 0.5"\n', "utf-8")
    c = cast.load(cast.find(tmp_path / "cut.srt", None))
    directed = c.resolve(Cue("c001", 0, 50, Fraction(25), "(angrily) Get out!"))
    assert (directed.text, directed.emotion.text) == ("Get out!", "angrily")
    assert "emotion from the subtitle's direction: 'angrily'" in directed.notes
    assert c.resolve(Cue("c002", 0, 50, Fraction(25), "[sad] Get out, [angrily] now!")).emotion.preset == "sad"
    assert c.resolve(Cue("c003", 0, 50, Fraction(25), "Get out!")).emotion.preset == "calm"


def test_a_cast_character_is_a_label_in_any_case(tmp_path):
    assert spoken("John: We go.").speaker is None                         # not a cast's name: speech
    assert spoken("John: We go.", frozenset({"john"})).text == "We go."
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\n', "utf-8")
    c = cast.load(cast.find(tmp_path / "cut.srt", None))
    cue = c.resolve(Cue("c001", 0, 50, Fraction(25), "John: We go."))
    assert (cue.character, cue.voice, cue.text) == ("john", "am_adam", "We go.")
    assert c.resolve(Cue("c002", 0, 50, Fraction(25), "Note: we go.")).text == "Note: we go."


def test_cast_names_split_a_cue_in_any_case():
    cue = Cue("c001", 100, 60, Fraction(25), "John: Where were you?\nMary: At home.")
    assert [c.raw_text for c in by_speaker(cue)] == [cue.raw_text]
    assert [c.raw_text for c in by_speaker(cue, frozenset({"john", "mary"}))] == ["John: Where were you?",
                                                                                  "Mary: At home."]


def test_speakers_nobody_cast_are_pointed_out(tmp_path, capsys):
    src = tmp_path / "scene.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:03,000\nJOHN: Where were you?\n\n2\n00:00:03,500 --> 00:00:05,000\n"
                   "MARY: At home.\n\n3\n00:00:05,500 --> 00:00:07,000\nJOHN: Liar.\n", "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list"]) == 0
    out = capsys.readouterr().out
    assert "2 characters are not in the cast and all read by the same voice (auto): JOHN (2 lines), MARY (1 line)" \
        in out
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\n', "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list"]) == 0
    assert "not in the cast and all read" not in capsys.readouterr().out


def test_speakers_by_colour_are_cast_by_the_colors_table(tmp_path, capsys):
    """Broadcast subtitles pick speakers by colour (BBC: yellow, cyan, green …): a subtitle's colour is its
    cue's, which the cast's [colors] maps to a character and --color keeps."""
    src = tmp_path / "scene.srt"
    src.write_text('1\n00:00:01,000 --> 00:00:03,000\n<font color="#ffff00">Where were you?</font>\n\n'
                   '2\n00:00:03,500 --> 00:00:05,000\n<font color=cyan>At home.</font>\n\n'
                   '3\n00:00:05,500 --> 00:00:07,000\nNobody asked.\n', "utf-8")
    (tmp_path / "takefit.cast.toml").write_text('[characters.john]\nvoice = "am_adam"\n[characters.mary]\n'
                                                'voice = "af_bella"\n[colors]\nyellow = "john"\ncyan = "mary"\n',
                                                "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json"]) == 0
    cues = json.loads(capsys.readouterr().out)["cues"]
    assert [(c["character"], c["voice"], c["text"]) for c in cues] == [
        ("john", "am_adam", "Where were you?"), ("mary", "af_bella", "At home."), ("", "auto", "Nobody asked.")]
    assert cli.main(["dub", str(src), "--rate", "25", "--list", "--json", "--color", "cyan"]) == 0
    assert [c["text"] for c in json.loads(capsys.readouterr().out)["cues"]] == ["At home."]


@pytest.mark.parametrize("markup, colour", [('<font color="#ffff00">', "yellow"), ("<font color=lime>", "green"),
                                            ("<FONT COLOR='#0FF'>", "cyan"), ("<c.magenta>", "magenta"),
                                            ("<c.loud>", None), ("", None)])
def test_the_colour_a_subtitle_is_written_in(markup, colour):
    assert text_color(markup + "Hello.") == colour


def test_a_lingering_subtitle_names_the_natural_pace(tmp_path, capsys):
    src = tmp_path / "slow.srt"
    src.write_text("1\n00:00:01,000 --> 00:00:03,000\nWhere were you last night?\n", "utf-8")   # ≈ 1.9×
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"]) == 0
    cue = json.loads(capsys.readouterr().out)["cues"][0]
    assert cue["status"] == "flagged" and any('speed = "natural"' in w for w in cue["warnings"])
    (tmp_path / "takefit.cast.toml").write_text('[defaults]\nspeed = "natural"\n', "utf-8")
    assert cli.main(["dub", str(src), "--rate", "25", "--no-cache", "--json"]) == 0
    cue = json.loads(capsys.readouterr().out)["cues"][0]
    assert not any('speed = "natural"' in w for w in cue["warnings"])
    assert cue["achieved"]["frames"] == 50                 # the slot, its line at its own pace, silence after

"""Japanese, Spanish, French, Italian, Portuguese and Hindi: readers, detection, overrides, exact takes."""
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from takefit.engine import InputError, Lexicon, RenderRequest, Target, fitting
from takefit.engine.emotion import Emotion
from takefit.engine.engine import Engine
from takefit.engine.frontend import Frontend

ROOT = Path(__file__).resolve().parents[1]
VOCAB = set(json.loads((ROOT / "engine" / "kokoro" / "vocab.json").read_text("utf-8"))["vocab"])
CLASSED = fitting.VOWELS | fitting.SONORANTS | fitting.FRICATIVES | fitting.PLOSIVES | fitting.PAUSES | set(" ˈˌ")

# (language, voice, a short line, phonemes a reader of the language must give for part of it)
LINES = [
    ("es", "ef_dora", "¿Dónde está la estación?", "dˈonde"),
    ("fr", "ff_siwis", "Bonjour, comment ça va ?", "bɔ̃ʒˈuʁ"),
    ("it", "im_nicola", "Ciao, come stai?", "ʧˈao"),
    ("pt", "pf_dora", "Olá, tudo bem?", "olˈa"),
    ("hi", "hf_alpha", "नमस्ते, आप कैसे हैं?", "nəmˈʌsteː"),
    ("ja", "jf_alpha", "こんにちは、元気ですか。", "koɲɲiʨiβa"),
]


@pytest.fixture(scope="module")
def fe():
    return Frontend()


@pytest.mark.parametrize("lang,voice,text,expected", LINES, ids=[x[0] for x in LINES])
def test_explain_reads_the_language(engine, lang, voice, text, expected):
    info = engine.explain(text, voice)
    assert [s["language"] for s in info["segments"]] == [lang]
    assert expected in info["phonemes"]
    assert set(info["phonemes"]) <= VOCAB, set(info["phonemes"]) - VOCAB
    assert info["voice"] == voice and info["natural_seconds"] > 0.4
    # `auto` picks a voice of the line's language (the Latin-script ones need the language named)
    auto = engine.explain(text, language=lang)
    assert auto["voice"].startswith(voice[0])


@pytest.mark.slow
@pytest.mark.parametrize("lang,voice,text,expected", LINES, ids=[x[0] for x in LINES])
def test_take_of_exact_length(engine, lang, voice, text, expected):
    take = engine.render(RenderRequest(text, voice=voice, target=Target.parse("47@25")))
    assert take.samples == len(take.audio) == 47 * 48000 // 25
    assert not [w for w in take.warnings if "accent" in w]
    assert take.speech_end - take.speech_start > 0.5


def test_every_phoneme_is_in_the_vocabulary_and_classed(fe):
    """What the readers give for the bench's sentences (4 per language): Kokoro tokens only, and every
    one in a class of the fitter (a symbol falling through to the default class would be a plosive)."""
    seen: dict[str, set[str]] = {}
    per_language: dict[str, int] = {}
    for line in (ROOT / "bench" / "data" / "languages.tsv").read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        lang, text = line.split("\t", 1)
        if per_language.get(lang, 0) >= 4:
            continue
        per_language[lang] = per_language.get(lang, 0) + 1
        reading = fe.read(text, lang)
        assert reading.languages == [lang], text
        seen.setdefault(lang, set()).update(reading.phonemes)
    assert sorted(per_language) == ["es", "fr", "hi", "it", "ja", "pt"]
    for lang, symbols in seen.items():
        assert symbols <= VOCAB, (lang, symbols - VOCAB)
        assert symbols <= CLASSED, (lang, symbols - CLASSED)
    assert fitting.classify("\u0303") == "vowel" and fitting.classify("ʲ") == "sonorant"


@pytest.mark.parametrize("text,language,voice_language,expected", [
    ("ありがとう", "auto", None, ["ja"]),                       # kana → Japanese
    ("今日は雨です", "auto", None, ["ja"]),                      # kanji with kana → Japanese
    ("今天下雨", "auto", None, ["zh"]),                          # kanji alone, nothing Japanese: Mandarin
    ("雨天", "auto", "ja", ["ja"]),                              # ... unless the voice is Japanese
    ("雨天", "ja", None, ["ja"]),                                # ... or the line says so
    ("今日はいい天気", "zh", None, ["zh", "ja", "zh"]),          # language zh: kanji are Mandarin, kana still ja
    ("धन्यवाद", "auto", None, ["hi"]),                            # Devanagari → Hindi
    ("Hola, ¿qué tal?", "auto", "es", ["es"]),                   # a Spanish voice reads Latin text as Spanish
    ("Hola, ¿qué tal?", "auto", None, ["en"]),                   # no voice, no language: English as before
    ("Hola, ¿qué tal?", "auto", "ja", ["en"]),                   # a Japanese voice: Latin letters are English
    ("Merci beaucoup", "fr", "en", ["fr"]),                      # the line's language over the voice's
    ("彼はTakefitを使った。", "auto", None, ["ja", "en", "ja"]),   # English word in a Japanese line
    ("Vamos a 北京 mañana", "es", None, ["es", "zh", "es"]),      # Han in a Spanish line
    ("मैं Google पर काम करता हूँ", "auto", None, ["hi", "en", "hi"]),
    ("Me encanta Star Wars", "es", None, ["es"]),                # names in a Spanish line: Spanish rules
])
def test_language_per_segment(fe, text, language, voice_language, expected):
    reading = fe.read(text, language, voice_language=voice_language)
    assert [s.language for s in reading.segments] == expected


def test_digits_follow_the_word_they_count(fe):
    ja = fe.read("3日に会いましょう")
    assert [s.language for s in ja.segments] == ["ja"] and ja.phonemes.startswith("mʲiʔka")   # 三日, not san nichi
    hi = fe.read("मेरी उम्र 25 साल है")
    assert [s.language for s in hi.segments] == ["hi"]
    es = fe.read("Pagué 1.250,50 euros", "es")
    assert "mˈil" in es.phonemes and "kˈoma" in es.phonemes and "." not in es.phonemes   # not "uno punto"


def test_voice_of_another_language_keeps_the_accent_warning(engine):
    plan = engine.plan("Hola, ¿qué tal?", "af_heart", "es")
    assert plan.reading.languages == ["es"]
    warning = Engine._voice_language_warning(plan)
    assert warning and "af_heart" in warning and "es" in warning
    assert Engine._voice_language_warning(engine.plan("Hola, ¿qué tal?", "em_alex")) is None


@pytest.mark.parametrize("lang,text,link,ipa", [
    ("es", "Visitamos [Sevilla](/sebˈiʎa/) ayer.", "Sevilla", "sebˈiʎa"),
    ("fr", "J'adore [Paris](/paʁˈis/) au printemps.", "Paris", "paʁˈis"),
    ("it", "Andiamo a [Milano](/milˈaano/) domani.", "Milano", "milˈaano"),
    ("pt", "Moro em [Recife](/xesˈifi/) agora.", "Recife", "xesˈifi"),
    ("hi", "मैं [दिल्ली](/dˈɪlːiː/) में रहता हूँ।", "दिल्ली", "dˈɪlːiː"),
    ("ja", "[東京](/toːkʲoːto/)に行きます。", "東京", "toːkʲoːto"),
])
def test_inline_override_is_honoured(fe, lang, text, link, ipa):
    reading = fe.read(text, lang)
    assert reading.languages == [lang]
    assert ipa in reading.phonemes
    words = [w for s in reading.segments for w in s.words if not isinstance(w, str)]
    assert any(w.text == link and w.phonemes == ipa and w.overridden for w in words)


def test_dictionary_file_per_language(tmp_path):
    d = tmp_path / "words.txt"
    d.write_text("takefit  tˈAkfɪt        # no section: every Latin-script language\n"
                 "大阪  おおさか          # a kana reading: Japanese\n"
                 "[ja]\n東京  toukyou\n"
                 "[es]\nSevilla  /sebˈiʎa/\n"
                 "[fr]\nSevilla  sevijˈa\n", "utf-8")
    fe = Frontend(Lexicon.load(d))
    es = fe.read("Usamos takefit en Sevilla.", "es")
    assert "tˈAkfɪt" in es.phonemes and "sebˈiʎa" in es.phonemes
    fr = fe.read("Nous aimons Sevilla et takefit.", "fr")
    assert "sevijˈa" in fr.phonemes and "tˈAkfɪt" in fr.phonemes
    it = fe.read("Amiamo Sevilla.", "it")
    assert "sebˈiʎa" not in it.phonemes and "sevijˈa" not in it.phonemes      # sections stay in their language
    ja = fe.read("東京から大阪まで行きます", "ja")
    assert ja.phonemes.startswith("toːkʲoː kaɾa oːsaka")


def test_japanese_inline_readings(fe):
    kana = fe.read("日本(にっぽん)の首都は東京(とうきょう)です。")
    romaji = fe.read("日本(nippon)の首都は東京(tōkyō)です。")
    assert kana.languages == romaji.languages == ["ja"]
    assert kana.phonemes == romaji.phonemes
    assert kana.phonemes.startswith("ɲiʔpoɴ") and "toːkʲoː" in kana.phonemes
    plain = fe.read("日本の首都")
    assert plain.phonemes.startswith("ɲihoɴ") or plain.phonemes.startswith("ɲiʔpoɴ")
    with pytest.raises(InputError, match="kana or romaji"):
        Lexicon.parse("[ja]\n東京  токио")


def test_dictionary_rejects_an_unknown_section():
    with pytest.raises(InputError, match=r"dict:2: unknown dictionary section \[de\].*ja, es, fr, it, pt, hi"):
        Lexicon.parse("a  ə\n[de]\nb  bˈe", "dict")


def test_language_validation_lists_the_codes():
    with pytest.raises(InputError, match="auto, zh, en, ja, es, fr, it, pt, hi"):
        RenderRequest("Hallo", language="de")
    for code in ("ja", "es", "fr", "it", "pt", "hi"):
        assert RenderRequest("x", language=code).to_wire()["language"] == code
    from takefit.daemon.protocol import validate
    msg = validate({"op": "explain", "id": 1, "text": "Hola", "language": "es"})
    assert msg["language"] == "es"
    from takefit.otio_adapters import tags
    assert tags.parse("ana | lang=ja").language == "ja"
    with pytest.raises(InputError, match="accepted auto, zh, en, ja"):
        tags.parse("ana | lang=de")


def test_cli_language_choices():
    out = subprocess.run([sys.executable, "-m", "takefit.bridges.cli", "say", "Hallo", "-l", "de", "--explain"],
                         check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "auto, zh, en, ja, es, fr, it, pt, hi" in out.stderr.replace("'", "")


@pytest.mark.slow
@pytest.mark.parametrize("voice,text,emotion", [
    ("em_alex", "¡No me lo puedo creer, otra vez tarde!", Emotion("angry", 0.8)),
    ("jm_kumo", "本当にありがとう、とても嬉しいです！", Emotion(from_line=True)),
])
def test_emotion_and_fitting_in_another_language(engine, voice, text, emotion):
    """An emotional read (a preset; the line's own emotion, judged from Japanese text) fitted to a slot
    both shorter and longer than the natural read: the take is exact and the emotion is on record."""
    natural = engine.explain(text, voice)["natural_seconds"]
    for ratio in (0.8, 1.25):
        seconds = round(natural * ratio, 2)
        take = engine.render(RenderRequest(text, voice=voice, emotion=emotion, target=Target.parse(f"{seconds}s")))
        assert take.samples == len(take.audio) == round(seconds * 48000)
        assert take.emotion is not None


@pytest.mark.slow      # imports torch (enrollment)
def test_enrollment_practises_in_the_reference_language(fe):
    from takefit.engine.enroll import index
    from takefit.engine.enroll.invert import PRACTICE, unseen_sentence

    bench = (ROOT / "bench" / "data" / "languages.tsv").read_text("utf-8")
    for lang in ("ja", "es", "fr", "it", "pt", "hi"):
        assert len(PRACTICE[lang]) == 5 and unseen_sentence(lang, 2) == PRACTICE[lang][2]
        assert not any(s in bench for s in PRACTICE[lang])                 # never the bench's test sentences
        for sentence in (*PRACTICE[lang], *index.SENTENCES[lang]):
            assert fe.read(sentence, lang).languages == [lang]
    assert set(index.LANGUAGES) == {"zh", "en", "ja", "es", "fr", "it", "pt", "hi"}


@pytest.mark.slow
@pytest.mark.parametrize("voice,text,word", [
    ("jf_alpha", "準備はいいですか？{@1.5s}行きましょう！", "行き"),
    ("ef_dora", "¿Estáis listos? {@1.2s}¡Vamos ya!", "¡Vamos"),
    ("hm_omega", "क्या तुम तैयार हो? {@1.4s}चलो चलें!", "चलो"),
])
def test_hit_point_pins_a_word(engine, voice, text, word):
    take = engine.render(RenderRequest(text, voice=voice, target=Target.parse("2.6s")))
    assert take.samples == round(2.6 * 48000)
    assert [p.word for p in take.pins] == [word]
    assert abs(take.pins[0].placed - take.pins[0].asked) < 0.03


def _fitter_items(fe, text: str, lang: str) -> list[fitting.Item]:
    """One chunk's items as the engine builds them from the reader's phonemes (durations are not needed)."""
    labels = ["<sil>", *fe.read(text, lang).phonemes, "<sil>"]
    items = [fitting.Item(lab, fitting.classify(lab), 4.0, 0) for lab in labels]
    fitting.mark_fixed(items)
    return items


def test_hindi_flap_dot_is_not_a_pause(fe):
    """espeak-ng writes ड़/ढ़ as `r.` (सड़क → sˈʌr.ək): that `.` is part of the flap, so the fitter must not
    stretch or shrink it as a pause; the sentence's own `.` (from ।) still is one, and so is a `.` after
    `r` that ends an Italian sentence."""
    items = _fitter_items(fe, "सड़क पर बड़ा घर है, मैंने पढ़ लिया।", "hi")
    flaps = [b for a, b in itertools.pairwise(items) if a.label == "r" and b.label == "."]
    assert len(flaps) == 3 and all(it.kind == "sonorant" for it in flaps), [it.kind for it in flaps]
    assert items[-2].label == "." and items[-2].kind == "tail"
    assert "pause" in {it.kind for it in items if it.label == ","}
    italian = _fitter_items(fe, "Andiamo al bar. Subito.", "it")
    ends = [b for a, b in itertools.pairwise(italian) if a.label == "r" and b.label == "."]
    assert len(ends) == 1 and ends[0].kind == "pause"


def test_italian_verb_e_is_read_open_and_stressed(fe):
    """espeak-ng reads `è` ("is") as the conjunction `e`; takefit says ˈɛ (a phoneme Kokoro knows from
    Italian words), unless the `è` is elided into its word (dov'è, which espeak-ng reads right) or the
    user's dictionary says otherwise; the conjunction `e` stays /e/."""
    phonemes = fe.read("Il pavimento è bagnato e freddo. È vero. Dov'è la fermata?", "it").phonemes
    assert "pavimˈento ˈɛ baɲˈato e " in phonemes
    assert ". ˈɛ vˈero" in phonemes and "dovˈɛ" in phonemes
    assert fe.read("Caffè e tè.", "it").phonemes.count("ɛ") == 2       # accented endings untouched
    from takefit.engine.frontend.espeak import EspeakReader
    words, read = EspeakReader.get("it").read("Il pavimento è bagnato.", {"è": "ɛː"})
    assert "ɛː baɲˈato" in read and [w.overridden for w in words if w.text == "è"] == [True]


def test_bench_word_joins_take_the_sentence_spaces():
    """The bench's WER (bench/languages.py) counts a word written together or apart by the recogniser
    as no error, any other difference still as one."""
    sys.path.insert(0, str(ROOT / "bench"))
    from languages import rejoin, score_text

    ref = ["questa", "città", "è", "bellissima", "al", "tramonto"]
    assert rejoin(ref, ["questa", "città", "è", "bellissima", "altra", "monto"]) == ref
    assert rejoin(["mia", "nonna"], ["mianonna"]) == ["mia", "nonna"]
    assert rejoin(["chiamami", "subito"], ["che", "amami", "subito"]) == ["che", "amami", "subito"]
    row = score_text("Mianonna preparava le lasagne ogni domenica", "Mia nonna preparava le lasagne ogni domenica.", "it")
    assert (row["errors"], row["errors_strict"], row["ref_len"]) == (0, 2, 7)
    row = score_text("attenzione il pavimento e ancora bagnato", "Attenzione, il pavimento è ancora bagnato!", "it")
    assert row["errors"] == row["errors_strict"] == 1


def test_long_hindi_line_is_not_cut_inside_a_flap(fe):
    """A line over the chunk limit is cut at a sentence's end first; the `.` of a flap (लड़का →
    lˈʌr.kˌaː) is not one: cut there, the word would be split across two model calls and the chunk
    would end with a sentence's pause."""
    from takefit.engine.frontend import split_chunks

    phonemes = fe.read("वह लड़का बहुत पढ़ता है और उसका भाई भी बहुत पढ़ाई करता है " * 8, "hi").phonemes
    assert phonemes.count("r.") == 24
    chunks = split_chunks(phonemes, limit=120)
    assert len(chunks) > 5 and all(len(c.phonemes) <= 120 for c in chunks)
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == phonemes.replace(" ", "")
    assert [c.pause_after for c in chunks[:-1]] == [" "] * (len(chunks) - 1)
    assert sum(c.phonemes.count("r.") for c in chunks) == 24      # no flap torn from its letter
    sentences = split_chunks(phonemes.replace("hɛː ɔːɾ", "hɛː. ɔːɾ"), limit=120)   # a real sentence end still wins
    assert "." in {c.pause_after for c in sentences}


def test_bench_hindi_numbers_are_words_on_both_sides():
    """The bench's "numbers as words" for Hindi: digits in the transcript (Urdu script) or in the sentence
    are compared as the Hindi number words, so `8` for आठ is no error and `پچاس` for 50 none either."""
    sys.path.insert(0, str(ROOT / "bench"))
    from languages import hindi_number, score_text

    assert [hindi_number(n) for n in (0, 8, 50, 99, 1941, 125000)] == [
        "शून्य", "आठ", "पचास", "निन्यानवे", "एक हज़ार नौ सौ इकतालीस", "एक लाख पच्चीस हज़ार"]
    said = score_text("دلی جانے والی ٹرین صبح آٹھ بجے نکلے گی", "दिल्ली जाने वाली ट्रेन सुबह आठ बजे निकलेगी।", "hi")
    digits = score_text("دلی جانے والی ٹرین صبح 8 بجے نکلے گی", "दिल्ली जाने वाली ट्रेन सुबह आठ बजे निकलेगी।", "hi")
    assert digits["errors"] == said["errors"] and digits["ref_len"] == said["ref_len"]
    assert score_text("इस टिकट की कीमत पचास रुपये है", "इस टिकट की कीमत 50 रुपये है।", "hi")["errors"] == 0
    assert score_text("اس ٹکٹ کی کیمت پچاس روپئے ہے", "इस टिकट की कीमत 50 रुपये है।", "hi")["errors"] == \
        score_text("اس ٹکٹ کی کیمت 50 روپئے ہے", "इस टिकट की कीमत 50 रुपये है।", "hi")["errors"]
    assert score_text("اس ٹکٹ کی کیمت 60 روپئے ہے", "इस टिकट की कीमत 50 रुपये है।", "hi")["errors"] > 0


@pytest.mark.slow
def test_bench_decodes_greedy_by_default_and_whisper_reference_on_request(engine):
    """Whisper base decodes greedy at temperature 0 unless asked (every bench's figures so far), and the
    reference decoding (beam 5, temperature fallback) is what bench/languages.py --decoding reference uses;
    both hear a Spanish take."""
    pytest.importorskip("faster_whisper", reason="the eval extra is not installed: pip install -e '.[eval]'")
    from takefit.evaluation.intelligibility import DECODINGS, GREEDY, REFERENCE, Asr, prepare_whisper

    assert GREEDY.arguments(1) == {"beam_size": 1, "best_of": 1, "temperature": [0.0], "no_speech_threshold": None,
                                   "compression_ratio_threshold": None, "log_prob_threshold": None}
    assert REFERENCE.arguments(5)["temperature"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert (REFERENCE.compression_ratio_threshold, REFERENCE.log_prob_threshold) == (2.4, -1.0)
    path = prepare_whisper(log=lambda m: None)
    assert Asr(path).decoding is GREEDY
    take = engine.render(RenderRequest("¿Dónde dejaste las llaves del coche?", voice="ef_dora", target=Target.natural(),
                                       sample_rate=16000, loudness=None))
    for decoding, beam in DECODINGS.values():
        heard = Asr(path, beam_size=beam, decoding=decoding)(take.audio, "es").lower()
        assert "llaves" in heard and "coche" in heard, (decoding.name, heard)


def test_bench_interval_and_human_comparison():
    """bench/languages.py's interval note (a bootstrap over sentences, split by sentence set) and
    bench/languages_human.py's paired difference and prompt rule: what the #22 figures rest on."""
    sys.path.insert(0, str(ROOT / "bench"))
    import languages
    import languages_human

    rows = [{"lang": "fr", "sentence": i, "column": "ff_siwis natural", "errors": i % 3, "ref_len": 10}
            for i in range(40)] + [{"lang": "fr", "sentence": i, "column": "espeak-ng", "errors": 9, "ref_len": 10}
                                   for i in range(40)]
    note = languages.spread(rows, ["fr"], "")[1]
    assert "fr 9.8%" in note and "sentences 1–16 9.4%" in note and "sentences 17–40 10.0%" in note
    low, high = (float(x) for x in note.split("fr 9.8% (")[1].split(";")[0].replace("%", "").split("–"))
    assert low < 9.8 < high                       # espeak-ng's 90 % stays out of the takes' rate

    def pair(name, human, take):
        return [{"prompt": name, "column": "human", "errors": human, "ref_len": 10},
                {"prompt": name, "column": "ff_siwis", "errors": take, "ref_len": 10}]
    same = [r for i in range(30) for r in pair(f"p{i}", i % 4, i % 4)]
    assert languages_human.bootstrap_difference(same, "ff_siwis") == (0.0, 0.0, 0.0)
    worse = [r for i in range(30) for r in pair(f"p{i}", i % 2, i % 2 + 1)]
    diff, lo, hi = languages_human.bootstrap_difference(worse, "ff_siwis")
    assert diff == pytest.approx(0.1) and 0 < lo <= diff <= hi
    assert languages_human.usable("Veuillez composer votre numéro de poste maintenant.")
    assert not languages_human.usable("Composez le 3 pour continuer ici.")          # a digit
    assert not languages_human.usable("[ascending tones] puis appuyez sur dièse")    # a sound description
    assert not languages_human.usable("Merci beaucoup.")                             # too short

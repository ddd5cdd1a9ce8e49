"""Text frontend: polyphones, pinyin/IPA overrides (inline and dictionary), mixed lines, numbers."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from takefit.engine import InputError, Lexicon
from takefit.engine.frontend import Frontend, split_chunks
from takefit.engine.frontend.overrides import normalize_syllable


@pytest.fixture(scope="module")
def fe():
    return Frontend()


def pinyin_of(reading, word):
    for seg in reading.segments:
        for w in seg.words:
            if getattr(w, "text", None) == word and hasattr(w, "pinyin"):
                return " ".join(w.pinyin)
    # the word may have been grouped with neighbours: search inside longer words
    for seg in reading.segments:
        for w in seg.words:
            if hasattr(w, "pinyin") and word in w.text:
                i = w.text.index(word)
                return " ".join(w.pinyin[i:i + len(word)])
    raise AssertionError(f"{word} not in {reading.segments}")


@pytest.mark.parametrize("text,word,expected", [
    ("我去银行取钱。", "银行", "yin2 hang2"),
    ("重庆的火锅很好吃。", "重庆", "chong2 qing4"),
    ("他还钱了。", "还", "huan2"),
    ("我要还钱给你。", "还", "huan2"),
    ("他还没来。", "还", "hai2"),
    ("孩子长大了。", "长", "zhang3"),
    ("这条路很长。", "长", "chang2"),
    ("银行行长来了。", "行长", "hang2 zhang3"),
    ("这个问题很重要。", "重", "zhong4"),
    ("我们重新开始吧。", "重", "chong2"),
])
def test_polyphones_from_context(fe, text, word, expected):
    assert pinyin_of(fe.read(text), word) == expected


def test_still_and_return_in_one_line(fe):
    r = fe.read("他还没还钱。")
    syllables = [p for s in r.segments for w in s.words if hasattr(w, "pinyin") for p in w.pinyin]
    assert syllables[1] == "hai2" and syllables[3] == "huan2"


@pytest.mark.parametrize("override", ["xíng", "xing2", "XÍNG", "Xing2", "XING2", "Xíng"])
def test_inline_override_any_case_marks_or_numbers(fe, override):
    r = fe.read(f"银行(yin2 hang2)的行({override})为。")
    assert pinyin_of(r, "银行") == "yin2 hang2"
    syl = [p for s in r.segments for w in s.words if hasattr(w, "pinyin") for p in w.pinyin]
    assert syl[3] == "xing2"
    assert "(" not in r.phonemes and "xing" not in r.phonemes.lower()


def test_override_changes_phonemes(fe):
    plain = fe.read("银行").phonemes
    forced = fe.read("银行(yin2 xing2)").phonemes
    assert plain != forced and "ɕ" in forced


@pytest.mark.parametrize("syl,expected", [("lǜ", "lv4"), ("LÜ4", "lv4"), ("lv4", "lv4"), ("de", "de5"), ("nǚ", "nv3")])
def test_syllable_normalisation(syl, expected):
    assert normalize_syllable(syl) == expected


@pytest.mark.parametrize("bad", ["行(xyz2)", "银行(yin2 hang2 hang2)", "行(xing9)"])
def test_bad_override_is_a_clear_error(fe, bad):
    with pytest.raises(InputError, match="pinyin"):
        fe.read(bad)


def test_plain_parentheses_stay_text(fe):
    r = fe.read("他(男)来了")
    assert pinyin_of(r, "男") == "nan2"


def test_dictionary_file(tmp_path):
    d = tmp_path / "words.txt"
    d.write_text("# takefit test dictionary\n重庆  zhong4 qing4\ntakefit  tˈAkfɪt\n", "utf-8")
    fe = Frontend(Lexicon.load(d))
    r = fe.read("重庆 takefit")
    assert pinyin_of(r, "重庆") == "zhong4 qing4"
    assert "tˈAkfɪt" in r.phonemes


def test_dictionary_bad_line_names_the_line(tmp_path):
    d = tmp_path / "words.txt"
    d.write_text("银行  yin2\n", "utf-8")
    with pytest.raises(InputError, match=r"words.txt:1"):
        Lexicon.load(d)


def test_english_inline_ipa(fe):
    assert "kˈOkəɹO" in fe.read("[Kokoro](/kˈOkəɹO/) speaks.").phonemes


def test_mixed_line_segments(fe):
    r = fe.read("我们用 takefit 给视频配音, exactly on time.")
    assert [s.language for s in r.segments] == ["zh", "en", "zh", "en"]
    assert r.languages == ["en", "zh"]


@pytest.mark.parametrize("text,contains", [
    ("增长了50%。", "百分之五十"), ("花了¥12.5。", "十二点五元"), ("现在是3:30。", "三点三十分"),
    ("电话13800138000", "一三八零零一三八零零零"), ("2024年3月5日", "二零二四年三月五日"),
])
def test_chinese_numbers(fe, text, contains):
    r = fe.read(text)
    han = "".join(w.text for s in r.segments for w in s.words if hasattr(w, "pinyin"))
    assert contains in han


def test_english_numbers(fe):
    assert "dˈɑləɹz" in fe.read("It costs $5.").phonemes


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "。，！", "...", None])
def test_empty_or_unspeakable(fe, text):
    with pytest.raises(InputError):
        fe.read(text)


def test_chunks_split_at_punctuation():
    ph = ("ðɪs ɪz ɐ lˈɔŋ sˈɛntəns, wɪð mˈɛni klˈɔzᵻz. " * 20).strip()
    chunks = split_chunks(ph, limit=120)
    assert all(len(c.phonemes) <= 120 for c in chunks)
    assert "".join(c.phonemes for c in chunks).replace(" ", "") == ph.replace(" ", "")
    assert all(c.pause_after in ".,!?;:" for c in chunks[:-1])


TORCH_PROBE = """
import sys, threading
errors = []
def other_thread():             # imports that look at sys.modules['torch'] while English loads
    try:
        import pyloudnorm, scipy.stats  # noqa: F401
    except Exception as e:
        errors.append(repr(e))
t = threading.Thread(target=other_thread)
t.start()
from takefit.engine.frontend import Frontend
Frontend().read("Hello there.")
t.join()
assert not errors, errors
assert "torch" not in sys.modules, "spaCy's thinc imported torch"
import torch  # noqa: F401  (still importable: nothing was left behind)
print("ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed (no extra needs it)")
def test_english_reader_does_not_load_torch_and_hides_it_from_no_other_thread():
    run = subprocess.run([sys.executable, "-c", TORCH_PROBE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


FALLBACK_PROBE = """
import sys
from takefit.engine.frontend import Frontend
fe = Frontend()
assert fe.read("Hello there.").phonemes == "həlˈO ðˈɛɹ."
assert "misaki.espeak" not in sys.modules and "phonemizer" not in sys.modules, "espeak-ng started for known words"
reading = fe.read("The glorpnax zindled.")
assert "misaki.espeak" in sys.modules and not reading.warnings, reading.warnings
assert "ɡlˈɔɹpnæks" in reading.phonemes and "zˈɪnd" in reading.phonemes, reading.phonemes
print("ok")
"""


def test_english_starts_espeak_only_for_an_unknown_word():
    """A line in misaki's lexicon never imports espeak-ng's fallback (0.3 s of a cold `takefit say`); the
    first unknown word starts it and is read by it."""
    run = subprocess.run([sys.executable, "-c", FALLBACK_PROBE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


LEXICON_PROBE = """
import sys
from takefit.engine.frontend import en
fresh = en.misaki_en.Lexicon(False)
cached = en._CachedLexicon(False)
assert (cached.golds, cached.silvers, cached.cap_stresses) == (fresh.golds, fresh.silvers, fresh.cap_stresses)
print(en._CachedLexicon._cache_path(False))
"""


@pytest.mark.slow
def test_english_lexicon_cache_is_misakis_lexicon_and_a_damaged_one_is_rebuilt(tmp_path):
    """misaki's lexicon is parsed once into the user's cache; what the cache gives back is exactly what
    misaki parses (first run: built, second: read), and a damaged cache file is rebuilt, not trusted."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}

    def probe() -> Path:
        run = subprocess.run([sys.executable, "-c", LEXICON_PROBE], capture_output=True, text=True, timeout=300,
                             env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        return Path(run.stdout.strip())

    stale = tmp_path / "takefit" / "lexicon" / "misaki-0.0.1-us-1.2-3.4.marshal"      # an older misaki's copy
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    path = probe()
    assert path.is_file() and path.is_relative_to(tmp_path) and "misaki-" in path.name
    assert not stale.exists()                                          # replaced, not left to pile up
    built = path.stat().st_mtime_ns
    assert probe() == path and path.stat().st_mtime_ns == built       # read from the cache, not rewritten
    path.write_bytes(path.read_bytes()[:1000])              # truncated: marshal refuses it
    assert probe() == path and path.stat().st_size > 1_000_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]          # no temporary file left beside it

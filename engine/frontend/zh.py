"""Mandarin G2P producing Kokoro v1.0's phoneme set (the same IPA-with-tone-arrows that misaki's
ZHG2P gives the model), with number normalisation, context-aware polyphones and overrides.

Differences from misaki's legacy reader, all on purpose:
- pinyin is resolved over the whole phrase (pypinyin's phrase dictionary sees 还钱 as huan2 qian2,
  which per-word lookup after jieba gets wrong), then a small context table fixes known misses;
- inline and dictionary overrides replace syllables before the IPA mapping;
- times, phone numbers, currency symbols and percentages are normalised before cn2an.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import cn2an
import jieba
from misaki.zh import ZHG2P
from pypinyin import Style, lazy_pinyin

from .overrides import HAN, ZhOverride

jieba.setLogLevel(logging.WARNING)

_DEGREE = "很太真好多挺更最蛮极超"
# (char, regex on the text right after it, regex on the text right before it, pinyin)
_CONTEXT_RULES: list[tuple[str, str, str, str]] = [
    ("长", r"", rf"[{_DEGREE}]$|非常$|特别$|那么$|这么$|多么$", "chang2"),
    ("长", r"^(?:度|期|久|短|远|途|跑|城|江|河|廊|篇|寿|条|方形|处|达)", r"", "chang2"),
    ("长", r"^(?:大|辈|官|老|子|孙|者|相|得|出|高)", r"", "zhang3"),
    ("还", r"^(?:钱|款|债|书|清|给|回|账|贷)", r"", "huan2"),
    ("还", r"^(?:没|不|是|有|要|在|会|能|可以|行|好|得)", r"", "hai2"),
    ("行", r"^(?:长|业|情|列|家)", r"[银商同外内]$|^$", "hang2"),
    ("重", r"^(?:庆|新|复|叠|逢|阳|播|来|做|写)", r"", "chong2"),
    ("重", r"^(?:要|量|视|点|大|心|任)", r"", "zhong4"),
    ("乐", r"^(?:队|器|曲|团|章|谱)", r"[音声器]$", "yue4"),
    ("为", r"^(?:了|什么|何)", r"[因]$", "wei4"),
]
_PUNCT = {"、": ", ", "，": ", ", "。": ". ", "．": ". ", "！": "! ", "：": ": ", "；": "; ", "？": "? ",
          "«": " “", "»": "” ", "《": " “", "》": "” ", "「": " “", "」": "” ", "【": " “", "】": "” ",
          "（": " (", "）": ") ", "～": ", ", "——": ", ", "…": "… "}
_DIGITS = "零一二三四五六七八九"


@dataclass
class ZhWord:
    text: str
    pinyin: list[str]       # tone-number syllables, after context rules and overrides
    phonemes: str
    overridden: bool = False


def _read_digits(s: str) -> str:
    return "".join(_DIGITS[int(c)] for c in s)


def normalize(text: str) -> str:
    """Numbers, dates, times, money and percentages in a Chinese run → characters."""
    t = text
    t = re.sub(r"(\d{1,2}):(\d{2})(?::(\d{2}))?",
               lambda m: f"{int(m[1])}点{int(m[2])}分" + (f"{int(m[3])}秒" if m[3] else "") if m[2] != "00"
               else f"{int(m[1])}点整", t)
    t = re.sub(r"[¥￥](\d+(?:\.\d+)?)", r"\1元", t)
    t = re.sub(r"\$(\d+(?:\.\d+)?)", r"\1美元", t)
    t = re.sub(r"€(\d+(?:\.\d+)?)", r"\1欧元", t)
    t = re.sub(r"£(\d+(?:\.\d+)?)", r"\1英镑", t)
    # phone numbers and other long codes are read digit by digit
    t = re.sub(r"(?<![\d.])(\d{7,})(?![\d.])", lambda m: _read_digits(m[1]), t)
    t = re.sub(r"(\d+)\s*[-–~～到至]\s*(\d+)", r"\1到\2", t)
    try:
        t = cn2an.transform(t, "an2cn")
    except Exception:  # cn2an gives up on odd mixes; read remaining digits one by one
        pass
    t = re.sub(r"\d", lambda m: _DIGITS[int(m[0])], t)
    t = t.replace("%", "百分之").replace("％", "百分之")
    return t


def map_punctuation(text: str) -> str:
    for k, v in _PUNCT.items():
        text = text.replace(k, v)
    return text


def _context_pinyin(text: str, i: int, default: str) -> str:
    ch = text[i]
    for rule_ch, after, before, py in _CONTEXT_RULES:
        if ch != rule_ch:
            continue
        if after and not re.search(after, text[i + 1:]):
            continue
        if before and not re.search(before, text[:i]):
            continue
        return py
    return default


def han_pinyin(text: str) -> list[str]:
    """One tone-number syllable per Han character of `text` (a run of Han characters only)."""
    syl = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    if len(syl) != len(text):  # pypinyin merged/split something: fall back per character
        syl = [lazy_pinyin(c, style=Style.TONE3, neutral_tone_with_five=True)[0] for c in text]
    return [_context_pinyin(text, i, s) for i, s in enumerate(syl)]


def syllables_to_ipa(pinyin: list[str]) -> str:
    return "".join(ZHG2P.py2ipa(p) for p in pinyin)


class ZhReader:
    """Reads a Chinese run into words with pinyin and phonemes."""

    def __init__(self, dictionary: dict[str, ZhOverride] | None = None):
        self.dictionary = dict(dictionary or {})
        for word in self.dictionary:
            jieba.add_word(word, freq=10 ** 6)

    def read(self, pieces: list[tuple[str, ZhOverride | None]]) -> tuple[list[ZhWord | str], str]:
        """pieces: plain text or overridden words, in order. Returns (words and punctuation, phonemes)."""
        # 1. normalise plain text, keep overridden words as they are; remember override spans
        merged: list[tuple[str, ZhOverride | None]] = []
        for piece, ov in pieces:  # normalise plain text in whole stretches (¥ + 12.5 together)
            if ov is None and merged and merged[-1][1] is None:
                merged[-1] = (merged[-1][0] + piece, None)
            else:
                merged.append((piece, ov))
        text, forced = "", {}
        for piece, ov in merged:
            if ov is None:
                text += map_punctuation(normalize(piece))
            else:
                for k, py in enumerate(ov.pinyin):
                    forced[len(text) + k] = py
                text += ov.word
        # dictionary words act as overrides wherever they occur (longest first)
        for word in sorted(self.dictionary, key=len, reverse=True):
            for m in re.finditer(re.escape(word), text):
                for k, py in enumerate(self.dictionary[word].pinyin):
                    forced.setdefault(m.start() + k, py)
        # 2. pinyin per Han run, with context, then forced syllables
        pinyin: dict[int, str] = {}
        for m in re.finditer(f"[{HAN}]+", text):
            for k, py in enumerate(han_pinyin(m[0])):
                pinyin[m.start() + k] = forced.get(m.start() + k, py)
        # 3. words by jieba (for grouping and display), phonemes word by word
        out: list[ZhWord | str] = []
        phonemes: list[str] = []
        pos = 0
        for w in jieba.lcut(text, HMM=True):
            start, pos = pos, pos + len(w)
            if re.fullmatch(f"[{HAN}]+", w):
                py = [pinyin[start + k] for k in range(len(w))]
                ipa = syllables_to_ipa(py).replace(chr(815), "")
                out.append(ZhWord(w, py, ipa, any(start + k in forced for k in range(len(w)))))
                phonemes.append(" " + ipa if phonemes and not phonemes[-1].endswith(" ") else ipa)
            else:
                # punctuation and leftovers (non-Han symbols) pass through; Kokoro knows , . ! ? etc.
                kept = re.sub(r"\s+", " ", w)
                out.append(kept)
                phonemes.append(kept)
        return out, "".join(phonemes).replace(chr(815), "").strip()

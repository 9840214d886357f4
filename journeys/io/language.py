"""Offline language detection for short customer texts: Unicode scripts first, then py3langid's
bundled n-gram model (no download), restricted to widely used languages.

Short service snippets ("Friendly agent", "wow") fool n-gram models towards small languages, so a
Latin-script text the model is unsure about is read as English when it holds at least as many English function
or sentiment words as words of the guessed language (and one at least). Texts without letters (emoticons, emoji, numbers)
are ``und`` (undetermined).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import cache
from typing import Any

UNDETERMINED = "und"
#: the languages py3langid may answer: the widely used ones (its minor languages and pidgins mostly
#: catch short English texts)
CANDIDATES = ["en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk", "hu", "ro", "el", "tr", "ru", "uk", "bg", "hr", "sl", "et", "lv", "lt", "ar", "he", "fa", "hi", "bn", "ja", "zh", "ko", "th", "vi", "id", "ms"]
#: below this probability a Latin-script guess may be overruled by the English word check
CONFIDENT = 0.9
#: scripts that name their language outright
_SCRIPT_LANGUAGE = {"HANGUL": "ko", "HIRAGANA": "ja", "KATAKANA": "ja", "THAI": "th", "GREEK": "el", "HEBREW": "he"}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: mentions, links and e-mail addresses say nothing about the language
_NOISE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\S+|@\w+", re.IGNORECASE)
#: frequent function words, enough to tell English from a short Latin-script guess
FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(["the", "a", "an", "and", "or", "but", "is", "was", "were", "are", "be", "been", "it", "i", "my", "me", "you", "your", "we", "our", "they", "he", "she", "this", "that", "to", "of", "in", "on", "at", "for", "with", "from", "by", "not", "no", "so", "very", "too", "just", "still", "again", "did", "do", "does", "had", "has", "have", "what", "why", "how", "when", "nothing", "nobody", "never", "can't", "don't", "won't", "didn't", "isn't", "i'm", "it's", "you're"]),
    "de": frozenset(["der", "die", "das", "und", "oder", "aber", "ist", "war", "sind", "ich", "mein", "meine", "sie", "wir", "nicht", "kein", "keine", "sehr", "zu", "von", "mit", "auf", "für", "ein", "eine", "noch", "schon", "nie", "nichts"]),
    "fr": frozenset(["le", "la", "les", "et", "ou", "mais", "est", "était", "je", "mon", "ma", "vous", "nous", "ne", "pas", "très", "de", "du", "des", "avec", "pour", "un", "une", "encore", "jamais", "rien"]),
    "nl": frozenset(["de", "het", "een", "en", "of", "maar", "is", "was", "ik", "mijn", "u", "wij", "niet", "geen", "zeer", "heel", "van", "met", "voor", "nog", "nooit", "niets"]),
}


def script_of(text: str) -> str | None:
    """The dominant Unicode script of the letters in ``text`` (``LATIN``, ``CYRILLIC``, ``CJK``...), or None."""
    if text.isascii():  # the common case, without a Unicode name lookup per character
        return "LATIN" if any(ch.isalpha() for ch in text) else None
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        name = unicodedata.name(ch, "")
        script = name.split(" ")[0] if name else "UNKNOWN"
        script = "CJK" if script == "CJK" or name.startswith("CJK") else script
        counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda s: (counts[s], s)) if counts else None


@cache
def _identifier() -> Any:
    from py3langid.langid import _load_identifier  # the bundled model file, loaded once

    return _load_identifier(norm_probs=True, langs=CANDIDATES)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def detect_language(text: str, english_words: frozenset[str] | None = None,
                    lexicon_words: dict[str, frozenset[str]] | None = None) -> str:
    """ISO 639-1 code of ``text`` (``und`` without letters).

    ``english_words`` (e.g. the English sentiment lexicon) and ``lexicon_words`` (per language) widen the
    English word check that guards short Latin-script texts from n-gram misfires.
    """
    text = _NOISE.sub(" ", text)
    script = script_of(text)
    if script is None:
        return UNDETERMINED
    if script in _SCRIPT_LANGUAGE:
        return _SCRIPT_LANGUAGE[script]
    lang, prob = _identifier().classify(text)
    if script != "LATIN" or lang == "en" or prob >= CONFIDENT:
        return str(lang)
    words = _words(text)
    english = FUNCTION_WORDS["en"] | (english_words or frozenset())
    other = FUNCTION_WORDS.get(lang, frozenset()) | (lexicon_words or {}).get(lang, frozenset())
    en_hits = sum(w in english for w in words)
    other_hits = sum(w in other for w in words)
    return "en" if en_hits and en_hits >= other_hits else str(lang)


LANGUAGE_NAMES = {
    "en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "pl": "Polish",
    "cs": "Czech", "sk": "Slovak", "hu": "Hungarian", "ro": "Romanian", "el": "Greek", "tr": "Turkish",
    "ru": "Russian", "uk": "Ukrainian", "bg": "Bulgarian", "hr": "Croatian", "sl": "Slovenian", "et": "Estonian",
    "lv": "Latvian", "lt": "Lithuanian", "ar": "Arabic", "he": "Hebrew", "fa": "Persian", "hi": "Hindi",
    "bn": "Bengali", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "th": "Thai", "vi": "Vietnamese",
    "id": "Indonesian", "ms": "Malay", UNDETERMINED: "no letters (emoji, symbols)", "pending": "not scored yet",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


_TAG = re.compile(r"</?[A-Za-z][^<>]*>")  # a tag starts with a letter: "<3" (a heart) is not one


def plain_text(text: str) -> str:
    """``text`` as a person reads it: HTML tags become spaces and entities characters, when it has tags."""
    if not _TAG.search(text):
        return text
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())

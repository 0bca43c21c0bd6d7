"""Language of an article's text, as a BCP 47 tag.

Scripts settle most languages. Chinese is told apart as Traditional or
Simplified by characters that exist in only one of Big5 and GB2312 (国 vs
國); the codecs know which, so no character table ships with the code. Latin-script languages are
told apart by their commonest words. Returns None when the text says too
little to be sure.
"""

from __future__ import annotations

import re

_SAMPLE_CHARS = 600
_MIN_LETTERS = 20

# Patterns match runs, not single letters: counting a few long matches is
# much cheaper than building a list of thousands of one-letter ones.
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_KANA = re.compile(r"[\u3040-\u30ff]+")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff]+")
_NOT_LATIN = re.compile(r"[\u0370-\u1fff\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_WORD = re.compile(r"[^\W\d_]+")
_ADDRESS = re.compile(r"\S*(?:://|www\.)\S*")

# Scripts used by one language (or whose commonest language is the sensible answer).
_SCRIPTS = (
    ("ru", re.compile(r"[\u0400-\u04ff]+")),
    ("ar", re.compile(r"[\u0600-\u06ff\u0750-\u077f]+")),
    ("he", re.compile(r"[\u0590-\u05ff]+")),
    ("el", re.compile(r"[\u0370-\u03ff]+")),
    ("th", re.compile(r"[\u0e00-\u0e7f]+")),
    ("hi", re.compile(r"[\u0900-\u097f]+")),
    ("bn", re.compile(r"[\u0980-\u09ff]+")),
    ("ta", re.compile(r"[\u0b80-\u0bff]+")),
    ("am", re.compile(r"[\u1200-\u137f]+")),
    ("ka", re.compile(r"[\u10a0-\u10ff]+")),
    ("hy", re.compile(r"[\u0530-\u058f]+")),
    ("km", re.compile(r"[\u1780-\u17ff]+")),
    ("my", re.compile(r"[\u1000-\u109f]+")),
    ("lo", re.compile(r"[\u0e80-\u0eff]+")),
    ("bo", re.compile(r"[\u0f00-\u0fff]+")),
)
# Letters that single out a language within a shared script, and how many times they must occur.
_MIN_MARKERS = 3
_MARKERS = {
    "ru": (("uk", re.compile(r"[іїєґІЇЄҐ]")), ("sr", re.compile(r"[ђћџљњјЂЋЏЉЊЈ]")), ("bg", re.compile(r"ъ[а-я]"))),
    "ar": (("ur", re.compile(r"[ٹڈڑںےۓ]")), ("fa", re.compile(r"[پچژگ]|ی(?=\s)"))),
}

_STOPWORDS = {
    "en": "the of and to in is that for it was on with as are be by this have from at not but his they which you a an "
    "we he she has had were been their will would said",
    "fr": "le la les des est et une dans que pour qui pas sur au avec ce sont par plus du il elle aux leur été de un d l qu",
    "de": "der die und das ist nicht ein eine zu den mit sich des auf für im dem von sie auch es wird wurde bei",
    "es": "el la los las de que y en un una es por con para del se no al lo como más su sus pero fue ha",
    "pt": "o a os as de que e do da em um uma para com não por mais dos das se no na foi ao pelo",
    "it": "il la di che e un una per non sono con del della è gli le si da al nel alla anche ha più",
    "nl": "de het een en van is dat op te zijn met voor niet die aan er ook als bij door maar werd",
    "pl": "i w na nie z się do że jest to o jak po ale od za przez był być są jego tym",
    "tr": "ve bir bu da de için ile olarak daha çok gibi ama olan en sonra kadar değil var",
    "vi": "của và là các những được trong có một người không cho với này đã từ khi đến về",
    "id": "yang dan di itu dengan untuk tidak ini dari dalam akan pada juga ke karena oleh ada",
    "sw": "na ya wa kwa za katika ni la hii kuwa cha huo hiyo lakini pia baada",
    "ro": "și în de la cu o un nu pe care este din mai fost sau pentru ca sunt",
    "sv": "och att det som en på är av för med till den har inte om ett var",
    "cs": "a je se na v že to s z do o k i jako ale by pro jsou jeho které který která byl bylo jsem není také podle",
    "sk": "a je sa na v že to s z do o k aj ako ale by pre sú jeho ktoré ktorý ktorá bol bolo som nie tiež podľa",
    "hu": "a az és hogy nem egy is meg de van volt csak már még el ez azt mint ki",
    "da": "og i at det er en til på som med af for de den ikke har var han sig",
    "nb": "og i det er på som en til at med for av ikke den har var de seg om",
    "fi": "ja on ei se että oli hän mutta kun myös joka ovat tai sen kuin",
}
# Letters that only some of those languages write: a word holding one counts for each of them,
# which settles what the common words leave even (Slovak and Polish share "na", "do", "o").
_LETTERS = {
    "fr": "èœùûëî",
    "es": "ñ¿¡",
    "pt": "ãõ",
    "de": "ß",
    "pl": "łąęśźżń",
    "cs": "řůěťďňčšž",
    "sk": "ľĺŕôťďňčšž",
    "hu": "őű",
    "ro": "șțăşţ",
    "tr": "ğış",
    "da": "æø",
    "nb": "æø",
}
_LANGUAGES_OF_LETTER: dict[str, list[str]] = {}
for _language, _letters_of in _LETTERS.items():
    for _letter in _letters_of:
        _LANGUAGES_OF_LETTER.setdefault(_letter, []).append(_language)
_MARKED = re.compile(f"[{''.join(_LANGUAGES_OF_LETTER)}]")
_LANGUAGES_OF_WORD: dict[str, list[str]] = {}
for _language, _words in _STOPWORDS.items():
    for _word in _words.split():
        _LANGUAGES_OF_WORD.setdefault(_word, []).append(_language)


def detect_language(text: str) -> str | None:
    """The BCP 47 tag of `text`'s language, or None when it cannot tell."""
    sample = text[:_SAMPLE_CHARS]
    if "://" in sample or "www." in sample:
        sample = _ADDRESS.sub(" ", sample)  # an address's words are no language's ("id", "item", "com")
    other = "" if sample.isascii() else "".join(_NOT_LATIN.findall(sample))  # ASCII holds no other script
    if len(other) < _MIN_LETTERS // 2 or len(other) * 4 < len(sample):
        return _latin_language(_WORD.findall(sample.lower()))
    han = "".join(_HAN.findall(other))
    rest = len(other) - len(han)
    kana = _letters(_KANA, other) if rest >= _MIN_LETTERS // 4 else 0
    if kana >= _MIN_LETTERS // 4 and kana * 10 >= len(han):
        return "ja"
    if rest >= _MIN_LETTERS // 2 and _letters(_HANGUL, other) >= _MIN_LETTERS // 2:
        return "ko"
    if len(han) >= _MIN_LETTERS // 2:
        return chinese_variant(han)
    count, tag = max((_letters(pattern, other), tag) for tag, pattern in _SCRIPTS)
    return _refine(tag, sample) if count >= _MIN_LETTERS // 2 else None


def _letters(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def chinese_variant(hanzi: str) -> str:
    """zh-Hant or zh-Hans for a run of hanzi.

    Simplified text is full of characters Big5 cannot encode (国, 这, 们) and
    Traditional text of ones GB2312 cannot (國, 這, 們); each encodable hanzi
    takes two bytes, so the codecs count both in C.
    """
    not_in_gb2312 = len(hanzi) - len(hanzi.encode("gb2312", "ignore")) // 2
    if not not_in_gb2312:  # most Simplified text: it cannot read as Traditional, so Big5 is not asked
        return "zh-Hans"
    not_in_big5 = len(hanzi) - len(hanzi.encode("big5", "ignore")) // 2
    return "zh-Hant" if not_in_gb2312 > not_in_big5 else "zh-Hans"


def _refine(tag: str, sample: str) -> str:
    """A language its letters single out within the script, when they recur: one "Київ" quoted in
    Russian, or one "объявило", is no Ukrainian or Bulgarian text."""
    for language, pattern in _MARKERS.get(tag, ()):
        if len(pattern.findall(sample)) >= _MIN_MARKERS:
            return language
    return tag


def _marked_letters(words: list[str]) -> list[str]:
    """The first letter of _LETTERS in each word holding one; most English text has none, found
    in one search."""
    if _MARKED.search(" ".join(words)) is None:
        return []
    return [found.group() for found in map(_MARKED.search, words) if found is not None]


def _latin_language(words: list[str]) -> str | None:
    if len(words) < _MIN_LETTERS // 4:
        return None
    scores = dict.fromkeys(_STOPWORDS, 0)
    for word in words:
        for language in _LANGUAGES_OF_WORD.get(word, ()):
            scores[language] += 1
    for letter in _marked_letters(words):
        for language in _LANGUAGES_OF_LETTER[letter]:
            scores[language] += 1
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (language, score), (_, runner_up) = ranked[0], ranked[1]
    if score * 20 < len(words) or score <= runner_up:  # one in 20 words common, and more than any other
        return None
    return language

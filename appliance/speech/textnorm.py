"""Text preparation for TTS: read codes digit by digit, spell Latin letters, split sentences.

Why: the G2P reads "13912345678" as a quantity (一百三十九亿…), useless for a phone number or
an ID number the citizen must check, and a long text must be cut into sentences so the first
audio is ready fast and every piece fits the model's 510-token context.
"""

from __future__ import annotations

import re

DIGITS_ZH = "零一二三四五六七八九"
MIN_CODE_DIGITS = 5  # runs of at least this many digits are codes, not quantities

# A digit run, optionally with the separators people type in phone/ID numbers (138-1234 5678),
# and the check letter X that ends an 18-character ID number.
_CODE = re.compile(r"\d(?:[\d\- ]*\d)?[Xx]?(?![\d])")
# Chinese names of Latin letters (the way they are read aloud in Mandarin).
LETTERS_ZH = {
    "A": "诶",
    "B": "比",
    "C": "西",
    "D": "迪",
    "E": "伊",
    "F": "艾弗",
    "G": "吉",
    "H": "艾尺",
    "I": "艾",
    "J": "杰",
    "K": "开",
    "L": "艾勒",
    "M": "艾马",
    "N": "艾娜",
    "O": "欧",
    "P": "披",
    "Q": "吉吾",
    "R": "艾儿",
    "S": "艾丝",
    "T": "提",
    "U": "伊吾",
    "V": "维",
    "W": "达布留",
    "X": "艾克斯",
    "Y": "歪",
    "Z": "贼德",
}
_LATIN_RUN = re.compile(r"(?<![A-Za-z])[A-Za-z]{1,4}(?![A-Za-z])")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")

# Sentence ends: Chinese/fullwidth marks always; ASCII . only before a space or the end, so
# "12.5" and "e.g." inside a word are not cut.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…\n])|(?<=\.)(?=\s|$)")
_CLAUSE_END = re.compile(r"(?<=[，、,：:])")


def digits_to_zh(digits: str, yao: bool = False) -> str:
    """'139' -> '一三九' (or '幺三九' with ``yao``, how phone numbers are often read)."""
    out = []
    for ch in digits:
        if ch.isdigit():
            out.append("幺" if yao and ch == "1" else DIGITS_ZH[int(ch)])
        elif ch in "Xx":
            out.append("叉")
    return "".join(out)


def spell_codes(text: str, yao: bool = False) -> str:
    """Replace every run of >= 5 digits (phone, ID, case numbers) with digit-by-digit Chinese.

    Separators inside the run become a comma so the listener hears the grouping.
    Shorter numbers (ages, dates, amounts) are left for the G2P to read as quantities.
    """

    def repl(m: re.Match) -> str:
        run = m.group(0)
        if sum(c.isdigit() for c in run) < MIN_CODE_DIGITS:
            return run
        groups = [g for g in re.split(r"[\- ]+", run) if g]
        return "，".join(digits_to_zh(g, yao) for g in groups)

    return _CODE.sub(repl, text)


def spell_letters(text: str) -> str:
    """In Chinese text, read short Latin letter runs ("ID", "AB") letter by letter."""
    if not _CJK.search(text):
        return text
    return _LATIN_RUN.sub(lambda m: "".join(LETTERS_ZH[c.upper()] for c in m.group(0)), text)


def normalize_zh(text: str, yao: bool = False) -> str:
    """All Chinese normalisations, in the order that keeps an ID's final X a digit."""
    return spell_letters(spell_codes(text, yao))


def language_of(text: str) -> str:
    """'zh' if the text has any Han character, 'en' if it has Latin letters, else 'zh'."""
    if _CJK.search(text):
        return "zh"
    return "en" if _LATIN.search(text) else "zh"


def _hard_cut(piece: str, max_chars: int) -> list[str]:
    return [piece[i : i + max_chars] for i in range(0, len(piece), max_chars)]


def split_sentences(text: str, max_chars: int = 80) -> list[str]:
    """Sentences of at most ``max_chars`` characters, punctuation kept, blanks dropped.

    A sentence longer than the limit is cut at clause marks (，、：), then hard-cut.
    """
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            out.append(sentence)
            continue
        cur = ""
        for clause in _CLAUSE_END.split(sentence):
            if len(cur) + len(clause) <= max_chars:
                cur += clause
                continue
            if cur.strip():
                out.append(cur.strip())
            cur = ""
            for piece in _hard_cut(clause, max_chars):
                if len(piece) == max_chars:
                    out.append(piece.strip())
                else:
                    cur = piece
        if cur.strip():
            out.append(cur.strip())
    return [s for s in out if any(c.isalnum() for c in s)]

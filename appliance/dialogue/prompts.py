"""Every sentence the kiosk says that is known before a citizen arrives, for the TTS cache.

Read from where the words live, never copied: the question planner's questions, intro, closing
and fixed replies (qna.py), the fields' re-ask hints (fields.py), each service's procedure text
(the catalogue), and the kiosk page's spoken greetings (static/app.js). Text that holds a
citizen's words (a number read back) is not here and is never cached.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

from . import fields, qna
from .catalogue import Catalogue

_CJK = re.compile(r"[\u3400-\u9fff]")
_ENDS = ("。", "？", "！", "?", "!")
_REGEX = re.compile(r"[\^|()\[\]\\\n]")  # a pattern (qna's answer matchers), not words
_PAGE = Path(__file__).resolve().parents[1] / "gateway" / "static" / "app.js"
# the page's spoken lines: speaker.say("…") and notice("…", { speak: true }); template strings
# (`…${…}`) hold a user id and are left out.
_PAGE_SAYS = re.compile(r'speaker\.say\("([^"]+)"\)|notice\("([^"]+)",\s*\{\s*speak:\s*true')


def _literal_sentences(module) -> list[str]:
    """Whole string literals (not pieces of f-strings) that read as a spoken Chinese sentence."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    inside_f = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_f:
            text = node.value.strip()
            if _CJK.search(text) and text.endswith(_ENDS) and not _REGEX.search(text):
                out.append(text)
    return out


def _field_hints() -> list[str]:
    """Each field's re-ask hint for an empty or unusable answer (built by the parser itself)."""
    out = []
    for name in fields.PARSERS:
        for probe in ("", "x", "1", "嗯" * 300):
            result = fields.parse_field(name, probe)
            if not result.ok and result.hint:
                out.append(result.hint)
    return out


def page_greetings(path: Path = _PAGE) -> list[str]:
    try:
        source = path.read_text(encoding="utf-8")
    except OSError:
        return []
    return [a or b for a, b in _PAGE_SAYS.findall(source)]


def fixed_prompts(catalogue: Catalogue, services: Iterable[str] | None = None) -> list[str]:
    """The texts to synthesise ahead, most needed first (questions before procedures), no repeats."""
    texts = [
        qna.INTRO,
        *qna.QUESTIONS.values(),
        qna.CLOSING,
        *_literal_sentences(qna),
        *_field_hints(),
        *_literal_sentences(fields),
        *page_greetings(),
    ]
    wanted = set(services) if services is not None else None
    texts += [s.flow for s in catalogue.services if s.flow and (wanted is None or s.classify in wanted)]
    return list(dict.fromkeys(t for t in texts if t))  # first occurrence of each, in order

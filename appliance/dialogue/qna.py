"""The question-and-answer planner: ask for the missing record fields one by one.

The whole conversation state is a plain JSON-serialisable dict, so the worker
can keep it in SQLite and carry on after a restart:

    planner = QnaPlanner()
    state = planner.start(catalogue.needed_fields("身份证"), record)
    question = planner.current_question(state)       # None = nothing to ask
    reply = planner.answer(state, "我叫李明", from_audio=True)   # mutates state
    send(reply.text); if reply.done: send("")        # empty frame ends the qna
    state["answers"]                                  # {"name": "李明", ...}
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .fields import parse_field
from .idcard import birth_of, gender_of
from .numbers import format_date, parse_date, spell_digits
from .record import RECORD_FIELDS
from .result import clean

STATE_VERSION = 1

QUESTIONS = {
    "name": "请问您叫什么名字？",
    "gender": "请问您的性别是男还是女？",
    "nationality": "请问您是什么民族？比如汉族。",
    "id_card": "请说一下您的身份证号码，一位一位地说就可以。",
    "birth": "请问您的出生日期是哪年哪月哪日？",
    "phone": "请说一下您的手机号码。",
    "native_place": "请问您的籍贯是哪里？",
    "hukou": "请问您的户口所在地是哪里？说到区县就可以。",
    "address": "请问您现在住在哪里？请说详细地址。",
    "marital_status": "请问您的婚姻状况是已婚还是未婚？",
    "education": "请问您的最高学历是什么？",
    "political_status": "请问您的政治面貌是什么？比如党员、团员、群众。",
    "religion": "请问您有宗教信仰吗？没有的话说“无”就可以。",
    "career": "请问您的职业是什么？",
    "email": "请说一下您的电子邮箱，没有的话可以说跳过。",
}
ASK_ORDER: tuple[str, ...] = tuple(QUESTIONS)
"""The order a clerk asks in (the ID number before the birth date and gender it already says)."""
INTRO = "接下来我问您几个问题，不想回答或者不知道的可以说“跳过”。"
CLOSING = "好的，需要的信息已经问完了，谢谢您的配合。"

_SKIP = (
    "跳过",
    "不知道",
    "不清楚",
    "不想说",
    "不方便说",
    "不方便",
    "下一个",
    "下一题",
    "算了",
    "忘了",
    "记不清",
)
_NO = ("不对", "不是", "错了", "不正确", "说错", "不", "no")
_YES = ("对", "是", "没错", "正确", "嗯", "好", "可以", "确认", "ok", "yes")


@dataclass
class Reply:
    """What to send back after an answer."""

    text: str  # the next thing the kiosk says
    done: bool  # True: questions are over (send an empty frame next)
    field: str | None = None  # the field this answer was about
    event: str = ""  # accepted | confirm | retry | skipped | done


class QnaPlanner:
    """Stateless rules; all state lives in the dict returned by start()."""

    def __init__(self, max_tries: int = 3, today: _dt.date | None = None) -> None:
        if max_tries < 1:
            raise ValueError("max_tries must be at least 1")
        self.max_tries = max_tries
        self.today = today

    # -- state ------------------------------------------------------------

    def start(self, needed_fields: Iterable[str], record: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new state asking exactly the needed fields the record lacks, in natural order."""
        record = {k: v for k, v in (record or {}).items() if v not in (None, "")}
        needed = set(needed_fields)
        unknown = needed - set(RECORD_FIELDS)
        if unknown:
            raise KeyError(f"unknown fields: {sorted(unknown)}")
        queue = [f for f in ASK_ORDER if f in needed and f not in record]
        return {
            "version": STATE_VERSION,
            "queue": queue,
            "answers": {},
            "skipped": [],
            "tries": {},
            "pending": None,
            "turns": 0,
            # The number of the question being asked now, and the last answer applied with the
            # reply it got: an answer resent after a crash is recognised by its number (engine.py).
            "seq": 1,
            "last": None,
            # Only what cross-field checks need from the known record, kept JSON-friendly.
            "known": {k: record[k] for k in ("birth", "gender") if k in record},
        }

    @staticmethod
    def finished(state: dict[str, Any]) -> bool:
        return not state["queue"] and state["pending"] is None

    def current_question(self, state: dict[str, Any]) -> str | None:
        """What to ask now (after a reconnect too); None when the questions are over."""
        if state["pending"] is not None:
            return self._confirm_prompt(state["pending"])
        if not state["queue"]:
            return None
        question = QUESTIONS[state["queue"][0]]
        return INTRO + question if state["turns"] == 0 and not state["answers"] else question

    # -- answers ----------------------------------------------------------

    def answer(self, state: dict[str, Any], text: str, from_audio: bool = False) -> Reply:
        """Process one answer; mutates ``state`` and returns what to say next."""
        if self.finished(state):
            return Reply("", True, None, "done")
        state["turns"] += 1
        text = clean(text)
        if state["pending"] is not None:
            return self._answer_confirmation(state, text, from_audio)
        field = state["queue"][0]
        if _is_skip(text):
            return self._skip(state, field, "好的，这一项先跳过。")
        result = parse_field(field, text, record=self._context(state), today=self.today)
        if not result.ok:
            return self._retry(state, field, result.hint)
        if result.confirm and from_audio:
            pending = {"field": field, "value": result.value}
            state["pending"] = pending
            return Reply(self._confirm_prompt(pending), False, field, "confirm")
        return self._accept(state, field, result.value)

    def _answer_confirmation(self, state: dict[str, Any], text: str, from_audio: bool) -> Reply:
        pending = state["pending"]
        field = pending["field"]
        # "不对，是139..." carries the corrected value itself: take it as a new answer.
        rest = re.sub(r"^(不对|不是|错了)[，,。\s]*(是|应该是)?", "", text)
        if rest != text and rest:
            state["pending"] = None
            result = parse_field(field, rest, record=self._context(state), today=self.today)
            if result.ok:
                state["pending"] = {"field": field, "value": result.value} if from_audio else None
                if from_audio:
                    return Reply(self._confirm_prompt(state["pending"]), False, field, "confirm")
                return self._accept(state, field, result.value)
            return self._retry(state, field, result.hint)
        if _is_skip(text):
            state["pending"] = None
            return self._skip(state, field, "好的，这一项先跳过。")
        if len(re.findall(r"[0-9零〇一二三四五六七八九幺两]", text)) >= 4:
            # The number said again instead of yes/no: the same number confirms, another replaces it.
            result = parse_field(field, text, record=self._context(state), today=self.today)
            if result.ok:
                if result.value == pending["value"]:
                    state["pending"] = None
                    return self._accept(state, field, result.value)
                state["pending"] = {"field": field, "value": result.value}
                return Reply(self._confirm_prompt(state["pending"]), False, field, "confirm")
        if _is_no(text):
            state["pending"] = None
            return self._retry(state, field, "好的，请再说一遍。" + QUESTIONS[field], count=True)
        if _is_yes(text):
            state["pending"] = None
            return self._accept(state, field, pending["value"])
        return Reply("请说“对”或者“不对”。" + self._confirm_prompt(pending), False, field, "confirm")

    # -- transitions --------------------------------------------------------

    def _accept(self, state: dict[str, Any], field: str, value: Any) -> Reply:
        state["answers"][field] = value
        state["queue"].remove(field)
        if field == "id_card":
            self._derive_from_id(state, value)
        return self._next(state, "好的。", field, "accepted")

    def _derive_from_id(self, state: dict[str, Any], number: str) -> None:
        """A checked ID number already says the birth date and gender: don't ask them again."""
        born = birth_of(number)
        assert born is not None  # an accepted ID number was validated: its birth date exists
        derived = {"birth": format_date(born), "gender": gender_of(number)}
        for key, value in derived.items():
            if key in state["queue"]:
                state["queue"].remove(key)
                state["answers"][key] = value

    def _retry(self, state: dict[str, Any], field: str, hint: str, count: bool = True) -> Reply:
        tries = state["tries"].get(field, 0) + (1 if count else 0)
        state["tries"][field] = tries
        if tries >= self.max_tries:
            return self._skip(state, field, "这一项先跳过，稍后可以到窗口补充。")
        return Reply(hint, False, field, "retry")

    def _skip(self, state: dict[str, Any], field: str, prefix: str) -> Reply:
        if field in state["queue"]:
            state["queue"].remove(field)
        if field not in state["skipped"]:
            state["skipped"].append(field)
        return self._next(state, prefix, field, "skipped")

    def _next(self, state: dict[str, Any], prefix: str, field: str, event: str) -> Reply:
        question = self.current_question(state)
        if question is None:
            return Reply(CLOSING, True, field, event)
        return Reply(prefix + question, False, field, event)

    def _context(self, state: dict[str, Any]) -> dict[str, Any]:
        """Known record plus answers so far, for cross-field checks."""
        return {**state["known"], **state["answers"]}

    @staticmethod
    def _confirm_prompt(pending: dict[str, Any]) -> str:
        return f"您说的是 {_read_back(pending['field'], pending['value'])}，对吗？"


def _read_back(field: str, value: Any) -> str:
    """Digits one by one so text-to-speech reads them as a clerk would."""
    if field in ("phone", "id_card"):
        return spell_digits(str(value))
    if field == "birth":
        return format_date(parse_date(value))
    return str(value)


def _is_skip(text: str) -> bool:
    return any(w in text for w in _SKIP)


def _is_no(text: str) -> bool:
    t = text.lower()
    return any(t.startswith(w) or t == w for w in _NO)


def _is_yes(text: str) -> bool:
    t = text.lower()
    return not _is_no(t) and any(t.startswith(w) for w in _YES)


def state_is_valid(state: Any) -> bool:
    """Cheap sanity check for a state read back from storage."""
    keys = {"version", "queue", "answers", "skipped", "tries", "pending", "turns", "known"}
    if not (isinstance(state, dict) and keys <= set(state) and state["version"] == STATE_VERSION):
        return False
    # A state saved before questions were numbered carries on from here (sessions outlive upgrades).
    state.setdefault("seq", 1)
    state.setdefault("last", None)
    return isinstance(state["seq"], int)

"""kill -9 the dialogue worker at every point of a qna answer, answer after answer: the citizen sees
only questions, and the stored record equals what the citizen said, field by field, every time.

The points: before the answer is stored and after it is stored but before the reply leaves (the
worker kills itself there when a test file asks it to: KIOSK_TEST_FAULTS), and after the reply
(the test kills it, then answers at once, into the restart). Also: qna opened while the dialogue
worker restarts, and the gateway killed mid-conversation (the citizen reconnects)."""

import json
import os
import signal
import sqlite3
import tempfile
from pathlib import Path

import pytest
import websocket
from harness import Appliance

from appliance.dialogue.fields import parse_field
from appliance.dialogue.idcard import birth_of, check_digit
from appliance.dialogue.numbers import format_date
from appliance.dialogue.qna import CLOSING, INTRO, QUESTIONS
from appliance.dialogue.record import OUTPUT_FIELDS

POINTS = ("before_store", "after_store", "after_reply")


def id_number(first17: str) -> str:
    return first17 + check_digit(first17)


CITIZENS = [  # what each citizen says, by field (护照 + 营业执照 ask all of these)
    (
        "zhang",
        {
            "name": "张伟",
            "gender": "女",
            "nationality": "汉族",
            "id_card": id_number("31011519920615002"),
            "phone": "13812345678",
            "hukou": "上海市浦东新区",
            "address": "上海市浦东新区世纪大道100号",
            "education": "本科",
            "political_status": "党员",
            "career": "护士",
            "email": "zhangwei@example.com",
        },
    ),
    (
        "ma",
        {
            "name": "马强",
            "gender": "男",
            "nationality": "回族",
            "id_card": id_number("64010419880203001"),
            "phone": "15987654321",
            "hukou": "宁夏银川市兴庆区",
            "address": "银川市兴庆区解放西街8号",
            "education": "硕士",
            "political_status": "群众",
            "career": "厨师",
            "email": "maqiang@example.cn",
        },
    ),
]


@pytest.fixture(scope="module")
def app():
    faults = Path(tempfile.mkdtemp(prefix="ka-faults-"))
    app = Appliance(
        workers="dialogue,gateway",
        env={
            "KIOSK_TEST_FAULTS": str(faults),
            "APPLIANCE_LIMITS_BUS_TIMEOUT": "30",  # room for a restart under a loaded test machine
            "APPLIANCE_SUPERVISOR_RESTART_BUDGET": "1000",  # dozens of kills on purpose
        },
    ).wait_ready()
    app.faults = faults
    yield app
    app.stop()


def field_of(question: str) -> str:
    """The field a question frame asks for; anything else (a JSON busy/error frame) fails the test."""
    text = question.removeprefix("好的。").removeprefix(INTRO)
    for field, words in QUESTIONS.items():
        if text.endswith(words):
            return field
    raise AssertionError(f"the citizen got a frame that is not a question: {question!r}")


def expected_record(said: dict) -> dict:
    """What storage must answer: each answer as the kiosk normalises it, birth from the ID number."""
    record = {field: parse_field(field, text).value for field, text in said.items()}
    record["birth"] = format_date(birth_of(said["id_card"]))
    return record


def kill_dialogue(app) -> int:
    pid = app.worker_pid("dialogue")
    os.kill(pid, signal.SIGKILL)
    return pid


def open_qna(app, user_id: str, hash_: str):
    ws = app.ws("flow_socket", "/qna")
    ws.send(json.dumps({"user_id": user_id, "type": "qna", "hash": hash_}))
    return ws, ws.recv()


def converse(
    app, user_id: str, hash_: str, said: dict, first_point: int, kill_gateway_after: int | None = None
):
    """Answer every question, killing the dialogue worker at a point of each answer in turn."""
    ws, question = open_qna(app, user_id, hash_)
    kills, answered = 0, []
    while question != CLOSING:
        field = field_of(question)
        assert field not in answered, f"{field} asked again after it was answered: {question!r}"
        point = POINTS[(first_point + len(answered)) % len(POINTS)]
        fault = app.faults / f"qna.answer.{point}"
        if point != "after_reply":
            fault.touch()
        ws.send(said[field])
        question = ws.recv()
        if question != CLOSING:
            field_of(question)  # a question, never a JSON frame the seed's client cannot read
        answered.append(field)
        if point != "after_reply":
            assert not fault.exists(), f"the dialogue worker did not pass {point}"
            kills += 1
        elif question != CLOSING:
            kill_dialogue(app)  # the next answer goes in while the worker restarts
            kills += 1
        if kill_gateway_after is not None and len(answered) == kill_gateway_after:
            gateway = app.worker_pid("gateway")
            os.kill(gateway, signal.SIGKILL)
            app.wait_healthy(60, predicate=lambda h: app.worker_pid("gateway") not in (gateway, None))
            ws, question = open_qna(app, user_id, hash_)  # the citizen's front end reconnects
    assert ws.recv() == ""  # the seed's end of the questions
    return answered, kills


def test_answers_apply_once_to_their_own_question_whatever_is_killed(app):
    total = 0
    for n, (user_id, said) in enumerate(CITIZENS):
        status, hs = app.post(
            "/handshake",
            {
                "user_id": user_id,
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": "我要办护照，还要办营业执照"},
            },
        )
        assert status == 200 and hs["classify"] == "护照/营业执照", hs
        if n == 1:
            kill_dialogue(app)  # qna opened during a restart: waited for, not refused
            total += 1
        answered, kills = converse(
            app, user_id, hs["hash"], said, first_point=n, kill_gateway_after=5 if n == 1 else None
        )
        assert sorted(answered) == sorted(said)
        total += kills
        status, stored = app.post("/storage", {"user_id": user_id, "type": "storage", "hash": hs["hash"]})
        assert status == 200, stored
        expected = expected_record(said)
        output = stored["output"]
        assert list(output) == list(OUTPUT_FIELDS)
        for field in OUTPUT_FIELDS:
            if field != "age":
                assert output[field] == expected.get(field), (field, output[field], expected.get(field))
        db = sqlite3.connect(app.data_dir / "appliance.sqlite3")
        row = db.execute(
            "select career, political_status, phone, id_card from citizen where user_id = ?", (user_id,)
        ).fetchone()
        assert row == (
            expected["career"],
            expected["political_status"],
            expected["phone"],
            expected["id_card"],
        )
    restarts = next(w for w in app.health()["workers"] if w["name"] == "dialogue")["restarts"]
    assert restarts >= total >= 20  # the kills really happened


def test_a_final_failure_is_one_error_frame_then_close():
    """The dialogue worker frozen past limits.bus_timeout: no busy frames, one error frame, close 1013."""
    app = Appliance(workers="dialogue,gateway", env={"APPLIANCE_LIMITS_BUS_TIMEOUT": "1.5"}).wait_ready()
    try:
        _, hs = app.post(
            "/handshake",
            {
                "user_id": "frozen",
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": "我要办护照"},
            },
        )
        ws, question = open_qna(app, "frozen", hs["hash"])
        assert field_of(question) == "name"
        pid = app.worker_pid("dialogue")
        os.kill(pid, signal.SIGSTOP)  # alive but not answering: the gateway waits, then gives up once
        try:
            ws.send("张伟")
            frame = json.loads(ws.recv())
            assert frame["type"] == "error" and "dialogue" in frame["reason"], frame
            opcode, data = ws.recv_data(control_frame=True)
            assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1013
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        app.stop()

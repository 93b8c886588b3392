"""Clarification over the real ports (issue 16 §4): an unsure handshake names no service and asks;
the same user's next handshake answers it; the question is answered once, by that user only."""

import json

import pytest
from harness import Appliance

# Close between two services (a tuning row; the classifier before issue 16 answered 结婚登记): ask.
OPEN = "离婚了房子要改到我一个人名下"


@pytest.fixture(scope="module")
def app():
    app = Appliance(workers="dialogue,gateway").wait_ready()
    yield app
    app.stop()


def handshake(app, user_id, text):
    status, body = app.post(
        "/handshake",
        {
            "user_id": user_id,
            "type": "handshake",
            "info": {"name": "李明", "phone": None},
            "input": {"type": "text", "text": text},
        },
    )
    assert status == 200, body
    return body


def test_unsure_request_asks_and_the_next_handshake_answers(app):
    first = handshake(app, "clarify-1", OPEN)
    assert first["classify"] == "综合咨询"
    assert first["candidates"] == ["结婚登记", "不动产登记"]
    assert first["flow"] == "请问您是想办理结婚登记，还是不动产登记？"
    second = handshake(app, "clarify-1", "后面那个")
    assert second["classify"] == "不动产登记" and "candidates" not in second
    assert "不动产登记中心" in second["flow"]
    assert second["hash"] != first["hash"]
    # the question was answered: other words are a request of their own (no service)
    third = handshake(app, "clarify-1", "前面那个")
    assert third["classify"] == "综合咨询" and "candidates" not in third


def test_the_answer_belongs_to_the_user_who_was_asked(app):
    handshake(app, "clarify-2", OPEN)
    other = handshake(app, "clarify-3", "第一个")  # another citizen at the kiosk: not an answer
    assert other["classify"] == "综合咨询"
    mine = handshake(app, "clarify-2", "第一个")
    assert mine["classify"] == "结婚登记"


def test_a_clear_request_replaces_the_question(app):
    handshake(app, "clarify-4", OPEN)
    answer = handshake(app, "clarify-4", "算了，我要办护照")
    assert answer["classify"] == "护照"


def test_a_named_service_needs_no_question(app):
    body = handshake(app, "clarify-5", "我要办身份证")
    assert body["classify"] == "身份证" and "candidates" not in body


def test_the_chosen_service_is_questioned_and_summarised(app):
    """After the answer, the flow goes on as for a clear request: qna asks the service's fields."""
    first = handshake(app, "clarify-6", OPEN)
    chosen = handshake(app, "clarify-6", "第二个")
    ws = app.ws("flow_socket", "/")
    ws.send(json.dumps({"user_id": "clarify-6", "type": "qna", "hash": chosen["hash"]}))
    assert ws.recv()  # a question, not the end frame: 不动产登记 needs fields
    ws.close()
    ws = app.ws("flow_socket", "/")  # the clarifying session itself has nothing to ask
    ws.send(json.dumps({"user_id": "clarify-6", "type": "qna", "hash": first["hash"]}))
    assert "不需要再回答" in ws.recv()
    ws.close()


def test_a_resent_answer_gets_the_same_service(app):
    """A client that lost the reply to its answer resends the same handshake: same question, same answer."""
    handshake(app, "clarify-7", OPEN)
    first = handshake(app, "clarify-7", "第二个")
    again = handshake(app, "clarify-7", "第二个")
    assert first["classify"] == again["classify"] == "不动产登记"
    other = handshake(app, "clarify-7", "第一个")  # not a resend: the question was answered
    assert other["classify"] == "综合咨询"

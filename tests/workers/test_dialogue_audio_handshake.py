"""A repeated audio handshake (a kiosk replaying a canned prompt) never gets a hash that is no longer
valid: identical bodies are deduplicated only while the first is processed and shortly after."""

import base64
import time

import pytest
from harness import Appliance

TTL = 10  # dialogue.session_ttl's minimum


@pytest.fixture(scope="module")
def app():
    app = Appliance(
        workers="dialogue,speech,gateway", env={"APPLIANCE_DIALOGUE_SESSION_TTL": str(TTL)}
    ).wait_ready(300)
    yield app
    app.stop()


def speak(app, text: str) -> bytes:
    """The canned prompt as WAV; the speech worker's first synthesis may still be warming up (busy)."""
    ws = app.ws("tool", "/tts")
    for _ in range(10):
        ws.send(text)
        reply = ws.recv()
        if isinstance(reply, bytes):
            return reply
        time.sleep(1.0)
    raise AssertionError(f"no speech synthesised: {reply}")


def until_answered(app, body) -> dict:
    """Send the same body until it is no longer `processing` (the client the seed describes)."""
    for _ in range(600):  # generous: the machine may be loaded
        status, reply = app.post("/handshake", body)
        if reply["type"] != "processing":
            assert status == 200 and reply["type"] == "handshake", reply
            return reply
        assert status == 202
        time.sleep(0.5)
    raise AssertionError("the audio handshake stayed `processing`")


def session_state(app, user_id, hash_) -> str:
    """'valid' or the reason the flow port gives for this hash."""
    status, reply = app.post("/storage", {"user_id": user_id, "type": "storage", "hash": hash_})
    return "valid" if "after the questions" in reply.get("reason", "") else reply.get("reason", str(status))


def test_replay_after_expiry_gets_a_new_valid_hash(app):
    body = {
        "user_id": "canned",
        "type": "handshake",
        "info": {},
        "input": {"type": "audio", "media": base64.b64encode(speak(app, "我要补办社保卡")).decode()},
    }
    first = until_answered(app, body)
    assert first["classify"] == "社保卡"
    assert until_answered(app, body)["hash"] == first["hash"]  # asked again at once: the same answer
    assert session_state(app, "canned", first["hash"]) == "valid"
    for _ in range(120):  # the session expires TTL seconds after its last use
        if "expired" in session_state(app, "canned", first["hash"]):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the session never expired")
    replay = until_answered(app, body)  # the canned prompt again, after expiry
    assert replay["hash"] != first["hash"] and replay["classify"] == "社保卡"
    assert session_state(app, "canned", replay["hash"]) == "valid"

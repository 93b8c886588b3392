"""verify_before_storage never blocks the kiosk when no verdict can be had, and reads
faceAdv answers as the seed allows them (issue 15, item 4); real processes for the flow."""

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from harness import MODELS, Appliance, free_port  # noqa: E402
from sync_helpers import TOKEN, variant  # noqa: E402

from appliance import store  # noqa: E402
from appliance.runtime import endpoints  # noqa: E402
from appliance.store import faces as face_store  # noqa: E402
from appliance.sync import verify  # noqa: E402

INFO = {
    "name": "张三",
    "gender": "男",
    "nationality": "汉",
    "phone": "13912345678",
    "id_card": "110101196108040018",
}


# -- reading the answers -----------------------------------------------------------------


def test_result_as_object_or_json_string():
    result = {"orderNo": "o1", "similarity": "97.0", "liveRate": "99"}
    assert verify.result_of({"result": result}) == result
    assert verify.result_of({"result": json.dumps(result)}) == result  # the seed's table: String
    assert verify.result_of({"result": "not json"}) == {} and verify.result_of({}) == {}


def test_faceadv_status_and_order():
    ok = {"status": "SUCCESS", "traceNo": "t", "result": json.dumps({"orderNo": "o1"})}
    assert verify.order_of(ok) == ("o1", None)
    order, why = verify.order_of({**ok, "status": "FAIL"})
    assert order == "" and why["passed"] is None and why["error"] == "adv_status"
    assert verify.order_of({"status": "SUCCESS", "result": {}})[1]["error"] == "no_order"


def test_judge_uses_similarity_and_live_rate():
    def final(**result):
        return {"status": "SUCCESS", "traceNo": "t", "result": json.dumps(result)}

    assert verify.judge(final(similarity="97.0", liveRate="99"), "o", "authmatch", 70, 60)["passed"] is True
    assert verify.judge(final(similarity="40"), "o", "authmatch", 70, 60)["passed"] is False
    spoof = verify.judge(final(similarity="97.0", liveRate="12"), "o", "authmatch", 70, 60)
    assert spoof["passed"] is False and "liveRate" in spoof["reason"]
    assert (
        verify.judge(final(similarity="97.0"), "o", "authmatch", 70, 60)["passed"] is True
    )  # no liveRate given
    empty = verify.judge(final(tencentCode="66660004", similarity=""), "o", "authmatch", 70, 60)
    assert empty["passed"] is None and empty["error"] == "no_similarity"
    failed = verify.judge({"status": "FAIL", "result": {}}, "o", "authmatch", 70, 60)
    assert failed["passed"] is None and failed["error"] == "result_status"


def test_summary_note_only_when_no_verdict():
    assert verify.summary_note(None) is None
    assert verify.summary_note({"passed": True}) is None and verify.summary_note({"passed": False}) is None
    note = verify.summary_note({"passed": None, "error": "unreachable", "reason": "cannot connect"})
    assert note["done"] is False and note["code"] == "unreachable" and "人工核对" in note["message_zh"]
    assert verify.summary_table(note)["身份核验"] == "未能完成"


# -- the flow, with the upstream unreachable -------------------------------------------------


def finish_questions(app, user_id: str, hash_: str) -> None:
    """Open qna and take the first words: storage is allowed once the questions began."""
    ws = app.ws("flow_socket", "/qna")
    ws.send(json.dumps({"user_id": user_id, "type": "qna", "hash": hash_}))
    assert isinstance(ws.recv(), str)
    ws.close()


def flow_until_summary(app, user_id: str) -> tuple[dict, dict]:
    status, hs = app.post(
        "/handshake",
        {
            "user_id": user_id,
            "type": "handshake",
            "info": INFO,
            "input": {"type": "text", "text": "我要办身份证"},
        },
    )
    assert status == 200, hs
    finish_questions(app, user_id, hs["hash"])
    status, stored = app.post("/storage", {"user_id": user_id, "type": "storage", "hash": hs["hash"]})
    assert status == 200, stored  # before: 403 "the identity check failed"
    assert stored["output"]["name"] == "张三" and stored["output"]["id_card"] == INFO["id_card"]
    status, summary = app.post("/summary", {"user_id": user_id, "type": "summary", "hash": hs["hash"]})
    assert status == 200, summary
    return hs, summary["output"]


def test_unreachable_upstream_or_missing_photo_never_blocks_storage(tmp_path):
    closed = free_port()  # nothing listens here: the upstream is unreachable
    app = Appliance(
        workers="dialogue,sync,gateway",
        env={
            "APPLIANCE_TENCENT_ENABLED": "true",
            "APPLIANCE_TENCENT_TOKEN": TOKEN,
            "APPLIANCE_TENCENT_BASE_URL": f"http://127.0.0.1:{closed}/tech/ai/face/",
            "APPLIANCE_TENCENT_TIMEOUT": "2",
            "APPLIANCE_TENCENT_VERIFY_BEFORE_STORAGE": "true",
        },
    )
    try:
        app.wait_ready()
        store.open_database(endpoints.database_path(app.data_dir))
        from appliance.face.engine import FaceEngine

        photo = variant("obama_1.jpg", "none")
        embedding = FaceEngine(MODELS).analyse(photo).embedding
        face_store.save_template("with_photo", "sface-2021dec", np.stack([embedding]), photo)

        for user_id, code in (("with_photo", "unreachable"), ("no_photo", "no_photo")):
            hs, output = flow_until_summary(app, user_id)
            note = output["verification"]
            assert note["done"] is False and note["code"] == code, note
            assert output["tables"][-1] == {"身份核验": "未能完成", "说明": verify.UNVERIFIED_ZH}
            assert output["tables"][0]["name"] == "张三"  # the citizen's record still comes first
            db = sqlite3.connect(app.data_dir / "appliance.sqlite3")
            (kept,) = db.execute(
                "select verification from flow_session where hash = ?", (hs["hash"],)
            ).fetchone()
            db.close()
            kept = json.loads(kept)
            assert kept["passed"] is None and kept["error"] == code, kept  # the session records it
    finally:
        app.stop()

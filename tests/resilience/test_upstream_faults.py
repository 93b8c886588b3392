"""Upstream outages and slowness: the Tencent-style API answering 30 s late, then 500s,
then gone; the SE box sending garbage. No worker blocks, the outbox holds, and the
kiosk's own flows answer as usual."""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))

from harness import Appliance  # noqa: E402
from sync_helpers import FACES, SimProcess, frames_of, sync_env, sync_request, tencent_sim, train, wait_for  # noqa: E402

from appliance.dialogue.idcard import check_digit  # noqa: E402


def kiosk_still_serves(app):
    status, body = app.post(
        "/handshake",
        {
            "user_id": "walk-in",
            "type": "handshake",
            "info": {},
            "input": {"type": "text", "text": "我要办居住证"},
        },
        timeout=10,
    )
    assert status == 200 and body["classify"] == "居住证"
    fp = app.ws("tool", "/face_predict", timeout=10)
    fp.send_binary((FACES / "obama_3.jpg").read_bytes())
    reply = json.loads(fp.recv())
    assert reply["message"] == "success" and reply["user_id"] == "obama", reply
    health = app.get("/health", timeout=10)[1]
    assert health["healthy"] and all(w["restarts"] == 0 for w in health["workers"]), health
    assert "outbox" in sync_request(app, "status", timeout=10)  # the sync worker itself answers


def test_slow_failing_and_missing_upstreams(tmp_path):
    tencent = tencent_sim(tmp_path, tmp_path / "journal.jsonl").start()
    sebox = SimProcess("sebox", ["--devices", "cam-1"], tmp_path / "sebox.log").start()
    tencent.control("/_sim/fault", {"mode": "slow", "delay": 30})
    app = Appliance(
        workers="dialogue,face,sync,gateway",
        env=sync_env(
            f"http://127.0.0.1:{tencent.port}/tech/ai/face/",
            APPLIANCE_SEBOX_ENABLED="true",
            APPLIANCE_SEBOX_URL=f"ws://127.0.0.1:{sebox.port}",
            APPLIANCE_SEBOX_MEDIA_DEVICE_IDS="cam-1",
            APPLIANCE_SEBOX_PING_INTERVAL="1",
        ),
    ).wait_ready()
    try:
        id17 = "11010519900307001"
        _, hs = app.post(
            "/handshake",
            {
                "user_id": "obama",
                "type": "handshake",
                "input": {"type": "text", "text": "办护照"},
                "info": {"name": "奥巴马", "id_card": id17 + check_digit(id17)},
            },
        )
        qna = app.ws("flow_socket", "/qna")
        qna.send(json.dumps({"user_id": "obama", "type": "qna", "hash": hs["hash"]}))
        while qna.recv() != "":
            qna.send("跳过")
        assert app.post("/storage", {"user_id": "obama", "type": "storage", "hash": hs["hash"]})[0] == 200
        train(app, "obama", frames_of("obama_1.jpg"))
        # the registration is on its way to an upstream that takes 30 s to answer
        wait_for(
            lambda: (
                {"sending", "uncertain", "pending"} & set(sync_request(app, "status")["outbox"]["counts"])
            ),
            20,
            "the registration attempted",
        )
        sebox.control("/_sim/malformed", {})
        kiosk_still_serves(app)  # while the upstream sits on a request for 30 s

        tencent.control("/_sim/fault", {"mode": "error"})  # HTTP 500: retried, never dead
        time.sleep(2)
        kiosk_still_serves(app)
        tencent.proc.kill()  # gone altogether, abruptly (a cable pulled)
        tencent.proc.wait()
        sebox.stop()
        time.sleep(2)
        kiosk_still_serves(app)
        counts = sync_request(app, "status")["outbox"]["counts"]
        assert counts.get("delivered", 0) == 0 and not counts.get("dead"), counts  # the outbox holds
        assert sum(counts.values()) >= 1
    finally:
        app.stop()
        tencent.stop()
        sebox.stop()

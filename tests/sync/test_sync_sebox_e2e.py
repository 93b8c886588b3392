"""The SE box feed end to end: the appliance's sync worker against the box
simulator, both real processes; records land in the database and on the bus."""

import os
import signal
import sys
import threading
from pathlib import Path

import pytest
import zmq

sys.path.insert(0, str(Path(__file__).parent))

from harness import Appliance  # noqa: E402
from sync_helpers import SimProcess, sync_request, wait_for  # noqa: E402

from appliance import store  # noqa: E402
from appliance.runtime import bus, endpoints  # noqa: E402
from appliance.store.models import RecognitionEvent  # noqa: E402

DEV1, DEV2 = "04f98265-1fad-47e5-9dda-66e191272055", "f9f0768f-497c-45f3-9307-ae80a9d89390"


def start(tmp_path, dialect: str):
    sim = SimProcess("sebox", ["--devices", f"{DEV1},{DEV2}"], tmp_path / "sebox-sim.log").start()
    app = Appliance(
        workers="sync",
        env={
            "APPLIANCE_SEBOX_ENABLED": "true",
            "APPLIANCE_SEBOX_URL": f"ws://127.0.0.1:{sim.port}",
            "APPLIANCE_SEBOX_DIALECT": dialect,
            "APPLIANCE_SEBOX_MEDIA_DEVICE_IDS": DEV1,
            "APPLIANCE_SEBOX_WITH_FACE_IMAGE": "true",
            "APPLIANCE_SEBOX_KEEP_IMAGES": "true",
            "APPLIANCE_SEBOX_PING_INTERVAL": "1",
            "APPLIANCE_SEBOX_BACKOFF_MAX": "0.5",
        },
    ).wait_ready()
    store.open_database(endpoints.database_path(app.data_dir))
    return sim, app


def configured_clients(sim) -> int:
    return sum(1 for c in sim.state()["clients"] if c["configured"])


def rows() -> list[RecognitionEvent]:
    return list(RecognitionEvent.select().order_by(RecognitionEvent.id))


class Listener:
    """Collects the sync worker's TOPIC_SEBOX events."""

    def __init__(self, app):
        self.events: list[dict] = []
        self.sock = bus.subscriber(app.dir / "run", [endpoints.TOPIC_SEBOX], zmq.Context.instance())
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            if self.sock.poll(100):
                header, frames = bus.decode(self.sock.recv_multipart()[1:])
                self.events.append({**header, "frames": len(frames)})

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def test_feed_survives_drops_and_skips_malformed(tmp_path):
    sim, app = start(tmp_path, "seed")
    listener = Listener(app)
    try:
        wait_for(lambda: configured_clients(sim) == 1, 30, "the client configured the box")
        assert sim.state()["configs"][0] == {
            "client": 1,
            "with_face_image": True,
            "with_register_image": False,
            "media_device_ids": [DEV1],
        }
        first = sim.control("/_sim/push", {"count": 3, "device_id": DEV1})["records"]
        first += sim.control("/_sim/push", {"count": 2, "device_id": DEV1, "variant": "example"})["records"]
        other = sim.control(
            "/_sim/push", {"count": 2, "device_id": DEV2}
        )  # another camera: filtered by the box
        assert other["sent"] == {}
        wait_for(lambda: len(rows()) == 5, 30, "five records stored")

        sim.control("/_sim/drop", {"how": "abort"})  # the link dies without a close frame
        wait_for(lambda: sim.state()["connections"] == 2 and configured_clients(sim) == 1, 30, "reconnected")
        assert sim.state()["configs"][1] == {
            "client": 2,
            "with_face_image": True,
            "with_register_image": False,
            "media_device_ids": [DEV1],
        }
        sim.control("/_sim/malformed", {})
        after = sim.control("/_sim/push", {"count": 3, "device_id": DEV1})["records"]
        resent = sim.control(
            "/_sim/push", {"records": first[2:4]}
        )  # the box repeats itself (with and without event_id)
        assert len(resent["sent"]["2"]) == 2
        after += sim.control("/_sim/push", {"count": 1, "device_id": DEV1, "variant": "example"})["records"]
        wait_for(lambda: len(rows()) == 9, 30, "every record after the reconnect stored")
        status = wait_for(
            lambda: (s := sync_request(app, "status")["sebox"])["duplicates"] == 2 and s,
            20,
            "duplicates counted",
        )
        assert status["malformed"] == 4 and status["connects"] == 2 and status["connected"]

        stored = rows()
        assert len({r.event_id for r in stored}) == 9
        by_ts = {r.timestamp_ms: r for r in stored}
        for record in first + after:
            row = by_ts[record["timestamp"]]
            assert (
                row.identity_id == record["identity_id"] and row.device_id == DEV1 and row.source == "sebox"
            )
            assert 0 <= row.score <= 100 and row.score == pytest.approx(
                record["score"] * 100 if record["score"] <= 1 else record["score"], abs=0.01
            )
            assert row.image and row.image[:3] == b"\xff\xd8\xff"  # the face crop, kept as configured
            if "event_id" in record:
                assert row.event_id == record["event_id"]
            else:  # the seed's own example: no event_id, no user_type
                assert row.event_id.startswith("dedup:") and row.user_type == ""
        wait_for(lambda: len(listener.events) == 9, 10, "nine bus events")
        assert {e["event_id"] for e in listener.events} == {r.event_id for r in stored}
        assert all(e["source"] == "sebox" and e["frames"] == 1 for e in listener.events)
    finally:
        listener.close()
        app.stop()
        sim.stop()


def test_sophon_dialect_and_a_box_that_comes_up_late(tmp_path):
    sim, app = start(tmp_path, "sophon")
    try:
        wait_for(lambda: configured_clients(sim) == 1, 30, "configured")
        assert sim.state()["configs"][0] == {
            "client": 1,
            "need_face": True,
            "need_register": False,
            "event_list": [DEV1],
        }
        sent = sim.control("/_sim/push", {"count": 4, "device_id": DEV1, "variant": "sophon"})["records"]
        wait_for(lambda: len(rows()) == 4, 30, "stored")
        types = {r.event_id: r.user_type for r in rows()}
        names = {1: "employee", 2: "visitor", 3: "blacklist", 4: "stranger", 5: "vip"}
        assert types == {r["event_id"]: names[r["person_type"]] for r in sent}
        assert all(r.payload["group_name"] == "默认分组" and r.image for r in rows())

        # a box that hangs (process stopped: TCP stays up, nothing answers) is found by its missing pongs
        os.kill(sim.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: not sync_request(app, "status")["sebox"]["connected"], 20, "dead link noticed")
        finally:
            os.kill(sim.proc.pid, signal.SIGCONT)
        wait_for(
            lambda: sync_request(app, "status")["sebox"]["connects"] >= 2 and configured_clients(sim) == 1,
            30,
            "reconnected after the hang",
        )
        sim.control("/_sim/push", {"count": 1, "device_id": DEV1, "variant": "sophon"})
        wait_for(lambda: len(rows()) == 5, 30, "stored after the hang")

        port = sim.port  # the box goes away and comes back later: the client keeps trying
        sim.stop()
        wait_for(lambda: not sync_request(app, "status")["sebox"]["connected"], 20, "disconnect noticed")
        sim = SimProcess("sebox", ["--devices", DEV1], tmp_path / "sebox-sim2.log", port).start()
        wait_for(lambda: configured_clients(sim) == 1, 30, "reconfigured after the box restarted")
        sim.control("/_sim/push", {"count": 2, "device_id": DEV1, "variant": "sophon"})
        wait_for(lambda: len(rows()) == 7, 30, "stored after restart")
    finally:
        app.stop()
        sim.stop()


def test_simulator_speaks_to_the_seeds_reference_client(tmp_path):
    """`appliance simulate sebox` with a demo feed, read by websocket-client as in the seed."""
    import json
    import subprocess

    import websocket
    from harness import ROOT, free_port

    port = free_port()
    code = "import sys; from appliance import cli; sys.exit(cli.main())"
    with open(tmp_path / "sim.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "simulate",
                "sebox",
                "--port",
                str(port),
                "--rate",
                "0.1",
                "--variant",
                "example",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    try:
        s = wait_for(lambda: _connect(websocket, port), 30, "simulator up")
        s.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            s.recv_data()  # says nothing until configured
        s.settimeout(10)
        s.send(
            json.dumps({"with_face_image": True, "with_register_image": False, "media_device_ids": [DEV2]})
        )
        for _ in range(3):
            event = json.loads(str(s.recv_data()[1], encoding="utf8"))
            assert event["media_device_id"] == DEV2 and "event_id" not in event and 0 < event["score"] < 1
            assert event["recognize_face_image"].startswith("data:image/jpeg;base64,/9j/")
            assert "register_image" not in event and event["reg_pic"] == ""
        s.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _connect(websocket, port):
    s = websocket.WebSocket()
    try:
        s.connect(f"ws://127.0.0.1:{port}")
    except OSError:
        return None
    return s

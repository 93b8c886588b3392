"""The event feed (5679) under a client that stops reading: it is dropped, the others get everything.

Real camera worker on stills, real face worker storing events, real gateway; the
stuck client is a real socket with a tiny receive buffer that configures itself
for both images and then never reads."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
import websocket
from harness import ROOT, Appliance, free_port

from appliance.camera.sources import transform
from appliance.gateway.feed import parse_config, render

FACES = ROOT / "tests" / "data" / "faces"
PEOPLE = {"obama": "obama_1.jpg", "biden": "biden.jpg", "astronaut": "astronaut.jpg"}
VOLUME = 6_000_000
"""Bytes the normal clients must receive while the stuck one is connected (or was, until dropped): more
than its kernel and user-space buffers could hold (the old feed froze everyone after ~4 MB here)."""
CONFIG = {"with_face_image": True, "with_register_image": True, "media_device_ids": []}


def grain(image: np.ndarray, seed: int) -> np.ndarray:
    """Sensor-like noise: JPEGs of it stay big, so every record carries a few hundred KB."""
    noise = np.random.default_rng(seed).normal(0, 16, image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def scene(name: str | None, seed: int = 0) -> np.ndarray:
    if name is None:
        return np.zeros((480, 640, 3), np.uint8)
    return grain(transform(cv2.imread(str(FACES / name)), 640, 480, 0, False), seed)


@pytest.fixture
def busy_camera(tmp_path):
    """Three enrolled people passing the camera in turn: ~3 image-bearing events a second."""
    data = tmp_path / "data"
    folder = tmp_path / "people"
    for user, name in PEOPLE.items():
        (folder / user).mkdir(parents=True)
        image = cv2.imread(str(FACES / name))
        image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        variants = [image, cv2.flip(image, 1), cv2.convertScaleAbs(image, alpha=1.1, beta=10)]
        for index, variant in enumerate(variants):  # three samples of one photo, as enrolment needs
            cv2.imwrite(str(folder / user / f"{index}.png"), grain(variant, index))
    env = {
        **os.environ,
        "APPLIANCE_PATHS_DATA_DIR": str(data),
        "APPLIANCE_PATHS_RUNTIME_DIR": str(tmp_path / "r"),
        "APPLIANCE_PATHS_MODELS_DIR": str(ROOT / "models"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "appliance", "enrol", "--folder", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    stills = tmp_path / "stills"
    stills.mkdir()
    frames = [n for name in ("obama_2.jpg", "biden.jpg", "astronaut.jpg") for n in [name] * 3] + [None]
    for index, name in enumerate(frames):
        cv2.imwrite(str(stills / f"{index:04d}.png"), scene(name, index))
    return data, stills


class Reader(threading.Thread):
    """A normal client: the seed's reference client, reading as fast as records come."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.ws = websocket.WebSocket()
        self.ws.settimeout(60)
        self.ws.connect(f"ws://127.0.0.1:{port}")
        self.ws.send(json.dumps(CONFIG))
        self.ids: list[str] = []
        self.images = 0
        self.bytes = 0
        self.error = None

    def run(self) -> None:
        try:
            while True:
                text = self.ws.recv()
                self.bytes += len(text)
                record = json.loads(text)
                self.ids.append(record["event_id"])
                self.images += "register_image" in record and "recognize_face_image" in record
        except Exception as exc:  # closed at the end of the test
            self.error = exc


def stored_ids(data, after: int = 0) -> tuple[list[str], int]:
    db = sqlite3.connect(f"file:{data / 'appliance.sqlite3'}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "select id, event_id from recognition_event where source = 'kiosk' and id > ? order by id",
            (after,),
        ).fetchall()
    finally:
        db.close()
    return [e for _, e in rows], max([i for i, _ in rows], default=after)


def feed_status(app) -> dict:
    gateway = next(w for w in app.health()["workers"] if w["name"] == "gateway")
    return gateway["status"].get("event_feed", {})


def test_a_client_that_stops_reading_is_dropped_and_the_others_get_every_event(busy_camera):
    data, stills = busy_camera
    port = free_port()
    app = Appliance(
        workers="camera,face,gateway",
        env={
            "APPLIANCE_PATHS_DATA_DIR": str(data),
            "APPLIANCE_CAMERA_SOURCE": f"stills:{stills}",
            "APPLIANCE_CAMERA_FPS": "10",
            "APPLIANCE_CAMERA_RECOGNISE_FPS": "10",
            "APPLIANCE_CAMERA_VISIT_GAP": "0.5",
            "APPLIANCE_PORTS_EVENT_FEED": str(port),
            "APPLIANCE_LIMITS_FEED_QUEUE_BYTES": "200000",
            "APPLIANCE_LIMITS_FEED_SEND_TIMEOUT": "3",
        },
    )
    stuck = None
    try:
        app.wait_ready()
        # configures itself for both images, then never reads; a 4 KB receive window
        stuck = websocket.create_connection(
            f"ws://127.0.0.1:{port}", timeout=10, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
        )
        stuck.send(json.dumps(CONFIG))
        readers = [Reader(port), Reader(port)]
        for reader in readers:
            reader.start()
        time.sleep(1.0)  # every configuration taken: events stored from now on go to all three
        _, baseline = stored_ids(data)
        start = [r.bytes for r in readers]
        deadline = time.monotonic() + 240  # a loaded machine makes events slowly; never a timing assertion
        # run until several megabytes went out past the stuck client
        behind = lambda: min(r.bytes - b for r, b in zip(readers, start, strict=True))  # noqa: E731
        while time.monotonic() < deadline and behind() < VOLUME:
            time.sleep(0.5)
        got = [r.bytes - b for r, b in zip(readers, start, strict=False)]
        assert min(got) >= VOLUME, f"the normal clients stalled at {got} bytes"
        status = feed_status(app)
        assert status.get("dropped_slow") == 1, (status, app.logtext())
        expected, _ = stored_ids(data, baseline)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(set(expected) <= set(r.ids) for r in readers):
            time.sleep(0.2)
        for reader in readers:
            missing = set(expected) - set(reader.ids)
            assert not missing, f"{len(missing)} of {len(expected)} stored events never reached a reader"
            assert reader.images >= len(expected)
        app.logtext()  # flushes
        assert "dropped the client" in (app.dir / "appliance.log").read_text(errors="replace")
        assert feed_status(app)["clients"] == 2
    finally:
        if stuck is not None:
            stuck.close()
        app.stop()


def test_render_filters_cameras_and_adds_images_as_asked():
    record = {"event_id": "e1", "media_device_id": "cam-1", "identity_name": "张三"}
    config = parse_config(json.dumps({**CONFIG, "media_device_ids": ["cam-2"]}))
    assert render(record, [b"\xff\xd8face", b"\xff\xd8reg"], config) is None
    config = parse_config(json.dumps({"with_face_image": True}))
    text = render(record, [b"\xff\xd8face", b"\xff\xd8reg"], config)
    assert "张三" in text  # UTF-8, not \\u escapes
    out = json.loads(text)
    assert out["recognize_face_image"].startswith("data:image/jpeg;base64,") and "register_image" not in out
    assert isinstance(parse_config('{"media_device_ids": "cam"}'), str)


def test_feed_connections_get_keepalive_and_a_bounded_send_buffer():
    """The seed's client cannot take pings: a peer gone without a FIN is found by TCP itself."""
    from types import SimpleNamespace

    from appliance.gateway.feed import KEEPALIVE, SEND_BUFFER, USER_TIMEOUT_MS, tune_socket

    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        transport = SimpleNamespace(get_extra_info=lambda name: accepted if name == "socket" else None)
        tune_socket(SimpleNamespace(transport=transport))
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle, interval, count = KEEPALIVE
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == idle
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == interval
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == count
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == USER_TIMEOUT_MS
        assert accepted.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * SEND_BUFFER  # Linux doubles it
    finally:
        for sock in (client, accepted, server):
            sock.close()

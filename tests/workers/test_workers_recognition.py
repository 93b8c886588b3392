"""The camera's recogniser detects each frame once: its detections feed the analysis (issue 18 §3)."""

from types import SimpleNamespace

from appliance.config.settings import load
from appliance.face.engine import FaceEngine
from appliance.face.imagedecode import decode_image
from appliance.runtime import bus
from appliance.workers.recognition import Recogniser
from tests.face.conftest import DATA


def test_a_steady_frame_is_detected_once_and_analysed_with_those_faces(monkeypatch):
    settings = load(None, environ={})
    engine = FaceEngine(settings.models_dir if settings.models_dir.exists() else DATA.parents[2] / "models")
    worker = SimpleNamespace(settings=settings, engine=engine)
    recogniser = Recogniser(worker, match=lambda analysis: {"message": "continue"})
    analysed = []
    monkeypatch.setattr(recogniser, "_event", lambda header, analysis, *_: analysed.append(analysis) or {})
    frame = decode_image((DATA / "obama_2.jpg").read_bytes())
    frames = [b"frame", *bus.encode({"shape": list(frame.shape), "ts": 1.0}, [frame.tobytes()])]
    recogniser.examine(frames)  # first look: not steady yet
    calls = []
    real = engine.detector.detect
    monkeypatch.setattr(engine.detector, "detect", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    recogniser.examine(frames)  # steady: analysed
    assert len(analysed) == 1 and analysed[0].ok
    # One detection of the frame (default: one full-resolution pass), none in the analysis.
    assert calls == [frame.shape]


def test_frames_the_bus_dropped_are_counted_as_lost_and_a_camera_restart_is_not():
    settings = load(None, environ={})
    recogniser = Recogniser(SimpleNamespace(settings=settings, engine=None), match=lambda analysis: {})
    for frame_id in (1, 2, 5, 6, 1, 2):  # 3 and 4 never arrived; then the camera restarted
        recogniser.count_frame([b"frame", *bus.encode({"frame_id": frame_id}, [b""])])
    assert recogniser.stats["received"] == 6 and recogniser.stats["lost"] == 2

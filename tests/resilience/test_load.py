"""Concurrent citizens on loopback for a bounded time: 50 WebSocket connections streaming
frames to /face_predict plus up to 200 handshakes/s. No crash, memory bounded, every
request answered (`busy` when full); latency percentiles printed."""

import json
import statistics
import threading
import time

from harness import ROOT, Appliance

FACES = ROOT / "tests" / "data" / "faces"
SECONDS = 10.0
STREAMS = 50
HANDSHAKES_PER_S = 200


def percentiles(values):
    if not values:
        return {}
    q = statistics.quantiles(values, n=100)
    return {
        "p50": round(q[49] * 1000, 1),
        "p95": round(q[94] * 1000, 1),
        "p99": round(q[98] * 1000, 1),
        "n": len(values),
    }


def test_load_on_loopback():
    app = Appliance(
        workers="dialogue,face,gateway",
        env={"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "10000", "APPLIANCE_LIMITS_MAX_INFLIGHT": "16"},
    ).wait_ready()
    image = (FACES / "biden.jpg").read_bytes()
    stop = time.monotonic() + SECONDS
    lock = threading.Lock()
    results = {"frames": [], "handshakes": [], "outcomes": {}}

    def count(kind, outcome, started):
        with lock:
            results[kind].append(time.monotonic() - started)
            results["outcomes"][f"{kind}:{outcome}"] = results["outcomes"].get(f"{kind}:{outcome}", 0) + 1

    def stream():
        ws = app.ws("tool", "/face_predict", timeout=60)
        while time.monotonic() < stop:
            started = time.monotonic()
            ws.send_binary(image)
            reply = json.loads(ws.recv())
            count("frames", reply.get("reason", reply["message"]), started)
        ws.close()

    def handshakes():
        n = 0
        while time.monotonic() < stop:
            n += 1
            started = time.monotonic()
            status, body = app.post(
                "/handshake",
                {
                    "user_id": f"load-{n}",
                    "type": "handshake",
                    "info": {},
                    "input": {"type": "text", "text": "我要办社保卡"},
                },
                timeout=60,
            )
            count("handshakes", body["type"], started)
            time.sleep(max(0.0, 16 / HANDSHAKES_PER_S - (time.monotonic() - started)))

    try:
        threads = [threading.Thread(target=stream) for _ in range(STREAMS)]
        threads += [threading.Thread(target=handshakes) for _ in range(16)]
        for t in threads:
            t.start()
        peak = 0
        while time.monotonic() < stop:
            health = app.health()
            peak = max(peak, sum(w["rss"] for w in health["workers"]))
            time.sleep(1.0)
        for t in threads:
            t.join(90)
        assert not any(t.is_alive() for t in threads), "a client never got its answer"
        report = {
            "frames": percentiles(results["frames"]),
            "handshakes": percentiles(results["handshakes"]),
            "outcomes": results["outcomes"],
            "peak_rss_mb": round(peak / 1e6),
        }
        print("load:", json.dumps(report, ensure_ascii=False))
        health = app.wait_healthy()
        assert all(w["restarts"] == 0 for w in health["workers"]), health
        assert results["outcomes"].get("handshakes:handshake", 0) > 0
        assert set(k.split(":")[1] for k in results["outcomes"] if k.startswith("handshakes")) <= {
            "handshake",
            "busy",
        }
        assert set(k.split(":")[1] for k in results["outcomes"] if k.startswith("frames")) <= {
            "unknown",
            "busy",
        }
        assert peak < 2e9  # bounded: high-water marks and queue limits, not growth with the load
    finally:
        app.stop()

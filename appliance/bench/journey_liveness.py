"""The face part of the journey with liveness on (issue 18 §5): first frame → `success` through the
real /face_predict port while the liveness worker judges every frame.

Its own `appliance run` (face, liveness, gateway). The citizen is enrolled through /face_train with a
cooperative turn, and each round presents a new turn of the head: frames of
``appliance.liveness.attacks.sequence("bona_fide", …)`` (a rendered 3-D head textured with the
enrolled person's photo, turning as a citizen asked to does), sent one after the other's answer as a
kiosk front end does, on a new socket. Timed: the first frame sent → the `success` reply, and how many
frames it took. Reference, in the same round: the same frames sent straight to the face worker's
predict over the bus (it asks the liveness worker too), so the ratio is what the ports add.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from ..config import Settings
from ..runtime import bus, endpoints
from .service import Service
from .stats import figure

WORKERS = "face,liveness,gateway"
ENV = {"APPLIANCE_FACE_PREDICT_MAX_FRAMES": "10000"}
FRAMES = 16
"""Frames of one presentation; the worker's test recognises a turning head within them."""
PHOTO = "obama_2.jpg"


def _presentations(settings: Settings, seeds: list[int]) -> dict[int, list[bytes]]:
    import cv2

    from ..data import FACES_DIR
    from ..face.engine import FaceEngine
    from ..liveness.attacks import sequence

    analysis = FaceEngine(settings.models_dir).analyse((FACES_DIR / PHOTO).read_bytes())
    if analysis.image is None or analysis.landmarks is None:
        raise RuntimeError(f"no face in {PHOTO}: {analysis.reason}")
    out = {}
    for seed in seeds:
        frames = sequence("bona_fide", analysis.image, analysis.landmarks, seed=seed, n=FRAMES)
        out[seed] = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes() for f in frames]
    return out


async def _enrol(session, service: Service, frames: list[bytes]) -> None:
    async with session.ws_connect(f"ws://127.0.0.1:{service.ports['flow_socket']}/face_train") as ws:
        await ws.send_str(json.dumps({"user_id": "journey", "type": "face_train", "hash": ""}))
        reply: dict = {}
        for frame in frames:
            await ws.send_bytes(frame)
            reply = json.loads((await ws.receive()).data)
            if reply["message"] == "success":
                return
    raise RuntimeError(f"enrolment with liveness on did not succeed: {reply}")


async def _through_port(session, service: Service, frames: list[bytes]) -> tuple[float, int, dict]:
    """(ms from the first frame to `success`, frames sent, the last reply) on a new socket."""
    url = f"ws://127.0.0.1:{service.ports['tool']}/face_predict"
    reply: dict = {}
    sent = 0
    async with session.ws_connect(url, max_msg_size=0) as ws:
        t0 = time.perf_counter()
        while sent < len(frames) and reply.get("message") not in ("success", "fail"):
            await ws.send_bytes(frames[sent])
            reply = json.loads((await ws.receive()).data)
            sent += 1
        return (time.perf_counter() - t0) * 1000, sent, reply


def _over_bus(client: bus.BusClient, frames: list[bytes], key: str) -> tuple[float, int, dict]:
    reply: dict = {}
    sent = 0
    t0 = time.perf_counter()
    try:
        while sent < len(frames) and reply.get("message") not in ("success", "fail"):
            reply, _ = client.request("predict", {"hash": key}, [frames[sent]])
            sent += 1
        return (time.perf_counter() - t0) * 1000, sent, reply
    finally:
        client.request("predict.close", {"hash": key})


async def _rounds(service: Service, presentations: dict[int, list[bytes]], enrol_seed: int) -> dict:
    import aiohttp

    ours, ref, frames_ours, frames_ref, missed = [], [], [], [], 0
    client = bus.BusClient(endpoints.worker_requests(service.runtime_dir, "face"), timeout=120)
    try:
        async with aiohttp.ClientSession() as session:
            await _enrol(session, service, presentations[enrol_seed])
            for seed, frames in presentations.items():
                if seed == enrol_seed:
                    continue
                ms, n, reply = await _through_port(session, service, frames)
                ref_ms, ref_n, ref_reply = _over_bus(client, frames, f"journey-live-{seed}")
                if reply.get("message") != "success" or reply.get("user_id") != "journey":
                    missed += 1  # a turn the liveness cues did not accept: counted, not timed
                    continue
                ours.append(ms)
                frames_ours.append(n)
                if ref_reply.get("message") == "success":
                    ref.append(ref_ms)
                    frames_ref.append(ref_n)
    finally:
        client.close()
    if not ours:
        raise RuntimeError(f"no presentation was recognised live ({missed} tried)")
    return {
        "first_frame_to_success_liveness": figure(
            statistics.median(ours),
            "ms",
            statistics.median(ref) if ref else None,
            "the same frames to the face worker's predict over the bus (liveness asked too)",
            n=len(ours),
            note=(
                f"liveness on; a turning head (attacks.sequence bona_fide), "
                f"median {statistics.median(frames_ours):.0f} frames to success"
                + (f" (bus: {statistics.median(frames_ref):.0f})" if frames_ref else "")
                + f"; {missed} of {len(ours) + missed} turns not accepted within {FRAMES} frames"
            ),
        ),
        "frames_to_success_liveness": figure(
            statistics.median(frames_ours),
            "frames",
            statistics.median(frames_ref) if frames_ref else None,
            "frames the bus reference needed",
            n=len(ours),
        ),
    }


def run(settings: Settings, quick: bool) -> dict:
    seeds = list(range(40, 43 if quick else 46))  # the first enrols, the others are timed
    presentations = _presentations(settings, seeds)
    service = Service(settings, WORKERS, ENV)
    try:
        service.wait_ready()
        return asyncio.run(_rounds(service, presentations, seeds[0]))
    finally:
        service.stop()

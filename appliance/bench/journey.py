"""The citizen's journey through the real ports, as the citizen feels it (issue 18 §5).

One `appliance run` (dialogue, face, speech, gateway; liveness off; spoken questions on) and an
aiohttp client. Each figure is a median over repeats with, where one exists, a reference measured in
the same run on the same input:
- first frame → `success` for an enrolled face, vs the face worker's predict straight over the bus;
- end of speech → handshake answer (audio input, polled as the seed's client does), vs the speech
  worker's transcription over the bus plus a text handshake;
- question asked → first audio byte of the spoken question, vs the same question synthesised
  without the cache (Kokoro in this process);
- answer → next question (text answer, qna socket), vs the dialogue worker's qna.open over the bus;
- storage and summary (HTTP);
- /tts first audio: a cached fixed prompt, and uncached text with ?stream=1 (the first clause) vs
  the same text's one-frame WAV.
With liveness on (appliance/bench/journey_liveness.py, its own service): first frame → `success` for
a turning head, vs the same frames to the face worker over the bus.
The prewarm runs in the speech worker: the bench waits until the questions are cached (the
procedures may still be synthesising meanwhile, as on a kiosk in its first minutes).
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time

from ..config import Settings
from ..runtime import bus, endpoints
from .service import Service
from .stats import figure

WORKERS = "dialogue,face,speech,gateway"
ENV = {
    "APPLIANCE_SPEECH_SPEAK_QUESTIONS": "true",
    "APPLIANCE_FACE_PREDICT_MAX_FRAMES": "10000",
    "APPLIANCE_LIMITS_BUS_TIMEOUT": "120",
}
ANSWERS = {"name": "王芳", "gender": "女", "nationality": "汉族", "phone": "13912345678"}
"""Text answers by field; any other question is answered 跳过 (skip), as a citizen may."""
UNCACHED = "您说的是一三九一二三四五六七八，对吗？对的话请说对，不对请再说一遍。"
"""A read-back: never cached (it holds the citizen's number), a comma early as most replies have."""


def _ms(t0: float, t1: float) -> float:
    return (t1 - t0) * 1000


async def _face(service: Service, repeats: int) -> tuple[list, list]:
    import aiohttp
    import cv2

    from ..data import FACES_DIR as photos

    # the photos as they are (a letterboxed 640x480 leaves the face under the minimum size); the
    # mirrored first photo is a third view, as a selfie camera shows it
    first = (photos / "obama_1.jpg").read_bytes()
    img = cv2.imread(str(photos / "obama_1.jpg"))
    if img is None:  # cv2.error, as cv2.imencode of the empty flip would have raised
        raise cv2.error(f"could not read {photos / 'obama_1.jpg'}")
    mirrored = cv2.imencode(".jpg", cv2.flip(img, 1))[1].tobytes()
    frames = [first, mirrored, (photos / "obama_2.jpg").read_bytes()]
    probe = (photos / "obama_3.jpg").read_bytes()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{service.ports['flow_socket']}/") as ws:
            await ws.send_str(json.dumps({"user_id": "journey", "hash": "", "type": "face_train"}))
            for frame in frames:
                await ws.send_bytes(frame)
                if json.loads((await ws.receive()).data)["message"] == "success":
                    break
            else:
                raise RuntimeError("enrolment did not succeed")
        client = bus.BusClient(endpoints.worker_requests(service.runtime_dir, "face"), timeout=120)
        ours, ref = [], []
        try:
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                async with session.ws_connect(f"ws://127.0.0.1:{service.ports['tool']}/face_predict") as ws:
                    await ws.send_bytes(probe)
                    reply = json.loads((await ws.receive()).data)
                t1 = time.perf_counter()
                if reply.get("message") != "success" or reply.get("user_id") != "journey":
                    raise RuntimeError(f"the enrolled face was not recognised at once: {reply}")
                client.request("predict", {"hash": f"journey-ref-{i}"}, [probe])
                t2 = time.perf_counter()
                client.request("predict.close", {"hash": f"journey-ref-{i}"})
                if i:  # round 0 warms up
                    ours.append(_ms(t0, t1))
                    ref.append(_ms(t1, t2))
        finally:
            client.close()
    return ours, ref


async def _post(session, service: Service, body: dict) -> tuple[int, dict]:
    async with session.post(service.url(f"/{body['type']}"), json=body) as r:
        return r.status, await r.json()


async def _tts(session, service: Service, text: str, stream: bool = False) -> tuple[float, float, bytes]:
    """(ms to the first binary frame, ms to the last, the first frame) of one /tts request."""
    url = f"ws://127.0.0.1:{service.ports['tool']}/tts" + ("?stream=1" if stream else "")
    async with session.ws_connect(url, max_msg_size=0) as ws:
        t0 = time.perf_counter()
        await ws.send_str(text)
        msg = await ws.receive()
        first, data = time.perf_counter(), msg.data
        if not isinstance(data, bytes):
            raise RuntimeError(f"/tts answered {data!r}")
        last = first
        while stream:
            msg = await ws.receive()
            if msg.type.name == "TEXT" and msg.data == "":
                break
            last = time.perf_counter()
    return _ms(t0, first), _ms(t0, last), data


async def _handshake_audio(session, service: Service, wav: bytes, user: str) -> float:
    body = {
        "user_id": user,
        "type": "handshake",
        "info": {"name": "王芳"},
        "input": {"type": "audio", "media": base64.b64encode(wav).decode()},
    }
    t0 = time.perf_counter()
    while True:
        status, reply = await _post(session, service, body)
        if reply.get("type") != "processing":
            if status != 200:
                raise RuntimeError(f"audio handshake failed: {reply}")
            return _ms(t0, time.perf_counter())
        await asyncio.sleep(0.02)


def _field_of(question: str) -> str | None:
    from ..dialogue.qna import QUESTIONS

    return next((f for f, q in QUESTIONS.items() if question.endswith(q)), None)


async def _qna(session, service: Service, user: str) -> tuple[list, list, list, dict]:
    """One questionnaire: (answer → next question ms, question → its audio ms, the questions, hs)."""
    _, hs = await _post(
        session,
        service,
        {
            "user_id": user,
            "type": "handshake",
            "info": {"name": "王芳"},
            "input": {"type": "text", "text": "我要办护照"},
        },
    )
    answer_ms, audio_ms, asked = [], [], []
    url = f"ws://127.0.0.1:{service.ports['flow_socket']}/qna"
    async with session.ws_connect(url, max_msg_size=0) as ws:
        await ws.send_str(json.dumps({"user_id": user, "type": "qna", "hash": hs["hash"]}))
        sent = None
        for _ in range(60):
            msg = await ws.receive()
            t_text = time.perf_counter()
            if msg.type.name != "TEXT" or msg.data == "":
                break  # the end-of-questions marker or the close
            if sent is not None:
                answer_ms.append(_ms(sent, t_text))
            audio = await ws.receive()
            if not isinstance(audio.data, bytes) or audio.data[:4] != b"RIFF":
                raise RuntimeError(f"no spoken question after {msg.data!r}: {audio.data!r}")
            audio_ms.append(_ms(t_text, time.perf_counter()))
            asked.append(msg.data)
            await ws.send_str(ANSWERS.get(_field_of(msg.data) or "", "跳过"))
            sent = time.perf_counter()
    return answer_ms, audio_ms, asked, hs


def _wait_questions_cached(service: Service, timeout: float = 1800) -> None:
    """Until the prewarm has passed the planner's questions (they come first in its order)."""
    from ..dialogue import qna
    from ..speech.textnorm import split_sentences

    needed = sum(len(split_sentences(t, 50)) for t in [qna.INTRO, *qna.QUESTIONS.values(), qna.CLOSING])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prewarm = (service.worker("speech").get("status") or {}).get("prewarm") or {}
        if prewarm.get("done") or prewarm.get("synthesised", 0) >= needed:
            return
        time.sleep(1.0)
    raise RuntimeError("the questions were not cached in time")


async def _journey(service: Service, settings: Settings, quick: bool) -> dict:
    import aiohttp

    from ..dialogue import qna
    from ..speech.tts import TextToSpeech

    repeats = 2 if quick else 5
    out: dict = {}
    ours, ref = await _face(service, repeats)
    out["first_frame_to_success"] = figure(
        statistics.median(ours),
        "ms",
        statistics.median(ref),
        "face worker's predict over the bus",
        n=len(ours),
        note="enrolled face, liveness off, new /face_predict socket",
    )
    plain = TextToSpeech(settings.models_dir, voice=settings.speech.voice, english=False)  # no cache
    async with aiohttp.ClientSession() as session:
        _, _, wav = await _tts(session, service, "我要办护照")
        client = bus.BusClient(endpoints.worker_requests(service.runtime_dir, "speech"), timeout=120)
        hs_ms, ref_ms = [], []
        try:
            for i in range(repeats + 1):
                took = await _handshake_audio(session, service, wav, f"journey-audio-{i}")
                t0 = time.perf_counter()
                client.request("transcribe", {}, [wav])
                t1 = time.perf_counter()
                await _post(
                    session,
                    service,
                    {
                        "user_id": f"journey-text-{i}",
                        "type": "handshake",
                        "info": {"name": "王芳"},
                        "input": {"type": "text", "text": "我要办护照"},
                    },
                )
                if i:
                    hs_ms.append(took)
                    ref_ms.append(_ms(t0, time.perf_counter()))
        finally:
            client.close()
        out["end_of_speech_to_handshake"] = figure(
            statistics.median(hs_ms),
            "ms",
            statistics.median(ref_ms),
            "transcribe over the bus + a text handshake",
            n=len(hs_ms),
            note="'我要办护照' in the kiosk's voice, polled",
        )
        answer_ms: list[float] = []
        audio_ms: list[float] = []
        asked: list[str] = []
        hs: dict | None = None
        for i in range(1 if quick else 2):
            a, b, asked, hs = await _qna(session, service, f"journey-qna-{i}")
            answer_ms += a
            audio_ms += b
        model_ms = []
        for text in asked[:4]:
            t0 = time.perf_counter()
            plain.synthesize_wav(text)
            model_ms.append(_ms(t0, time.perf_counter()))
        out["question_to_first_audio_byte"] = figure(
            statistics.median(audio_ms),
            "ms",
            statistics.median(model_ms),
            "the same questions synthesised uncached",
            n=len(audio_ms),
            note=f"{len(asked)} questions a citizen is asked (护照), served from the TTS cache",
        )
        out["answer_to_next_question"] = figure(
            statistics.median(answer_ms),
            "ms",
            None,
            "",
            n=len(answer_ms),
            note="text answers over the qna socket (the next question's text)",
        )
        assert hs is not None  # the loop above runs at least once
        ids = {"user_id": hs["user_id"], "hash": hs["hash"]}
        t0 = time.perf_counter()
        status, _ = await _post(session, service, {**ids, "type": "storage"})
        t1 = time.perf_counter()
        status2, _ = await _post(session, service, {**ids, "type": "summary"})
        t2 = time.perf_counter()
        if (status, status2) != (200, 200):
            raise RuntimeError(f"storage/summary answered {status}/{status2}")
        out["storage"] = figure(_ms(t0, t1), "ms", None, "", n=1)
        out["summary"] = figure(_ms(t1, t2), "ms", None, "", n=1)
        cached, streamed, whole = [], [], []
        for _ in range(repeats):
            cached.append((await _tts(session, service, qna.QUESTIONS["phone"]))[0])
            streamed.append((await _tts(session, service, UNCACHED, stream=True))[0])
            whole.append((await _tts(session, service, UNCACHED))[0])
        t0 = time.perf_counter()
        plain.synthesize_wav(qna.QUESTIONS["phone"])
        out["tts_first_audio_cached"] = figure(
            statistics.median(cached),
            "ms",
            _ms(t0, time.perf_counter()),
            "the same prompt synthesised uncached",
            n=repeats,
            note="a fixed prompt over /tts (goal ≤ 50 ms)",
        )
        out["tts_first_audio_uncached"] = figure(
            statistics.median(streamed),
            "ms",
            statistics.median(whole),
            "the same text as one WAV frame",
            n=repeats,
            note="/tts?stream=1: first clause first (goal ≤ 700 ms)",
        )
    return out


def run(settings: Settings, quick: bool) -> dict:
    from . import journey_liveness

    out = journey_liveness.run(settings, quick)  # its own service: face, liveness, gateway
    service = Service(settings, WORKERS, ENV)
    try:
        service.wait_ready()
        _wait_questions_cached(service)
        return {**asyncio.run(_journey(service, settings, quick)), **out}
    finally:
        service.stop()

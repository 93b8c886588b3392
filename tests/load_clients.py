"""Kiosk clients that keep requests in flight and record how each one ended."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request

import websocket

OUTCOMES = ("ok", "busy", "error", "closed", "hung")


class Load:
    """Threads hammering the three ports until stopped; every request's outcome is counted."""

    def __init__(self, app, image: bytes, audio: bytes, timeout: float):
        self.app, self.image, self.audio, self.timeout = app, image, audio, timeout
        self.outcomes: dict[str, dict[str, int]] = {}
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=f, daemon=True)
            for f in (self._predict, self._stt, self._train, self._handshake, self._audio_handshake)
        ]

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def served_every_channel(self) -> bool:
        """Each of the five channels has had at least one request served."""
        with self._lock:
            return len(self.outcomes) == len(self._threads) and all(
                counts["ok"] for counts in self.outcomes.values()
            )

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 10)
        return self.outcomes

    def _count(self, channel: str, outcome: str, started: float) -> None:
        with self._lock:
            self.outcomes.setdefault(channel, {o: 0 for o in OUTCOMES})[outcome] += 1
            self.latencies.append(time.monotonic() - started)

    def _ws_loop(self, channel: str, path: str, send, opening: str | None = None) -> None:
        while not self._stop.is_set():
            try:
                ws = self.app.ws(
                    "flow_socket" if path == "/face_train" else "tool", path, timeout=self.timeout
                )
                if opening is not None:
                    ws.send(opening)  # the flow socket's handshake
            except (OSError, websocket.WebSocketException):
                self._count(channel, "closed", time.monotonic())
                time.sleep(0.2)
                continue
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    send(ws)
                    reply = ws.recv()
                except websocket.WebSocketTimeoutException:
                    self._count(channel, "hung", started)
                    break
                except (OSError, websocket.WebSocketException):
                    self._count(channel, "closed", started)
                    break
                self._count(channel, classify_ws(reply), started)
            ws.close()

    def _predict(self) -> None:
        self._ws_loop("face_predict", "/face_predict", lambda ws: ws.send_binary(self.image))

    def _train(self) -> None:
        opening = json.dumps({"user_id": "load-train", "type": "face_train", "hash": ""})
        self._ws_loop("face_train", "/face_train", lambda ws: ws.send_binary(self.image), opening)

    def _stt(self) -> None:
        self._ws_loop("stt", "/stt", lambda ws: ws.send_binary(self.audio))

    def _http(self, channel: str, body: dict) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, reply = self.app.post("/handshake", body, timeout=self.timeout)
                self._count(
                    channel,
                    {"handshake": "ok", "processing": "ok", "busy": "busy"}.get(reply.get("type"), "error"),
                    started,
                )
            except (TimeoutError, urllib.error.URLError) as exc:
                self._count(channel, "hung" if "timed out" in str(exc) else "closed", started)
            except (OSError, json.JSONDecodeError):
                self._count(channel, "closed", started)
                time.sleep(0.1)

    def _handshake(self) -> None:
        self._http(
            "handshake",
            {
                "user_id": "load",
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": "我要办护照"},
            },
        )

    def _audio_handshake(self) -> None:
        """As a front end does: the same body again while it is `processing`, a new one after its
        answer (a new body is a fresh transcription, so one is in flight when a worker dies; a client
        that sent a new one every 0.2 s would pile up transcriptions no kiosk ever asks for)."""
        n = 1
        while not self._stop.is_set():
            audio = self.audio + b"\x00\x00" * n
            reply_type = self._http_once(
                "audio_handshake",
                {
                    "user_id": f"voice-{n}",
                    "type": "handshake",
                    "info": {},
                    "input": {"type": "audio", "media": base64.b64encode(audio).decode()},
                },
            )
            if reply_type != "processing":
                n += 1

    def _http_once(self, channel: str, body: dict) -> str | None:
        """One request, counted; the reply's type (None when there was no reply)."""
        started = time.monotonic()
        reply_type = None
        try:
            status, reply = self.app.post("/handshake", body, timeout=self.timeout)
            reply_type = reply.get("type")
            outcome = {"handshake": "ok", "processing": "ok", "busy": "busy"}.get(reply_type, "error")
        except (TimeoutError, urllib.error.URLError) as exc:
            outcome = "hung" if "timed out" in str(exc) else "closed"
        except (OSError, json.JSONDecodeError):
            outcome = "closed"
        self._count(channel, outcome, started)
        time.sleep(0.2)
        return reply_type


def classify_ws(reply) -> str:
    if isinstance(reply, bytes):
        return "ok"
    try:
        value = json.loads(reply)
    except (json.JSONDecodeError, TypeError):
        return "ok"  # a transcript
    if not isinstance(value, dict):
        return "ok"
    if value.get("type") in ("busy", "error"):
        return value["type"]
    if value.get("reason") in ("unavailable", "busy"):
        return "busy"
    return "ok"

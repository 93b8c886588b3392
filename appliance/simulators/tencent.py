"""A simulator of the Tencent-style face library and verification API (seeds 002, 003).

    python -m appliance.simulators.tencent --port 7007 --token T [--journal reg.jsonl]
    appliance simulate tencent --port 7007 --token T

Serves ``POST /tech/ai/face/{faceLib/person/reg, faceLib/person/recong,
faceAdv, faceAdvResult}`` and checks requests the way the documents describe
them; every answer is ``{"errcode", "errmsg", "data"}``.  Its own errcodes:

    1001 Authorization header missing or wrong    1006 image is not base64 / not an image
    1002 body is not a JSON object                1007 no single clear face in the image
    1003 a required field is missing              1008 origin other than "self" (no file server here)
    1004 a field has the wrong type or value      1009 unknown orderNo
    1005 image base64 longer than 400 KB          (injected errors: --errcode, default 9999)

The face library is real: faces are embedded with the appliance's own
FaceEngine; ``score`` is 0–100 with 70 at the engine's 1/1000 threshold, and
``isMatch`` is score ≥ 70.  Accepted registrations are appended to the
journal (if given) and reloaded at start, so a restarted simulator still
knows who was registered and how many times (``GET /_sim/state``).

faceAdv needs a live face scan, which the real service gets from its SDK.
A kiosk has no SDK: the live photo travels in ``extData.livePhoto`` (base64
JPEG).  ``authmatch`` compares it with the library's photo of ``idNo`` (the
stand-in for the authoritative source; the name must agree), ``match`` with
``sourcePhotoStr``.  faceAdvResult returns ``similarity`` and ``liveRate``
("99": no liveness is simulated).

Faults for tests and technicians (``POST /_sim/fault``, JSON):
``{"mode": "ok" | "refuse" | "slow" | "error" | "errcode" | "no_ok" | "string_result",
"delay": s, "errcode": n, "count": k}``;
refuse drops the connection without an answer, slow answers after ``delay``
seconds (the request is still processed), error answers HTTP 500, errcode
answers that errcode, no_ok processes the request but leaves ``data.ok`` out
of the answer, string_result sends faceAdv/faceAdvResult's ``result`` as a
JSON string (the seed's table types it String); ``count`` limits the fault to
the next k requests.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

log = logging.getLogger("tencent-sim")

PREFIX = "/tech/ai/face/"
MAX_BASE64 = 400 * 1024
PERSON_TYPES = ("normal", "vip", "inner")
USER_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
FAULTS = ("ok", "refuse", "slow", "error", "errcode", "no_ok", "string_result")


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errmsg)
        self.errcode, self.errmsg = errcode, errmsg


def ok(data: dict) -> web.Response:
    return _json({"errcode": 0, "data": data, "errmsg": "SUCCESS"})


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _json(data, **kwargs) -> web.Response:
    """JSON answers as the seeds' services send them: UTF-8, Chinese unescaped."""
    return web.json_response(data, dumps=_dumps, **kwargs)


def _require(body: dict, key: str, kind: type, where: str = "") -> Any:
    if key not in body or body[key] is None or body[key] == "":
        raise ApiError(1003, f"missing required field {where}{key}")
    if not isinstance(body[key], kind) or (kind is not bool and isinstance(body[key], bool)):
        raise ApiError(1004, f"{where}{key} must be {kind.__name__}")
    return body[key]


def _optional(body: dict, key: str, kind: type) -> None:
    if key in body and body[key] is not None and not isinstance(body[key], kind):
        raise ApiError(1004, f"{key} must be {kind.__name__}")


class Library:
    """The simulated face library: idNum → person, with a real embedding."""

    def __init__(self, models_dir: Path, journal: Path | None, threshold: float = 0.5):
        from ..face.engine import FaceEngine

        self.engine = FaceEngine(Path(models_dir))
        self.threshold = threshold
        self.people: dict[str, dict] = {}
        self.registrations: dict[str, int] = {}
        self.journal = journal
        self.lock = threading.Lock()
        if journal is not None and journal.exists():
            for line in journal.read_text().splitlines():
                entry = json.loads(line)
                self._put(entry)

    def _put(self, entry: dict) -> None:
        self.people[entry["idNum"]] = {**entry, "embedding": np.asarray(entry["embedding"], np.float32)}
        self.registrations[entry["idNum"]] = self.registrations.get(entry["idNum"], 0) + 1

    def embed(self, image_obj: Any, where: str) -> np.ndarray:
        """An image object of the seeds ({origin, data}) → the face's embedding, or ApiError."""
        if not isinstance(image_obj, dict):
            raise ApiError(1003 if image_obj in (None, "") else 1004, f"{where} must be an object with data")
        origin = image_obj.get("origin", "self") or "self"
        if origin not in ("self", "fds", "uri"):
            raise ApiError(1004, f"{where}.origin must be self, fds or uri")
        if origin != "self":
            raise ApiError(1008, f"{where}.origin {origin} is not available in the simulator")
        data = _require(image_obj, "data", str, f"{where}.")
        if len(data) > MAX_BASE64:
            raise ApiError(1005, f"{where}.data is {len(data)} base64 characters; the limit is 400k")
        if data.startswith("data:"):
            data = data.partition(",")[2]
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(1006, f"{where}.data is not base64") from None
        analysis = self.engine.analyse(raw)
        if analysis.reason == "bad_image":
            raise ApiError(1006, f"{where}.data is not an image ({analysis.detail})")
        if not analysis.ok:
            raise ApiError(1007, f"{where}: no single clear face ({analysis.reason})")
        assert analysis.embedding is not None  # ok analyses carry one
        return analysis.embedding

    def score(self, a: np.ndarray, b: np.ndarray) -> float:
        from ..face.gallery import to_percent

        return to_percent(float(np.dot(a, b)), self.threshold) or 0.0  # never None for a float

    def register(self, id_num: str, name: str, person_type: str, customer_id: str, emb: np.ndarray) -> None:
        entry = {
            "idNum": id_num,
            "name": name,
            "personType": person_type,
            "customerID": customer_id,
            "embedding": [round(float(x), 6) for x in emb],
            "at": time.time(),
        }
        with self.lock:
            self._put(entry)
            if self.journal is not None:
                with self.journal.open("a") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def search(self, emb: np.ndarray) -> tuple[dict | None, float | None]:
        with self.lock:
            people = list(self.people.values())
        scored = [(self.score(emb, p["embedding"]), p) for p in people]
        if not scored:
            return None, None
        best_score, best = max(scored, key=lambda sp: sp[0])
        return best, best_score


def _reshape(response: web.Response, mode: str) -> web.Response:
    """The variants a real service may send: no data.ok, or `result` as a JSON string."""
    answer = json.loads(response.text or "{}")
    data = answer.get("data")
    if isinstance(data, dict):
        if mode == "no_ok":
            data.pop("ok", None)
        elif isinstance(data.get("result"), dict):
            data["result"] = _dumps(data["result"])
    return _json(answer)


class Simulator:
    def __init__(self, library: Library, token: str, errcode: int = 9999):
        self.library = library
        self.token = token
        self.default_errcode = errcode
        self.fault: dict[str, Any] = {"mode": "ok"}
        self.requests: dict[str, int] = {}
        self.orders: dict[str, dict] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        routes = {
            "faceLib/person/reg": self.reg,
            "faceLib/person/recong": self.recong,
            "faceAdv": self.face_adv,
            "faceAdvResult": self.face_adv_result,
        }
        for path, handler in routes.items():
            app.router.add_post(PREFIX + path, self._wrap(path, handler))
        app.router.add_get("/_sim/state", self.state)
        app.router.add_post("/_sim/fault", self.set_fault)
        return app

    def _take_fault(self) -> dict:
        fault = dict(self.fault)
        if fault["mode"] != "ok" and "count" in fault:
            self.fault["count"] -= 1
            if self.fault["count"] <= 0:
                self.fault = {"mode": "ok"}
        return fault

    def _wrap(self, path: str, handler):
        async def serve(request: web.Request) -> web.StreamResponse:
            self.requests[path] = self.requests.get(path, 0) + 1
            fault = self._take_fault()
            if fault["mode"] == "refuse":
                if request.transport is not None:
                    request.transport.abort()  # an outage as the client sees it: no answer at all
                return web.Response(status=503)  # never written: the connection is gone
            if fault["mode"] == "error":
                return _json({"message": "simulated server error"}, status=500)
            if fault["mode"] == "errcode":
                return _json(
                    {
                        "errcode": int(fault.get("errcode", self.default_errcode)),
                        "errmsg": "simulated error",
                        "data": {},
                    }
                )
            if request.headers.get("Authorization", "") != self.token or not self.token:
                return _json({"errcode": 1001, "errmsg": "Authorization token missing or wrong"})
            try:
                body = json.loads(await request.text())
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                return _json({"errcode": 1002, "errmsg": "body is not a JSON object"})
            try:
                _optional(body, "async", bool)
                response = await asyncio.get_running_loop().run_in_executor(None, handler, body)
            except ApiError as exc:
                log.info("%s refused: %s %s", path, exc.errcode, exc.errmsg)
                response = _json({"errcode": exc.errcode, "errmsg": exc.errmsg})
            if fault["mode"] == "slow":
                await asyncio.sleep(float(fault.get("delay", 5.0)))  # processed, then answered late
            if fault["mode"] in ("no_ok", "string_result"):
                response = _reshape(response, fault["mode"])
            return response

        return serve

    # -- the four endpoints (run in the executor: the engine is CPU work) -------------
    def reg(self, body: dict) -> web.Response:
        id_num = _require(body, "idNum", str)
        name = _require(body, "name", str)
        person_type = _require(body, "personType", str)
        if person_type not in PERSON_TYPES:
            raise ApiError(1004, f"personType must be one of {', '.join(PERSON_TYPES)}")
        _optional(body, "customerID", str)
        emb = self.library.embed(body.get("faceImage"), "faceImage")
        self.library.register(id_num, name, person_type, body.get("customerID") or "", emb)
        log.info("registered %s (%s)", id_num, name)
        return ok({"ok": "true"})

    def recong(self, body: dict) -> web.Response:
        emb = self.library.embed(body.get("faceImage"), "faceImage")
        best, score = self.library.search(emb)
        if best is None or score is None or score < 70:
            return ok({"isMatch": "false", "score": "" if score is None else f"{score:.0f}"})
        return ok(
            {
                "idNum": best["idNum"],
                "customerID": best.get("customerID", ""),
                "name": best["name"],
                "personType": best["personType"],
                "isMatch": "true",
                "score": f"{score:.0f}",
            }
        )

    def face_adv(self, body: dict) -> web.Response:
        user_id = _require(body, "userId", str)
        if not USER_ID.match(user_id):
            raise ApiError(1004, "userId may not contain special characters")
        kind = _require(body, "type", str)
        if kind not in ("match", "authmatch"):
            raise ApiError(1004, "type must be match or authmatch")
        ext = body.get("extData") or {}
        if not isinstance(ext, dict):
            raise ApiError(1004, "extData must be an object")
        reference = None
        if kind == "match":
            source = body.get("sourcePhotoStr")
            if not source:
                raise ApiError(1003, "missing required field sourcePhotoStr (type match)")
            reference = self.library.embed(source, "sourcePhotoStr")
        else:
            name, id_no = _require(body, "name", str), _require(body, "idNo", str)
            person = self.library.people.get(id_no)
            if person is not None and person["name"] == name:
                reference = person["embedding"]
        live = None
        if ext.get("livePhoto"):
            live = self.library.embed({"origin": "self", "data": ext["livePhoto"]}, "extData.livePhoto")
        order_no = f"sim{int(time.time() * 1000)}{secrets.token_hex(3)}"
        self.orders[order_no] = {"type": kind, "reference": reference, "live": live, "at": time.time()}
        return ok(
            {
                "status": "SUCCESS",
                "traceNo": secrets.token_hex(8),
                "result": {
                    "bizSeqNo": secrets.token_hex(8),
                    "orderNo": order_no,
                    "faceId": secrets.token_hex(16),
                },
            }
        )

    def face_adv_result(self, body: dict) -> web.Response:
        order_no = _require(body, "orderNo", str)
        _optional(body, "getFile", str)
        order = self.orders.get(order_no)
        if order is None:
            raise ApiError(1009, f"unknown orderNo {order_no}")
        result = {
            "orderNo": order_no,
            "bizSeqNo": secrets.token_hex(8),
            "transactionTime": time.strftime("%Y%m%d%H%M%S"),
            "occurredTime": time.strftime("%Y%m%d%H%M%S", time.localtime(order["at"])),
        }
        if order["live"] is None:
            result.update(
                tencentCode="66660004", tencentMsg="no face scan for this order", similarity="", liveRate=""
            )
        elif order["reference"] is None:
            result.update(
                tencentCode="66660015",
                tencentMsg="name and ID number do not match a source photo",
                similarity="0",
                liveRate="99",
            )
        else:
            similarity = self.library.score(order["live"], order["reference"])
            result.update(
                tencentCode="0", tencentMsg="请求成功", similarity=f"{similarity:.1f}", liveRate="99"
            )
        return ok({"status": "SUCCESS", "traceNo": secrets.token_hex(8), "result": result})

    # -- control ---------------------------------------------------------------------
    async def state(self, _request: web.Request) -> web.Response:
        return _json(
            {
                "registrations": self.library.registrations,
                "people": sorted(self.library.people),
                "requests": self.requests,
                "fault": self.fault,
            }
        )

    async def set_fault(self, request: web.Request) -> web.Response:
        fault = await request.json()
        if fault.get("mode") not in FAULTS:
            return _json({"error": f"mode must be one of {', '.join(FAULTS)}"}, status=400)
        self.fault = fault
        log.info("fault set: %s", fault)
        return _json({"fault": self.fault})


def default_models_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "models"


def serve(
    host: str, port: int, token: str, journal: str | None, models: str | None, errcode: int = 9999
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s tencent-sim %(levelname)s %(message)s")
    library = Library(Path(models) if models else default_models_dir(), Path(journal) if journal else None)
    simulator = Simulator(library, token, errcode)
    log.info(
        "Tencent-style API simulator on http://%s:%d%s (%d people in the library)",
        host,
        port,
        PREFIX,
        len(library.people),
    )
    web.run_app(simulator.app(), host=host, port=port, print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="appliance.simulators.tencent", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7007)
    parser.add_argument("--token", default="sim-token", help="the Authorization value accepted")
    parser.add_argument("--journal", help="append accepted registrations here; reload them at start")
    parser.add_argument("--models", help="face models folder (default: the checkout's models/)")
    parser.add_argument("--errcode", type=int, default=9999, help="errcode of injected errors")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.token, args.journal, args.models, args.errcode)


if __name__ == "__main__":
    main()

"""A simulator of the remote silent-liveness API (seed 004, PROTOCOL.md §2.3).

    python -m appliance.simulators.liveness_api --port 7010 --app-id APP --authorization SECRET
    appliance simulate liveness-api --port 7010 --app-id APP --authorization SECRET

Serves ``POST /aipaas/live/v1/detection/silent`` and validates requests as
the seed documents them:

* headers: ``Content-Type: application/json``, ``X-APP-ID`` and
  ``Authorization`` required (wrong or missing credentials: HTTP 401 from the
  "gateway", as the seed's 网关认证 status codes); ``Device-Uuid`` optional;
* body: ``code`` must be 1019, ``data.taskId`` a string, ``data.algoTasks``
  a non-empty list whose ``algoTask`` is 1031 (``algoConfig.silentface.algoType``
  is not checked — the seed says a wrong one is not an error), ``data.imageList``
  a non-empty list of ``{"image": base64}`` → task_code 1031 otherwise;
  undecodable base64/images → 1028; images of different resolutions → 1004
  (the seed: resolutions must agree "否则会报错"); more than 8 images are
  accepted (the seed only recommends ≤ 8).

Success: ``code`` 1020 and ``data`` exactly like the seed's example, with
``results[0].score`` = the configured score (−1 = no live face).  Errors:
the seed gives no error example; the simulator answers HTTP 200 with
``code`` = the task code and ``data.task_code`` / ``data.msg`` (the client
reads ``task_code`` first, so either convention works).

Control (tests, technicians): ``POST /_sim/config`` JSON
``{"score": float, "error": code|null, "delay": seconds, "http_status": int|null,
"count": k|null}`` (``count`` limits an injected error/status to the next k
requests); ``GET /_sim/requests`` returns the last requests' headers (names
lower-cased, the Authorization masked) and summaries.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import logging
import time
from typing import Any

import cv2
import numpy as np
from aiohttp import web

from ..liveness.remote import ALGO_TASK, ERRORS, REQUEST_CODE, SUCCESS_CODE

log = logging.getLogger("liveness-api-sim")
PATH = "/aipaas/live/v1/detection/silent"


def _json(data, **kwargs) -> web.Response:
    """JSON answers as the seed's service sends them: UTF-8, Chinese unescaped."""
    return web.json_response(data, dumps=lambda o: json.dumps(o, ensure_ascii=False), **kwargs)


class TaskError(Exception):
    def __init__(self, task_code: int, msg: str):
        super().__init__(msg)
        self.task_code, self.msg = task_code, msg


class LivenessApiSimulator:
    def __init__(self, app_id: str, authorization: str, score: float = 0.98):
        self.app_id, self.authorization = app_id, authorization
        self.behaviour: dict[str, Any] = {
            "score": score,
            "error": None,
            "delay": 0.0,
            "http_status": None,
            "count": None,
        }
        self.requests: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post(PATH, self.detect)
        app.router.add_post("/_sim/config", self.configure)
        app.router.add_get("/_sim/requests", self.recorded)
        return app

    # -- control -------------------------------------------------------------
    async def configure(self, request: web.Request) -> web.Response:
        body = await request.json()
        unknown = set(body) - set(self.behaviour)
        if unknown:
            return _json({"error": f"unknown keys {sorted(unknown)}"}, status=400)
        self.behaviour.update(body)
        return _json(self.behaviour)

    async def recorded(self, _request: web.Request) -> web.Response:
        return _json(self.requests[-50:])

    def _injected(self, key: str) -> Any:
        value = self.behaviour.get(key)
        if value is None:
            return None
        count = self.behaviour.get("count")
        if count is not None:
            if count <= 0:
                return None
            self.behaviour["count"] = count - 1
        return value

    # -- the API -------------------------------------------------------------
    async def detect(self, request: web.Request) -> web.Response:
        headers = dict(request.headers)
        record = {
            "t": time.time(),
            "headers": {
                k.lower(): ("********" if k.lower() == "authorization" else v) for k, v in headers.items()
            },
        }  # names are case-insensitive
        self.requests.append(record)
        del self.requests[:-200]
        if self.behaviour["delay"]:
            await asyncio.sleep(float(self.behaviour["delay"]))
        status = self._injected("http_status")
        if status:
            return _json({"code": status, "msg": "injected HTTP failure"}, status=int(status))
        if (
            request.headers.get("X-APP-ID") != self.app_id
            or request.headers.get("Authorization") != self.authorization
        ):
            record["result"] = "auth"
            return _json({"code": 401, "msg": "gateway authentication failed"}, status=401)
        task_id = ""
        try:
            if request.content_type != "application/json":
                raise TaskError(1004, f"Content-Type must be application/json, got {request.content_type}")
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise TaskError(1004, "body is not JSON") from None
            task_id, images = validate(body)
            record.update(task_id=task_id, images=len(images), device_uuid=request.headers.get("Device-Uuid"))
            error = self._injected("error")
            if error is not None:
                raise TaskError(int(error), ERRORS.get(int(error), ("", "injected error"))[1])
        except TaskError as exc:
            record["result"] = exc.task_code
            return _json(
                {
                    "code": exc.task_code,
                    "data": {"task_id": task_id, "task_code": exc.task_code, "msg": exc.msg},
                }
            )
        width, height = images[0]
        score = float(self.behaviour["score"])
        record["result"] = score
        return _json(
            {
                "code": SUCCESS_CODE,
                "data": {
                    "task_id": task_id,
                    "frame_id": 0,
                    "src_width": width,
                    "src_height": height,
                    "frame_width": width,
                    "frame_height": height,
                    "frame_pts": 0,
                    "timestamp": int(time.time() * 1000),
                    "frame_image": "",
                    "algo_task": str(ALGO_TASK),
                    "results": [{"algo_type": str(ALGO_TASK), "score": score}],
                    "detect_objects": [],
                },
            }
        )


def validate(body: Any) -> tuple[str, list[tuple[int, int]]]:
    """Check a request body as the seed documents it; return (taskId, image sizes)."""
    if not isinstance(body, dict) or body.get("code") != REQUEST_CODE:
        raise TaskError(1031, f"code must be {REQUEST_CODE}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise TaskError(1031, "data must be an object")
    task_id = data.get("taskId")
    if not isinstance(task_id, str) or not task_id:
        raise TaskError(1031, "data.taskId must be a non-empty string")
    tasks = data.get("algoTasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
        raise TaskError(1031, "data.algoTasks must be a non-empty list of objects")
    if any(t.get("algoTask") != ALGO_TASK for t in tasks):
        raise TaskError(1031, f"data.algoTasks[].algoTask must be {ALGO_TASK}")
    image_list = data.get("imageList")
    if not isinstance(image_list, list) or not image_list:
        raise TaskError(1031, "data.imageList must be a non-empty list")
    sizes = []
    for index, item in enumerate(image_list):
        if not isinstance(item, dict) or not isinstance(item.get("image"), str) or not item["image"]:
            raise TaskError(1031, f"data.imageList[{index}].image must be a base64 string")
        try:
            raw = base64.b64decode(item["image"], validate=True)
        except (binascii.Error, ValueError):
            raise TaskError(1028, f"data.imageList[{index}].image is not base64") from None
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise TaskError(1028, f"data.imageList[{index}].image is not a decodable image")
        sizes.append((int(image.shape[1]), int(image.shape[0])))
    if len(set(sizes)) != 1:
        raise TaskError(1004, f"images must have the same resolution, got {sorted(set(sizes))}")
    return task_id, sizes


def serve(host: str, port: int, app_id: str, authorization: str, score: float = 0.98) -> None:
    simulator = LivenessApiSimulator(app_id, authorization, score)
    log.info("silent-liveness API simulator on http://%s:%d%s", host, port, PATH)
    web.run_app(simulator.app(), host=host, port=port, print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="appliance.simulators.liveness_api", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7010)
    parser.add_argument("--app-id", default="sim-app", help="the X-APP-ID accepted")
    parser.add_argument("--authorization", default="sim-secret", help="the Authorization value accepted")
    parser.add_argument("--score", type=float, default=0.98, help="score answered (−1: no live face)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.host, args.port, args.app_id, args.authorization, args.score)


if __name__ == "__main__":
    main()

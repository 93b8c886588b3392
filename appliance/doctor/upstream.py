"""The doctor's probes of the outside systems: SE box, Tencent-style API, liveness API.

Each probe makes one harmless request the way the sync worker would (the same
headers, the same first message) and measures how long the answer took.  A
disabled upstream is a WARN, not a FAIL: the kiosk works without it.  Tokens
are sent but never printed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from ..config import Settings
from .check import Check, row

TIMEOUT = 5.0
CREDENTIAL_WORDS = re.compile(r"author|token|auth|credential|鉴权|授权|认证|签名", re.IGNORECASE)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


async def _sebox(settings: Settings) -> tuple[str, str, str]:
    import aiohttp

    cfg = settings.sebox
    from ..sync.records import config_message  # the very message the sync worker sends

    hello = config_message(cfg.dialect, cfg.with_face_image, cfg.with_register_image, cfg.media_device_ids)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        async with session.ws_connect(cfg.url, heartbeat=None) as ws:
            await ws.send_str(json.dumps(hello))
            latency = _ms(t0)
            # The box pushes only when it recognises somebody: silence after the
            # configuration is the normal answer, so wait briefly and accept either.
            try:
                msg = await ws.receive(timeout=0.5)
                extra = " (a record arrived)" if msg.type.name == "TEXT" else ""
            except TimeoutError:
                extra = ""
    return "PASS", f"{cfg.url} accepted the configuration in {latency} ms{extra}", ""


def _sebox_plan(settings: Settings):
    """The probe, or why not: no URL, or a URL that is this kiosk's own event feed (names resolved here)."""
    from ..sync.sebox_target import self_feed_problem

    if not settings.sebox.url:
        return None, (
            "FAIL",
            "enabled but sebox.url is empty: no box feed is read",
            "appliance config set sebox.url ws://<box-ip>:5679",
        )
    problem = self_feed_problem(settings, resolve=True)
    if problem:
        return None, (
            "FAIL",
            problem,
            "appliance config set sebox.url ws://<box-ip>:5679 (the SE box, not this kiosk)",
        )
    return _sebox(settings), None


async def _http_probe(url: str, body: dict, headers: dict, what: str) -> tuple[str, str, str]:
    import aiohttp

    t0 = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        async with session.post(url, json=body, headers=headers) as response:
            text = await response.text()
            latency = _ms(t0)
    if response.status in (401, 403):
        return (
            "FAIL",
            f"{url} refused the credentials (HTTP {response.status}) in {latency} ms",
            f"set the right {what} with `appliance config set`",
        )
    try:
        answer = json.loads(text)
    except ValueError:
        return (
            "WARN",
            f"{url} answered HTTP {response.status} but not JSON in {latency} ms",
            "check the URL: it does not look like the API",
        )
    code = answer.get("errcode", answer.get("code")) if isinstance(answer, dict) else None
    message = _message(answer)
    if code not in (0, 1020, None) and CREDENTIAL_WORDS.search(message):
        # The seeds name no auth error code; the APIs say it in words (errmsg / msg).
        return (
            "FAIL",
            f"{url} refused the credentials (code {code}: {message[:80]}) in {latency} ms",
            f"set the right {what} with `appliance config set`",
        )
    return "PASS", f"{url} answered (HTTP {response.status}, code {code}) in {latency} ms", ""


def _message(answer) -> str:
    if not isinstance(answer, dict):
        return ""
    data = answer.get("data")
    data = data if isinstance(data, dict) else {}
    return " ".join(str(v) for v in (answer.get("errmsg"), answer.get("msg"), data.get("msg")) if v)


def _tencent(settings: Settings):
    cfg = settings.tencent
    if not cfg.token:
        return None, (
            "FAIL",
            "enabled but tencent.token is empty",
            "appliance config set tencent.token TOKEN",
        )
    url = cfg.base_url.rstrip("/") + "/faceLib/person/recong"
    # An empty query: the API answers with an errcode, which proves the
    # endpoint and the token without identifying anybody.
    return _http_probe(url, {}, {"Authorization": cfg.token}, "tencent.token"), None


def _liveness(settings: Settings):
    cfg = settings.liveness_api
    if not cfg.authorization:
        return None, (
            "FAIL",
            "enabled but liveness_api.authorization is empty",
            "appliance config set liveness_api.authorization TOKEN",
        )
    headers = {"Content-Type": "application/json", "X-APP-ID": cfg.app_id, "Authorization": cfg.authorization}
    if cfg.device_uuid:
        headers["Device-Uuid"] = cfg.device_uuid
    body = {
        "code": 1019,
        "data": {
            "taskId": "appliance-doctor",
            "imageList": [],
            "algoTasks": [{"algoTask": 1031, "algoConfig": {"silentface": {"algoType": 1031}}}],
        },
    }
    return _http_probe(cfg.url, body, headers, "liveness_api.authorization"), None


def probe_all(settings: Settings) -> list[Check]:
    """One check each for sebox, tencent and liveness_api."""
    rows = []
    plan = {
        "upstream.sebox": (settings.sebox.enabled, lambda: _sebox_plan(settings), "sebox"),
        "upstream.tencent": (settings.tencent.enabled, lambda: _tencent(settings), "tencent"),
        "upstream.liveness_api": (settings.liveness_api.enabled, lambda: _liveness(settings), "liveness_api"),
    }
    for name, (enabled, make, section) in plan.items():
        if not enabled:
            rows.append(
                row(
                    name,
                    "WARN",
                    "disabled",
                    f"appliance config set {section}.enabled true (if the site has one)",
                )
            )
            continue
        coroutine, early = make()
        if early:
            rows.append(row(name, *early))
            continue
        try:
            rows.append(row(name, *asyncio.run(asyncio.wait_for(coroutine, TIMEOUT + 1))))
        except Exception as exc:  # unreachable, refused, TLS, timeout: each a FAIL with its reason
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            rows.append(
                row(
                    name,
                    "FAIL",
                    f"unreachable: {reason}",
                    f"check the network and the URL (`appliance config get {section}`)",
                )
            )
    return rows

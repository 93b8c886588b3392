"""CORS on the HTTP port and the Origin check on WebSocket upgrades, against the real gateway.

Before this, a browser's preflight OPTIONS got 405 without Access-Control-* headers (the page could not
make its first call), and any web page could open the kiosk's WebSockets."""

import json
import urllib.error
import urllib.request

import pytest
import websocket
from harness import Appliance

ALLOWED, OTHER = "http://localhost:8080", "http://evil.example"


@pytest.fixture(scope="module")
def app():
    appliance = Appliance(workers="dialogue,gateway").wait_ready(60)
    yield appliance
    appliance.stop()


def call(app, path, method="GET", headers=None, body=None):
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    request = urllib.request.Request(app.url(path), method=method, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_preflight_is_answered_for_an_allowed_origin(app):
    status, headers, _ = call(
        app,
        "/handshake",
        "OPTIONS",
        {
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "content-type" in headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in headers["Vary"]


@pytest.mark.parametrize(
    "path, method, body, expected",
    [
        (
            "/handshake",
            "POST",
            {
                "user_id": "u1",
                "type": "handshake",
                "info": {},
                "input": {"type": "text", "text": "我要办身份证"},
            },
            200,
        ),
        ("/storage", "POST", {"user_id": "u1", "type": "storage", "hash": "nope"}, 400),  # an error reply
        ("/nowhere/at/all", "POST", {}, 404),
        ("/", "GET", None, 405),
        ("/health", "GET", None, 200),
        ("/kiosk/config.json", "GET", None, 200),
    ],
)
def test_every_reply_to_an_allowed_origin_carries_the_header(app, path, method, body, expected):
    headers = {"Origin": ALLOWED, "Content-Type": "application/json"}
    status, reply_headers, raw = call(app, path, method, headers, body)
    assert status == expected, raw[:300]
    assert reply_headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Retry-After" in reply_headers["Access-Control-Expose-Headers"]


def test_another_origin_is_refused_before_any_work(app):
    for method in ("OPTIONS", "POST"):
        status, headers, raw = call(
            app,
            "/handshake",
            method,
            {"Origin": OTHER, "Access-Control-Request-Method": "POST", "Content-Type": "text/plain"},
            {"user_id": "u2", "type": "handshake", "info": {}, "input": {"type": "text", "text": "身份证"}},
        )
        assert status == 403
        assert "Access-Control-Allow-Origin" not in headers
        assert json.loads(raw)["code"] == "forbidden_origin"


def test_clients_without_origin_are_unaffected(app):
    status, headers, _ = call(app, "/health")
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("port, path", [("tool", "/tts"), ("flow_socket", "/qna")])
def test_websocket_upgrades_check_the_origin(app, port, path):
    url = f"ws://127.0.0.1:{app.ports[port]}{path}"
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, origin=OTHER, timeout=10)
    assert refused.value.status_code == 403
    for origin in (ALLOWED, f"http://127.0.0.1:{app.ports['flow_http']}"):  # a page and the kiosk's own
        websocket.create_connection(url, origin=origin, timeout=10).close()
    websocket.create_connection(url, suppress_origin=True, timeout=10).close()  # not a browser


def test_the_page_is_served_with_security_headers(app):
    status, headers, raw = call(app, "/kiosk/")
    assert status == 200 and b'<script type="module" src="app.js">' in raw
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    for port in ("tool", "flow_socket"):
        assert f"ws://127.0.0.1:{app.ports[port]}" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert b"<script>" not in raw and b"onclick" not in raw and b"style=" not in raw  # nothing inline
    assert call(app, "/kiosk/../server.py")[0] == 404 and call(app, "/kiosk/%2e%2e%2fcors.py")[0] == 404

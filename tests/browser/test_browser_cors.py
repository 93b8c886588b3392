"""CORS both ways, in real Chromium: a page from an allowed second origin (http://localhost:<port>) can
call the kiosk (preflighted JSON POST, error replies readable, WebSockets); a page from another origin
(http://127.0.0.2:<port>) and a file:// page are refused by the browser and by the kiosk."""

import http.server
import threading

import browser
import pytest
from playwright.sync_api import sync_playwright

PAGE = b"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>front end</title></head></html>"

CALLS = """async ([api, ws]) => {
  const out = {};
  const post = (path, body) => fetch(api + path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  try {
    const r = await post("/handshake", {user_id: "cors-1", type: "handshake", info: {},
                                        input: {type: "text", text: "我要办护照"}});
    out.handshake = {status: r.status, body: await r.json()};
  } catch (e) { out.handshake = {refused: String(e)}; }
  try {
    const r = await post("/storage", {user_id: "cors-1", type: "storage", hash: "nope"});
    out.error = {status: r.status, body: await r.json()};
  } catch (e) { out.error = {refused: String(e)}; }
  out.socket = await new Promise((resolve) => {
    const s = new WebSocket(ws + "/tts");
    s.onopen = () => { resolve({open: true}); s.close(); };  // the upgrade is what the Origin rule decides
    s.onerror = () => resolve({refused: true});
    setTimeout(() => resolve({timeout: true}), 30000);
  });
  return out;
}"""


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture
def front_ends():
    """The same page served from two origins: localhost (allowed by default) and 127.0.0.2 (not)."""
    servers = [http.server.ThreadingHTTPServer((host, 0), Quiet) for host in ("127.0.0.1", "127.0.0.2")]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {
        "allowed": f"http://localhost:{servers[0].server_address[1]}/",
        "other": f"http://127.0.0.2:{servers[1].server_address[1]}/",
    }
    for server in servers:
        server.shutdown()
        server.server_close()


def test_cors_both_ways(kiosk, front_ends, tmp_path, shots):
    api = kiosk.url("").rstrip("/")
    ws = f"ws://127.0.0.1:{kiosk.ports['tool']}"
    local_file = tmp_path / "page.html"
    local_file.write_bytes(PAGE)
    with sync_playwright() as playwright:
        context = browser.launch(playwright)
        try:
            page = context.new_page()
            page.goto(front_ends["allowed"])
            allowed = page.evaluate(CALLS, [api, ws])
            page.goto(front_ends["other"])
            other = page.evaluate(CALLS, [api, ws])
            page.goto(local_file.as_uri())
            from_file = page.evaluate(CALLS, [api, ws])
        finally:
            context.close()
    assert allowed["handshake"]["status"] == 200 and allowed["handshake"]["body"]["classify"] == "护照"
    assert allowed["error"]["status"] == 400 and allowed["error"]["body"]["type"] == "error"  # readable
    assert allowed["socket"] == {"open": True}
    for refused in (other, from_file):
        assert "refused" in refused["handshake"] and "refused" in refused["error"], refused
        assert refused["socket"] == {"refused": True}, refused

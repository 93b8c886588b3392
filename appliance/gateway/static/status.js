// The technician view: /kiosk/status.json (the /health picture, the outbox, the latest events), refreshed live.
const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

function cell(tag, text, cls) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (cls) el.className = cls;
  return el;
}

function bytes(n) {
  return n ? `${(n / 2 ** 20).toFixed(0)} MB` : "—";
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return seconds < 60 ? `${seconds.toFixed(1)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function renderWorkers(health) {
  const rows = (health.workers || []).map((w) => {
    const tr = document.createElement("tr");
    tr.dataset.worker = w.name;
    const stale = w.heartbeat_age !== null && w.heartbeat_age > 5;
    tr.append(cell("td", w.name), cell("td", w.state, w.state === "ready" ? "ok" : "bad"), cell("td", w.pid ?? "—"),
      cell("td", age(w.uptime)), cell("td", age(w.heartbeat_age), stale ? "warn" : ""),
      cell("td", String(w.restarts), w.restarts ? "warn" : ""), cell("td", bytes(w.rss)),
      cell("td", String(w.inflight ?? 0)), cell("td", w.last_exit || "—"));
    return tr;
  });
  $("workers").tBodies[0].replaceChildren(...rows);
  $("supervisor").textContent = `supervisor pid ${health.pid ?? "—"}，运行 ${age(health.uptime)}，` +
    `窗口内重启 ${health.restarts_in_window ?? 0} 次${health.reason ? `；${health.reason}` : ""}`;
}

function keyValueRows(table, pairs) {
  table.tBodies[0].replaceChildren(...pairs.map(([k, v]) => {
    const tr = document.createElement("tr");
    tr.append(cell("th", k), cell("td", v));
    return tr;
  }));
}

function renderCamera(health) {
  const worker = (health.workers || []).find((w) => w.name === "camera");
  const face = (health.workers || []).find((w) => w.name === "face");
  if (!worker) {
    keyValueRows($("camera"), [["状态", "本机未启用摄像头进程（camera）"]]);
    return;
  }
  const s = worker.status || {};
  const recognition = (face && face.status && face.status.camera) || {};
  keyValueRows($("camera"), [["状态", s.state || "—"], ["来源", s.source || "—"], ["帧率", `${s.fps ?? 0} fps`],
    ["已采集帧", String(s.frames ?? 0)], ["设备", s.device_id || "—"], ["错误", s.error || "—"],
    ["识别事件", String(recognition.events ?? "—")]]);
}

function renderOutbox(outbox) {
  if (!outbox) {
    keyValueRows($("outbox"), [["状态", "本机未启用上传进程（sync）"]]);
    return;
  }
  if (outbox.error) {
    keyValueRows($("outbox"), [["状态", `读取失败：${outbox.error}`]]);
    return;
  }
  const counts = Object.entries(outbox.counts || {}).map(([k, v]) => [k, String(v)]);
  keyValueRows($("outbox"), counts.length ? counts : [["状态", "空"]]);
}

function renderEvents(events) {
  if (!events.length) {
    $("events").replaceChildren(cell("p", "自服务启动以来还没有识别事件。", "small-note"));
    return;
  }
  $("events").replaceChildren(...events.map((e) => {
    const box = cell("div", "", "event");
    if (e.thumbnail) {
      const img = document.createElement("img");
      img.src = e.thumbnail;
      img.alt = e.identity_id || "stranger";
      box.append(img);
    } else {
      box.append(cell("div", "无图像", "noimg"));
    }
    const when = e.timestamp_ms ? new Date(e.timestamp_ms).toLocaleTimeString("zh-CN") : "";
    const score = typeof e.score === "number" ? e.score.toFixed(1) : "—";
    box.append(cell("div", `${e.identity_id || "陌生人"}（${e.source}）`), cell("div", `${when} 分数 ${score}`));
    return box;
  }));
}

async function refresh() {
  try {
    const response = await fetch("status.json", { cache: "no-store" });
    const data = await response.json();
    const health = data.health || {};
    $("overall").textContent = health.healthy ? "正常 healthy" : "异常 unhealthy";
    $("overall").className = `badge ${health.healthy ? "ok" : "bad"}`;
    renderWorkers(health);
    renderCamera(health);
    renderOutbox(data.outbox);
    renderEvents(data.events || []);
    $("updated").textContent = `更新于 ${new Date().toLocaleTimeString("zh-CN")}，每 ${REFRESH_MS / 1000} 秒刷新`;
  } catch (exc) {
    $("overall").textContent = "无法连接";
    $("overall").className = "badge bad";
    $("updated").textContent = `读取失败：${exc.message}`;
  } finally {
    setTimeout(refresh, REFRESH_MS);
  }
}

refresh();

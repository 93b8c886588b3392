// The citizen's journey: face -> (enrolment) -> request -> questions -> storage and summary.
// Only the documented ports and messages of PROTOCOL.md are used.
import { asRefusal, flowRequest, loadConfig, ProtocolError, Socket, socketUrl } from "./protocol.js";
import { audio, Camera, dataUrl, recordUtterance, Speaker } from "./media.js";
import { faceHint, FIELD_LABELS, fieldValue, problemText } from "./messages.js";

const $ = (id) => document.getElementById(id);
const FRAME_INTERVAL_MS = 300; // a steady rate: at most one frame in flight, one every 0.3 s
const FRAME_REPLY_MS = 15000;
const QNA_REPLY_MS = 60000;
const ENROL_MAX_FRAMES = 100; // about 30 s of looking at the camera // a spoken answer is transcribed first
const NECESSARY_AND_BASIC = Object.keys(FIELD_LABELS).filter((k) => k !== "age");

const state = { config: null, userId: "", hash: "", guest: false, retry: null, run: 0 };
let camera;
let speaker;

function show(screen) {
  document.querySelectorAll(".screen").forEach((el) => { el.hidden = el.id !== `screen-${screen}`; });
  const step = { start: "", face: "face", request: "request", qna: "qna", summary: "summary" }[screen];
  document.querySelectorAll("#steps li").forEach((li) => li.classList.toggle("current", li.dataset.step === step));
  $("problem").hidden = true;
  document.body.dataset.screen = screen;
}

function notice(text, { speak = false } = {}) {
  $("notice").textContent = text;
  if (speak) speaker.say(text);
}

function problem(error, retry, what = "") {
  console.warn(error);
  const text = problemText(error, what);
  $("problem-text").textContent = text;
  $("problem").hidden = false;
  $("btn-retry").hidden = !retry;
  state.retry = retry;
  speaker.say(text);
}

function newUserId() {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `kiosk-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// -- 1. face ----------------------------------------------------------------------------------------
// Streams frames to /face_predict (or face_train) and hands each JSON reply to `onReply`, which returns
// a value to stop with, or undefined to go on.
async function streamFrames(socket, onReply) {
  for (;;) {
    const started = Date.now();
    socket.send(await camera.jpeg());
    const reply = await socket.nextJson(FRAME_REPLY_MS);
    const result = onReply(reply);
    if (result !== undefined) return result;
    await new Promise((r) => setTimeout(r, Math.max(0, FRAME_INTERVAL_MS - (Date.now() - started))));
  }
}

async function recognise() {
  show("face");
  $("face-choices").hidden = true;
  $("train-progress").hidden = true;
  notice("请看着屏幕，正在识别……");
  $("face-hint").textContent = "";
  let spokenHint = "";
  try {
    await camera.start();
    const socket = await new Socket(socketUrl(state.config.ports.tool, "/face_predict")).open();
    const outcome = await streamFrames(socket, (reply) => {
      if (reply.message === "success" || reply.message === "fail") return reply;
      const hint = faceHint(reply);
      $("face-hint").textContent = hint;
      if (reply.reason === "not_live" && spokenHint !== hint) speaker.say(hint); // said once, shown always
      spokenHint = reply.reason === "not_live" ? hint : spokenHint;
      return undefined;
    });
    socket.close();
    if (outcome.message === "success") {
      state.userId = outcome.user_id;
      state.guest = false;
      camera.stop();
      notice(`您好，欢迎回来！（${outcome.user_id}）`, { speak: true });
      $("who").textContent = `用户：${outcome.user_id}`;
      return request();
    }
    $("face-hint").textContent = "";
    notice("没有认出您。您可以录入人脸，或者以访客身份继续。", { speak: true });
    $("face-choices").hidden = false;
  } catch (exc) {
    camera.stop();
    problem(exc, recognise, "人脸识别");
  }
}

// -- 2. enrolment -------------------------------------------------------------------------------------
async function enrol() {
  show("face");
  $("face-choices").hidden = true;
  const required = state.config.train_samples || 3;
  const userId = newUserId();
  $("train-progress").hidden = false;
  $("train-meter").max = required;
  $("train-meter").value = 0;
  $("train-count").textContent = `已采集 0 / ${required} 张`;
  notice("正在录入人脸，请看着屏幕。", { speak: true });
  try {
    await camera.start();
    const socket = await new Socket(socketUrl(state.config.ports.flow_socket, "/face_train")).open();
    socket.send(JSON.stringify({ user_id: userId, hash: "", type: "face_train" }));
    let frames = 0;
    const outcome = await streamFrames(socket, (reply) => {
      if (reply.type === "error") throw new ProtocolError("error", reply.reason, reply);
      // this face belongs to somebody else: more frames will not change that
      if (reply.reason === "enrolled_as_other") throw new ProtocolError("error", reply.reason, reply);
      if (++frames > ENROL_MAX_FRAMES) throw new ProtocolError("timeout", "enrolment took too many frames");
      const samples = reply.samples ?? 0;
      $("train-meter").value = samples;
      $("train-count").textContent = `已采集 ${samples} / ${reply.required || required} 张`;
      if (reply.message === "success") return reply;
      $("face-hint").textContent = reply.reason ? faceHint(reply) : "很好，请保持……";
      return undefined;
    });
    socket.close();
    $("train-count").textContent = `已采集 ${outcome.required || required} / ${outcome.required || required} 张`;
    notice("人脸录入成功！下面再识别一次。", { speak: true });
    await new Promise((r) => setTimeout(r, 1200));
    return recognise();
  } catch (exc) {
    camera.stop();
    problem(exc, enrol, "人脸录入");
  }
}

// -- 3. request ---------------------------------------------------------------------------------------
function showRequest() {
  camera.stop();
  show("request");
  $("service").hidden = true;
  $("input-request").value = "";
  speaker.say("请说出您要办理的业务，或在下方输入。");
}

function request() {
  showRequest();
}

async function handshake(input) {
  const info = Object.fromEntries(NECESSARY_AND_BASIC.map((k) => [k, null])); // the back end's record: unknown
  notice(input.type === "audio" ? "正在听取您的需求……" : "正在查询……");
  try {
    const reply = await flowRequest("handshake", { user_id: state.userId, info, input });
    state.hash = reply.hash;
    if (reply.candidates && reply.candidates.length) {
      // not sure which service: `flow` is a short question; the citizen's reply is the next handshake
      $("service").hidden = true;
      $("input-request").value = "";
      notice(reply.flow, { speak: true });
      return;
    }
    $("classify").textContent = reply.classify;
    $("flow").replaceChildren(...String(reply.flow || "").split("\n").map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }));
    $("service").hidden = false;
    notice(`您要办理的是：${reply.classify}`);
    // the procedure is long: it is read on screen (and printed later); only the service is spoken
    speaker.say(`您要办理的是${reply.classify}。请看屏幕上的办理流程。`);
  } catch (exc) {
    problem(exc, () => handshake(input), "查询");
  }
}

async function speakRequest() {
  const button = $("btn-speak");
  try {
    const wav = await listen(button);
    if (!wav) return;
    await handshake({ type: "audio", media: await dataUrl(wav) });
  } catch (exc) {
    problem(exc, speakRequest, "语音");
  }
}

// Record one utterance with `button` showing the state; a second tap stops the recording.
async function listen(button) {
  if (button.recorder) {
    button.recorder.stop();
    return null;
  }
  speaker.hush();
  const label = button.textContent;
  button.classList.add("recording");
  button.textContent = "正在听，说完请稍停";
  notice("请说话……");
  button.recorder = recordUtterance();
  try {
    return await button.recorder.promise;
  } catch (exc) {
    if (exc.message === "no speech heard") throw new ProtocolError("error", "no speech heard");
    throw exc;
  } finally {
    button.recorder = null;
    button.classList.remove("recording");
    button.textContent = label;
  }
}

// -- 4. questions -------------------------------------------------------------------------------------
let qna = null;

function logLine(text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("qna-log").append(li);
  li.scrollIntoView({ block: "nearest" });
}

async function questions() {
  speaker.hush();
  show("qna");
  $("qna-log").replaceChildren();
  $("question").textContent = "";
  notice("请回答几个问题，可以说话，也可以输入。");
  const socket = new Socket(socketUrl(state.config.ports.flow_socket, "/qna"));
  qna = socket;
  try {
    await socket.open();
    socket.send(JSON.stringify({ user_id: state.userId, type: "qna", hash: state.hash }));
    state.answeredAt = Date.now(); // the first question is due at once
    for (;;) {
      const { data } = await nextFrame(socket);
      if (typeof data !== "string") { // speech.speak_questions: the question's own WAV
        speaker.play(data);
        continue;
      }
      const refusal = asRefusal(data);
      if (refusal && refusal.type === "busy") { // the answer was not taken: the citizen answers again
        notice(problemText(refusal));
        state.answeredAt = 0;
        setAnswering(true);
        continue;
      }
      if (refusal) throw new ProtocolError("error", refusal.reason, refusal);
      if (data === "") break; // the seed's end of questions
      ask(data, socket);
    }
    socket.close();
    qna = null;
    return store();
  } catch (exc) {
    qna = null;
    socket.close();
    problem(exc, questions, "回答问题");
  }
}

// The next frame; the citizen may think as long as they like, but an answer sent must be answered in time.
async function nextFrame(socket) {
  for (;;) {
    try {
      return await socket.next(1000);
    } catch (exc) {
      if (exc.kind !== "timeout") throw exc;
      if (state.answeredAt && Date.now() - state.answeredAt > QNA_REPLY_MS) {
        throw new ProtocolError("timeout", "no reply to the answer");
      }
    }
  }
}

function ask(text, socket) {
  state.answeredAt = 0;
  $("question").textContent = text;
  logLine(text, "log-q");
  $("input-answer").value = "";
  $("input-answer").focus();
  setAnswering(true);
  // spoken unless the server sends the question's audio itself right after (speech.speak_questions)
  setTimeout(() => { if (!socket.queue.some((m) => m && typeof m.data !== "string")) speaker.say(text); }, 400);
}

function setAnswering(enabled) {
  $("btn-answer-voice").disabled = !enabled;
  $("form-answer").querySelector("button").disabled = !enabled;
}

function answer(textOrWav) {
  if (!qna) return;
  setAnswering(false);
  state.answeredAt = Date.now();
  logLine(typeof textOrWav === "string" ? textOrWav : "（语音）", "log-a");
  notice(typeof textOrWav === "string" ? "好的……" : "正在听取您的回答……");
  qna.send(textOrWav);
}

async function speakAnswer() {
  try {
    const wav = await listen($("btn-answer-voice"));
    if (wav) answer(wav);
  } catch (exc) {
    notice(problemText(exc, "语音"));
  }
}

// -- 5. storage and summary -------------------------------------------------------------------------------
async function store() {
  show("summary");
  notice("正在保存您的信息……");
  $("tables").replaceChildren();
  try {
    const body = { user_id: state.userId, hash: state.hash };
    await flowRequest("storage", body);
    const summary = await flowRequest("summary", body);
    renderSummary(summary.output || {});
    notice("办理完成，请查看结果。", { speak: true });
  } catch (exc) {
    problem(exc, store, "保存");
  }
}

function renderSummary(output) {
  $("summary-classify").textContent = output.classify || "";
  const tables = output.tables || [];
  $("tables").replaceChildren(...tables.map((row, i) => (i === 0 ? recordTable(row) : null))
    .filter(Boolean), ...documentTables(tables.slice(1)));
  $("summary-flow").replaceChildren(...String(output.flow || "").split("\n").map((line) => {
    const p = document.createElement("p");
    p.textContent = line;
    return p;
  }));
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

// The citizen's record: one row per field (项目 | 内容).
function recordTable(record) {
  const table = document.createElement("table");
  table.id = "record-table";
  table.append(cell("caption", "个人信息"));
  const head = table.createTHead().insertRow();
  head.append(cell("th", "项目"), cell("th", "内容"));
  const body = table.createTBody();
  for (const [key, value] of Object.entries(record)) {
    if (value === null || value === "") continue; // not known: nothing to check on paper
    const row = body.insertRow();
    row.append(cell("th", FIELD_LABELS[key] || key), cell("td", fieldValue(key, value)));
  }
  return table;
}

// Further tables are flat objects of the same shape (e.g. documents to bring): one table, one row each.
function documentTables(rows) {
  if (!rows.length) return [];
  const table = document.createElement("table");
  table.id = "documents-table";
  table.append(cell("caption", "需要携带的材料"));
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const head = table.createTHead().insertRow();
  columns.forEach((c) => head.append(cell("th", FIELD_LABELS[c] || c)));
  const body = table.createTBody();
  rows.forEach((row) => {
    const tr = body.insertRow();
    columns.forEach((c) => tr.append(cell("td", fieldValue(c, row[c]))));
  });
  return [table];
}

// -- wiring ---------------------------------------------------------------------------------------------
function restart() {
  speaker.hush();
  camera.stop();
  if (qna) qna.close();
  Object.assign(state, { userId: "", hash: "", guest: false, retry: null });
  $("who").textContent = "";
  show("start");
  notice("您好！请点击“开始办理”。");
}

function wire() {
  $("btn-start").addEventListener("click", () => { audio(); recognise(); });
  $("btn-enrol").addEventListener("click", enrol);
  $("btn-face-again").addEventListener("click", recognise);
  $("btn-guest").addEventListener("click", () => {
    state.userId = newUserId();
    state.guest = true;
    $("who").textContent = `访客：${state.userId}`;
    request();
  });
  $("btn-speak").addEventListener("click", speakRequest);
  $("form-request").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input-request").value.trim();
    if (text) handshake({ type: "text", text });
  });
  $("btn-to-qna").addEventListener("click", questions);
  $("btn-answer-voice").addEventListener("click", speakAnswer);
  $("form-answer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("input-answer").value.trim();
    if (text) answer(text);
  });
  $("btn-print").addEventListener("click", () => window.print());
  $("btn-finish").addEventListener("click", restart);
  $("btn-retry").addEventListener("click", () => { const retry = state.retry; $("problem").hidden = true; retry?.(); });
  $("btn-restart").addEventListener("click", restart);
}

async function main() {
  camera = new Camera($("preview"));
  try {
    state.config = await loadConfig();
  } catch (exc) {
    $("notice").textContent = "无法连接本机服务，请联系工作人员。";
    return;
  }
  speaker = new Speaker(state.config.ports.tool);
  wire();
  restart();
}

main();

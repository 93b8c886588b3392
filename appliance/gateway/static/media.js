// Camera frames as JPEG, the microphone as 16 kHz mono WAV, and playback of the appliance's speech.
import { ProtocolError, Socket, socketUrl } from "./protocol.js";

export class Camera {
  constructor(video) {
    this.video = video;
    this.stream = null;
    this.canvas = document.createElement("canvas");
  }

  async start() {
    if (this.stream) return;
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
    });
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    const started = Date.now(); // the first frame can take a moment to arrive
    while (this.video.videoWidth === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 50));
    if (this.video.videoWidth === 0) throw new ProtocolError("timeout", "the camera delivers no picture");
  }

  // The current picture as JPEG bytes (the server decodes JPEG or PNG).
  async jpeg(quality = 0.85) {
    const { videoWidth: w, videoHeight: h } = this.video;
    this.canvas.width = w;
    this.canvas.height = h;
    this.canvas.getContext("2d").drawImage(this.video, 0, 0, w, h);
    const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/jpeg", quality));
    return blob.arrayBuffer();
  }

  // The camera is released as soon as the face steps are over (the citizen sees the light go off).
  stop() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    this.stream = null;
    this.video.srcObject = null;
  }
}

let audioContext = null;

// One AudioContext for the page, created on the citizen's first tap (browsers start audio only after a gesture).
export function audio() {
  if (!audioContext) audioContext = new AudioContext();
  if (audioContext.state === "suspended") audioContext.resume();
  return audioContext;
}

const TARGET_RATE = 16000;

// Record one utterance: wait for a short quiet, then for speech, stop after a pause (or on `stop()`).
// Resolves with the WAV bytes (16 kHz, 16-bit, mono). The microphone is opened for this utterance only.
export function recordUtterance({ maxWaitMs = 8000, maxSpeechMs = 12000, pauseMs = 800, onLevel } = {}) {
  let stopRequested = false;
  const promise = (async () => {
    const ctx = audio();
    await ctx.audioWorklet.addModule("recorder-worklet.js");
    const stream = await navigator.mediaDevices.getUserMedia({
      // raw audio: the page never records while it speaks (the speaker is hushed first), and Whisper
      // does better on the unprocessed signal than on a canceller's residue
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "recorder");
    source.connect(node);
    const rate = ctx.sampleRate;
    const chunks = [];
    const preroll = [];
    let phase = "settle"; // settle (quiet first) -> wait (for speech) -> speech -> done
    let quietMs = 0;
    let phaseMs = 0;
    let speechMs = 0;
    let lastLoud = 0; // chunks up to the last loud one (+250 ms) are sent: trailing quiet invites hallucinations
    try {
      await new Promise((resolve, reject) => {
        node.port.onmessage = ({ data }) => {
          const ms = (data.length / rate) * 1000;
          const level = Math.sqrt(data.reduce((sum, v) => sum + v * v, 0) / data.length);
          if (onLevel) onLevel(level);
          const loud = level > 0.015;
          phaseMs += ms;
          if (phase === "speech") {
            chunks.push(data);
            speechMs += ms;
            quietMs = loud ? 0 : quietMs + ms;
            if (loud) lastLoud = chunks.length;
            if (quietMs >= pauseMs || speechMs >= maxSpeechMs || stopRequested) resolve();
            return;
          }
          preroll.push(data);
          while (preroll.length * data.length > rate * 0.3) preroll.shift(); // 300 ms before the onset
          quietMs = loud ? 0 : quietMs + ms;
          if (phase === "settle" && (quietMs >= 250 || phaseMs > 3000)) [phase, phaseMs] = ["wait", 0];
          else if (phase === "wait" && loud) {
            phase = "speech";
            chunks.push(...preroll);
            lastLoud = chunks.length;
            quietMs = 0;
          } else if (phase === "wait" && (phaseMs > maxWaitMs || stopRequested)) {
            reject(new ProtocolError("timeout", "no speech heard"));
          }
        };
      });
    } finally {
      node.port.onmessage = null;
      source.disconnect();
      node.disconnect();
      stream.getTracks().forEach((track) => track.stop());
    }
    const keep = lastLoud + Math.ceil((0.25 * rate) / (chunks[0] ? chunks[0].length : 128));
    return wav(await resample(chunks.slice(0, keep), rate), TARGET_RATE);
  })();
  return { promise, stop: () => { stopRequested = true; } };
}

async function resample(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const joined = new Float32Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  if (rate === TARGET_RATE) return joined;
  const offline = new OfflineAudioContext(1, Math.ceil((length * TARGET_RATE) / rate), TARGET_RATE);
  const buffer = offline.createBuffer(1, length, rate);
  buffer.copyToChannel(joined, 0);
  const node = offline.createBufferSource();
  node.buffer = buffer;
  node.connect(offline.destination);
  node.start();
  return (await offline.startRendering()).getChannelData(0);
}

// RIFF/WAVE, PCM 16-bit mono.
export function wav(samples, rate) {
  const bytes = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(bytes);
  const text = (at, s) => [...s].forEach((ch, i) => view.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((v, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, v)) * 0x7fff, true));
  return bytes;
}

// What FileReader.readAsDataURL gives: data:audio/wav;base64,... (the audio handshake accepts it as `media`).
export function dataUrl(bytes, type = "audio/wav") {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(new Blob([bytes], { type }));
  });
}

// The appliance's voice: /tts on the tool port, one utterance at a time; `say` resolves when it has been heard.
export class Speaker {
  constructor(toolPort) {
    this.toolPort = toolPort;
    this.socket = null;
    this.chain = Promise.resolve();
    this.current = null;
    this.generation = 0;
  }

  say(text) {
    const generation = this.generation;
    this.chain = this.chain.then(async () => {
      if (generation !== this.generation || !text) return;
      try {
        await this.play(await this.synthesise(text), generation);
      } catch (exc) {
        console.warn("could not speak:", exc.message); // the text is on screen anyway
      }
    });
    return this.chain;
  }

  async synthesise(text) {
    if (!this.socket || this.socket.closed) {
      this.socket = new Socket(socketUrl(this.toolPort, "/tts"));
      await this.socket.open();
    }
    this.socket.send(text);
    const { data } = await this.socket.next(30000);
    if (typeof data === "string") throw new ProtocolError("error", data);
    return data;
  }

  // Play WAV bytes (also the binary frames qna sends when speech.speak_questions is on).
  async play(bytes, generation = this.generation) {
    if (generation !== this.generation) return;
    const ctx = audio();
    const buffer = await ctx.decodeAudioData(bytes.slice(0));
    if (generation !== this.generation) return;
    await new Promise((resolve) => {
      const node = ctx.createBufferSource();
      node.buffer = buffer;
      node.connect(ctx.destination);
      node.onended = resolve;
      this.current = node;
      node.start();
      setTimeout(resolve, buffer.duration * 1000 + 500); // a suspended context must not hang the page
    });
    this.current = null;
  }

  // Silence at once (a new step, a new citizen).
  hush() {
    this.generation += 1;
    if (this.current) {
      try { this.current.stop(); } catch { /* already ended */ }
    }
    this.chain = Promise.resolve();
  }
}

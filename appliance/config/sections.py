"""The settings' sections: one frozen dataclass per TOML table, a docstring per key.

Validation metadata rides on each field (`_opt(default, min=, max=, choices=,
ip=, cidr=, secret=)`); appliance.config applies it when it loads a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..workers import REGISTRY

KNOWN_WORKERS = tuple(REGISTRY)
"""The workers.REGISTRY names, in its order (the default start order)."""
DEFAULT_WORKERS = KNOWN_WORKERS
DEFAULT_SPARES = ("speech", "face", "liveness", "dialogue", "gateway")
"""The workers a citizen's flow waits on, in the order their spares load (one at a time, the slowest cold
start first); camera and sync load nothing slow and restart cold."""


def _opt(default: Any, **meta: Any) -> Any:
    """A field with validation metadata (min, max, choices, secret)."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class PortsSettings:
    bind: str = _opt("127.0.0.1", ip=True)
    """Address the three ports listen on. The front and back end run on the kiosk."""
    allow_remote: bool = False
    """Must be true to bind anything but a loopback address (a deliberate act)."""
    allow_clients: tuple[str, ...] = _opt((), cidr=True)
    """Client addresses allowed (CIDRs, e.g. 10.1.2.0/24); empty: everyone who can reach the port."""
    allow_origins: tuple[str, ...] = _opt(("self", "http://127.0.0.1:*", "http://localhost:*"), origins=True)
    """Web pages allowed to use the kiosk from a browser (CORS on flow_http, Origin on WebSocket upgrades):
    scheme://host[:port|:*], `self` (the appliance's own /kiosk/ page), `null` (file:// pages; sandboxed
    iframes of any site too), `*` (any: the doctor warns). Clients that send no Origin are not browsers."""
    tool: int = _opt(3304, min=0, max=65535)
    """WebSocket tool port: /face_predict, /stt, /tts (0 = pick a free port)."""
    flow_socket: int = _opt(444, min=0, max=65535)
    """WebSocket flow port: face_train, qna. Below 1024: needs CAP_NET_BIND_SERVICE."""
    flow_http: int = _opt(10925, min=0, max=65535)
    """HTTP flow port: handshake, storage, summary; GET /health."""
    event_feed: int = _opt(5679, min=0, max=65535)
    """WebSocket feed of the kiosk's own recognition events in the SE box's protocol (seed 001)."""
    metrics: int = _opt(9925, min=0, max=65535)
    """Prometheus metrics, GET /metrics (README "Running a fleet"); behind allow_clients like the others."""
    metrics_bind: str = _opt("127.0.0.1", ip=True)
    """Address of the metrics port alone: a fleet scrapes the kiosk's VPN address while the citizens'
    ports stay on loopback. Not loopback: needs allow_remote, and set allow_clients to the Prometheus."""


@dataclass(frozen=True)
class PathsSettings:
    data_dir: str = "var/data"
    """Database and images. Relative paths resolve against the base directory."""
    runtime_dir: str = ""
    """Bus sockets. Empty: $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR/kiosk-appliance, else /tmp."""
    models_dir: str = "models"
    """Model files fetched at set-up (``appliance models fetch``)."""
    services: str = "firmware-config/services.toml"
    """The government-service catalogue."""


@dataclass(frozen=True)
class DatabaseSettings:
    key_file: str = ""
    """Encrypt the database at rest (SQLCipher): a key file of mode 0600, or credential:NAME for a systemd
    credential. Empty: not encrypted. Rotate with `appliance db rekey`."""


@dataclass(frozen=True)
class SupervisorSettings:
    workers: tuple[str, ...] = _opt(DEFAULT_WORKERS, choices=KNOWN_WORKERS)
    """Workers to run, in start order (stopped in reverse)."""
    heartbeat_interval: float = _opt(1.0, min=0.05, max=30)
    """Seconds between a worker's heartbeats."""
    heartbeat_timeout: float = _opt(10.0, min=0.5, max=600)
    """A worker silent this long is stuck: it is killed and restarted."""
    stuck_timeout: float = _opt(120.0, min=1, max=3600)
    """A single request running this long marks its worker stuck."""
    ready_timeout: float = _opt(180.0, min=1, max=3600)
    """Seconds a worker may take to load its models and report ready."""
    stop_timeout: float = _opt(5.0, min=0.1, max=120)
    """Seconds a worker gets after SIGTERM before SIGKILL."""
    restart_budget: int = _opt(5, min=1, max=1000)
    """Restarts allowed within restart_window; one more and the service exits non-zero."""
    restart_window: float = _opt(60.0, min=1, max=86400)
    """The window of the restart budget, in seconds."""
    backoff_max: float = _opt(10.0, min=0, max=600)
    """Longest wait before restarting a worker that keeps dying."""
    healthy_after: float = _opt(5.0, min=0.5, max=3600)
    """A worker serving this long (ready, heartbeats fresh) is healthy: its next death restarts at once
    (the backoff starts over). Shorter lives double the wait, up to backoff_max: a crash loop."""
    spares: tuple[str, ...] = _opt(DEFAULT_SPARES, choices=KNOWN_WORKERS)
    """Workers kept with a warm spare: a second process that has loaded the models and takes over at once
    when the worker dies (kill → serving well under a second instead of a model load). Spares load one at
    a time, in this order. Each costs about the worker's memory (speech the most: appliance bench,
    rss_spare_*); a spare of a worker not in `workers` is not started."""


@dataclass(frozen=True)
class LimitsSettings:
    max_image_bytes: int = _opt(8_000_000, min=1024)
    """Largest image frame answered with a reason; larger ones are refused undecoded."""
    max_audio_bytes: int = _opt(16_000_000, min=1024)
    """Largest audio frame accepted on /stt and qna."""
    max_text_bytes: int = _opt(65_536, min=16)
    """Largest text frame (tts text, qna answers, socket handshakes)."""
    max_http_body: int = _opt(24_000_000, min=1024)
    """Largest HTTP request body (an audio handshake carries base64 audio)."""
    bus_timeout: float = _opt(15.0, min=0.1, max=600)
    """Seconds the gateway waits for a worker's answer before giving up."""
    max_inflight: int = _opt(64, min=1, max=100_000)
    """Requests a worker may hold at once; beyond that callers get `busy`."""
    feed_queue_bytes: int = _opt(4_000_000, min=16_384)
    """Event feed (5679): bytes of records one client may fall behind by; beyond that it is dropped."""
    feed_send_timeout: float = _opt(10.0, min=0.1, max=600)
    """Event feed: seconds one client's socket may accept nothing before that client is dropped."""


@dataclass(frozen=True)
class DialogueSettings:
    session_ttl: float = _opt(1800.0, min=10)
    """Seconds a flow session (its hash) stays valid after its last use."""
    max_tries: int = _opt(3, min=1, max=20)
    """Times a question is asked again before the field is skipped."""
    retention_days: float = _opt(30.0, min=0.01, max=3650)
    """Expired sessions and recognition events older than this are purged (citizens' records stay)."""


@dataclass(frozen=True)
class FaceSettings:
    predict_max_frames: int = _opt(20, min=1, max=10_000)
    """Frames a /face_predict connection may send without success before `fail`."""
    train_samples: int = _opt(3, min=1, max=20)
    """Good samples of one face that face_train collects before `success`."""
    match_threshold: float = _opt(0.50, min=0.0, max=1.0)
    """Cosine at or above which a face matches (docs/face-calibration.md: FAR ≤ 1e-3).
    Shown as 70 on 0–100."""
    match_margin: float = _opt(0.05, min=0.0, max=1.0)
    """The best identity must lead the second-best by this much (open-set safety)."""
    allow_duplicate_enrolment: bool = False
    """Allow face_train of a face already enrolled under another user_id (it is reported either way)."""


@dataclass(frozen=True)
class CameraSettings:
    source: str = "auto"
    """auto | none | picamera2 | v4l2:/dev/videoN | rtsp://… | file:PATH | stills:DIR."""
    width: int = _opt(640, min=64, max=7680)
    """Frame width published on the bus (frames are letterboxed to it)."""
    height: int = _opt(480, min=64, max=4320)
    """Frame height published on the bus."""
    fps: float = _opt(10.0, min=0.1, max=120)
    """Frames per second captured (files and stills are paced to it)."""
    rotate: int = _opt(0, choices=(0, 90, 180, 270))
    """Clockwise rotation applied to every frame (a camera mounted sideways)."""
    mirror: bool = False
    """Flip frames left-right."""
    loop: bool = True
    """file: and stills: sources start over at the end."""
    device_id: str = ""
    """The camera's UUID in the event feed (empty: derived from /etc/machine-id, stable per kiosk)."""
    device_ip: str = "127.0.0.1"
    """media_device_ip reported in the event feed."""
    recognise_fps: float = _opt(2.0, min=0.1, max=30)
    """Frames per second the face worker examines while someone is in front of the kiosk."""
    min_face_px: int = _opt(80, min=20, max=2000)
    """Faces smaller than this (eye-to-mouth box side) are passers-by: not recognised."""
    visit_gap: float = _opt(10.0, min=0.5, max=3600)
    """Seconds without seeing a person that end their visit (one event per visit)."""


@dataclass(frozen=True)
class SpeechSettings:
    stt_backend: str = _opt("faster-whisper", choices=("faster-whisper", "whispercpp"))
    """faster-whisper (Whisper base, shipped) or whispercpp (a ggml file a technician installs)."""
    ggml_model: str = ""
    """For whispercpp: the ggml file's name inside paths.models_dir."""
    stt_model: str = _opt("base", choices=("base", "tiny.en"))
    """faster-whisper model: base (multilingual, Mandarin) or tiny.en (English only, small and fast)."""
    stt_context_pad_s: float = _opt(0.0, min=0, max=30)
    """Seconds of Whisper's 30 s window encoded beyond the voiced audio (0 = the whole window).
    Less is faster; too little garbles short requests (docs/bench.md, the STT table)."""
    language: str = _opt("zh", choices=("zh", "en", "auto"))
    """Language spoken to the kiosk (auto = detect per utterance)."""
    max_seconds: float = _opt(60.0, min=1, max=600)
    """Longest utterance accepted; longer audio is refused from its header."""
    voice: str = _opt(
        "jf_gongitsune", choices=("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
    )
    """Kokoro voice style for Chinese speech."""
    english_voice: bool = True
    """Load piper's English voice for English text (else espeak-ng)."""
    max_tts_chars: int = _opt(2000, min=10, max=100_000)
    """Longest text /tts accepts."""
    first_audio_ms: int = _opt(700, min=0, max=10_000)
    """Uncached text streamed (/tts?stream=1): the first piece is cut at a word to what Kokoro is
    predicted to say in this time (0 = the first clause whole)."""
    speak_questions: bool = False
    """qna: after each question's text frame, also send it as a binary WAV frame."""
    tts_cache_mb: int = _opt(128, min=0, max=4096)
    """Disk bound of the synthesised fixed prompts (data dir, tts-cache); 0 turns the cache off."""


@dataclass(frozen=True)
class SeboxSettings:
    enabled: bool = False
    """Connect to the SE-series AI box's recognition feed."""
    url: str = ""
    """The box's WebSocket, ws://<box-ip>:5679 (seed 001). No default: ws://127.0.0.1:5679 would be this
    kiosk's own event feed, which the settings refuse (appliance/sync/sebox_target.py)."""
    dialect: str = _opt("seed", choices=("seed", "sophon"))
    """Configuration dialect: seed (with_face_image…) or sophon (need_face…)."""
    with_face_image: bool = False
    """Ask the box for the live face crop with each record."""
    with_register_image: bool = False
    """Ask the box for the enrolled photo with each record."""
    media_device_ids: tuple[str, ...] = ()
    """Cameras whose events the box should push (empty: all)."""
    keep_images: bool = False
    """Store the live face crop of each record in the database (else images are dropped)."""
    ping_interval: float = _opt(10.0, min=0.5, max=600)
    """Seconds between WebSocket pings; a box silent to two pings is reconnected."""
    backoff_max: float = _opt(30.0, min=0.1, max=3600)
    """Longest wait between reconnection attempts (exponential, with jitter)."""


@dataclass(frozen=True)
class TencentSettings:
    enabled: bool = False
    """Register enrolments upstream and allow the optional remote checks."""
    base_url: str = "http://127.0.0.1:7007/tech/ai/face/"
    """Base of faceLib/person/reg, faceLib/person/recong, faceAdv, faceAdvResult."""
    token: str = _opt("", secret=True)
    """Sent as the Authorization header. Never logged or shown."""
    timeout: float = _opt(10.0, min=0.5, max=300)
    """Seconds a request may take before it counts as failed (and is retried)."""
    person_type: str = _opt("normal", choices=("normal", "vip", "inner"))
    """personType sent with faceLib/person/reg."""
    recong_fallback: bool = False
    """Offer remote faceLib/person/recong (op `recong`) when the local gallery has no match."""
    recong_threshold: float = _opt(85.0, min=0, max=100)
    """Remote 1:N score accepted as a match (1:N needs more than 1:1:
    80 ≈ 0.1 % false accepts at 10k faces)."""
    verify_before_storage: bool = False
    """Ask faceAdv (authmatch: name + ID number) to confirm a citizen before storage."""
    verify_threshold: float = _opt(70.0, min=0, max=100)
    """faceAdvResult similarity accepted as the same person (1:1: 70 ≈ 1/1000, 80 ≈ 1/10000 false accepts)."""
    verify_live_threshold: float = _opt(60.0, min=0, max=100)
    """faceAdvResult liveRate (when given) below which the face is not taken as live: the check fails."""


@dataclass(frozen=True)
class SyncSettings:
    backoff_base: float = _opt(2.0, min=0.01, max=3600)
    """Seconds before the first retry of an outbox item; doubles per attempt (with jitter)."""
    backoff_max: float = _opt(300.0, min=0.1, max=86400)
    """Longest wait between two attempts of one outbox item."""
    max_failures: int = _opt(5, min=1, max=1000)
    """Refusals (errcode ≠ 0) before an item is dead-lettered; network failures retry for ever."""
    reconcile_interval: float = _opt(60.0, min=1, max=86400)
    """Seconds between scans for face templates that have no registration queued."""
    record_wait: float = _opt(10.0, min=0.1, max=86400)
    """Seconds between checks for the name and ID number of a registration that waits for storage."""


@dataclass(frozen=True)
class LivenessApiSettings:
    enabled: bool = False
    """Ask the remote silent-liveness API for a second opinion."""
    url: str = "https://127.0.0.1/aipaas/live/v1/detection/silent"
    """The API's full URL (seed 004)."""
    app_id: str = ""
    """Sent as X-APP-ID."""
    authorization: str = _opt("", secret=True)
    """Sent as Authorization. Never logged or shown."""
    device_uuid: str = ""
    """Sent as Device-Uuid when set."""
    timeout: float = _opt(3.0, min=0.1, max=60)
    """Seconds to wait for the API's answer; then the policy's liveness.remote_on_unreachable applies."""
    verify_tls: bool = True
    """Check the API's HTTPS certificate (false only for a test installation with a self-signed one)."""


@dataclass(frozen=True)
class LivenessSettings:
    required: tuple[str, ...] = _opt(("motion",), choices=("motion", "moire", "model", "remote"))
    """Checks that must say "live": motion (3-D head parallax), moire, model (ONNX), remote (the API)."""
    vetoes: tuple[str, ...] = _opt(
        ("moire", "model", "remote"), choices=("motion", "moire", "model", "remote")
    )
    """Checks that reject a presentation when they say "attack" (model/remote only when installed/enabled)."""
    parallax_threshold: float = _opt(0.03, min=0.0, max=1.0)
    """Face motion a homography cannot explain (eye distances) at or above which the face is 3-D
    (docs/liveness.md)."""
    parallax_ratio: float = _opt(1.0, min=0.0, max=100.0)
    """…and the parallax must be at least this multiple of the head turn (a plane's is far less)."""
    turn_min: float = _opt(0.025, min=0.0, max=1.0)
    """Head turn (non-similarity motion, eye distances) needed before the parallax is judged."""
    moire_threshold: float = _opt(3.5, min=1.0, max=100.0)
    """Median whitened spectral peak of the face at or above which it is on a screen."""
    model_file: str = ""
    """A MiniFASNet-style ONNX model inside paths.models_dir (none ships; a technician installs one)."""
    model_crop_scale: float = _opt(2.7, min=1.0, max=6.0)
    """The model's crop: face box times this (2.7 MiniFASNetV2, 4.0 MiniFASNetV1SE)."""
    model_input_scale: float = _opt(1.0, min=0.0, max=1.0)
    """Multiplies the 0..255 BGR pixels before the model (1.0 for MiniFASNet, 1/255 for models trained so)."""
    model_threshold: float = _opt(0.5, min=0.0, max=1.0)
    """Mean 'real' probability of the model below which it rejects."""
    remote_threshold: float = _opt(0.5, min=0.0, max=1.0)
    """Remote API score below which it rejects (−1, no live face, always rejects)."""
    remote_on_unreachable: str = _opt("local", choices=("local", "reject"))
    """When the API fails: local = decide without it (never block the kiosk); reject = not live."""
    remote_images: int = _opt(2, min=1, max=8)
    """Frames sent to the API in one request (the seed recommends at most 8)."""
    min_frames: int = _opt(3, min=2, max=100)
    """No verdict before this many frames of one presentation."""
    max_frames: int = _opt(12, min=2, max=1000)
    """A presentation that has not proven life after this many frames is rejected."""
    history: int = _opt(6, min=2, max=32)
    """Earlier frames each new frame is compared with."""
    blink: bool = True
    """A blink proves life like a head turn (needs the face mesh: appliance models fetch --only liveness)."""
    blink_depth: float = _opt(0.18, min=0.01, max=1.0)
    """Share by which eye openness must fall between two open frames to count as a blink."""
    blink_max_seconds: float = _opt(0.7, min=0.1, max=60.0)
    """Longest close-and-reopen counted as a blink (open frame to open frame)."""
    blink_still: float = _opt(0.1, min=0.0, max=2.0)
    """The face (its tracked texture) may move at most this many eye distances during a blink."""
    track_min: float = _opt(0.9, min=0.0, max=1.0)
    """Share of the face's corners (eyes left out) that must track between frames; less is a cut."""
    identity_min: float = _opt(0.85, min=-1.0, max=1.0)
    """Embedding cosine to the previous frame and the run's mean below which the face changed (a cut)."""
    track_min_eyes: float = _opt(0.8, min=0.0, max=1.0)
    """track_min while the eyes open or close, or without the face mesh (a blink disturbs tracking)."""
    identity_min_eyes: float = _opt(0.75, min=-1.0, max=1.0)
    """identity_min while the eyes open or close, or without the face mesh (a closed eye moves it)."""
    eyes_change: float = _opt(0.12, min=0.0, max=1.0)
    """Relative change of eye openness between two frames from which the eyes count as moving."""
    jump_speed: float = _opt(3.5, min=0.1, max=100.0)
    """Fastest landmark motion of one continuous face, eye distances a second; faster is a cut."""
    jump_min: float = _opt(0.35, min=0.0, max=100.0)
    """Landmark motion always allowed between two frames, eye distances."""
    accel_max: float = _opt(10.0, min=0.1, max=10_000.0)
    """Fastest change of the face's velocity (eye distances/s²) of one continuous face; faster is a cut
    (``jerk``: a reversal or a start within one frame, what a stream spliced from stills does)."""
    jerk_min: float = _opt(0.1, min=0.0, max=10.0)
    """A velocity change under this many eye distances a frame is never a jerk (tracking noise)."""
    impulse_seconds: float = _opt(0.2, min=0.0, max=10.0)
    """A move that starts and ends within a shorter link (still before and after) is a jerk…"""
    impulse_min: float = _opt(0.03, min=0.0, max=10.0)
    """…when it moved the face at least this many eye distances…"""
    impulse_ratio: float = _opt(0.35, min=0.0, max=1.0)
    """…and the links before and after it moved it at most this share of that."""
    max_gap: float = _opt(2.0, min=0.1, max=3600.0)
    """Seconds between frames after which the evidence restarts (not counted as a cut)."""
    max_cuts: int = _opt(2, min=1, max=1000)
    """Cuts (jumps, tracking lost, another identity) after which the presentation is refused."""
    max_sessions: int = _opt(64, min=1, max=10_000)
    """Presentations (connection hashes) tracked at once; the least recently used is dropped."""
    idle_expiry: float = _opt(300.0, min=1, max=86_400)
    """Seconds after which a presentation nobody sends frames for is dropped."""


@dataclass(frozen=True)
class LoggingSettings:
    level: str = _opt("INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    """Log level of every process (logs go to stderr, i.e. the journal)."""
    format: str = _opt("auto", choices=("auto", "text", "json", "journal"))
    """text: one line per record; json: one JSON object per line (time, level, worker, pid, logger, event,
    correlation_id) for a log shipper; journal: journald's own fields (systemd-python); auto: journal when
    the service runs under systemd and systemd-python is installed, else text."""


SECTIONS: dict[str, type] = {
    "ports": PortsSettings,
    "paths": PathsSettings,
    "database": DatabaseSettings,
    "supervisor": SupervisorSettings,
    "limits": LimitsSettings,
    "dialogue": DialogueSettings,
    "face": FaceSettings,
    "camera": CameraSettings,
    "speech": SpeechSettings,
    "sebox": SeboxSettings,
    "tencent": TencentSettings,
    "sync": SyncSettings,
    "liveness_api": LivenessApiSettings,
    "liveness": LivenessSettings,
    "logging": LoggingSettings,
}

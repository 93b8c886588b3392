"""Evaluation sequences for liveness (ISO/IEC 30107-3 terms): bona fide and attack.

Everything is built from real face photos by geometry, because no video of
real people or real presentation attacks ships in any package registry:

* ``bona_fide`` — the photo's face region is given a 3-D head shape (a half
  ellipsoid with a nose ridge and eye sockets, sized from the 5 landmarks)
  and rotated about the head's centre under perspective, as a person does
  when asked to turn the head a little; the body and the background stay
  still.  It represents a rigid head with a plausible depth profile.  It does
  NOT represent real skin, expressions, blinks, lighting that follows the
  head, hair, or the depth of any particular person.
* ``print`` — the whole photo, printed (lower contrast, paper grain), held
  as a rigid plane and moved/rotated/tilted in 3-D in front of a room.
* ``curved_print`` — the same print bent around a vertical axis (a hand
  holding a sheet bows it): a non-planar attack, reported on its own.
* ``screen`` — the photo on a phone/tablet screen (gamma, blue tint, a
  pixel grid that aliases against the camera's pixels into moiré, a black
  bezel, a glare spot fixed relative to the camera), moved as a plane.
* ``video_replay`` — a screen held almost still showing a bona fide sequence
  (a person turning the head): the content has real parallax.

``sequence(kind, photo_bgr, landmarks, seed)`` returns camera frames (BGR
uint8, 640×480, sensor noise and a JPEG round trip) for one presentation.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

KINDS = ("bona_fide", "print", "curved_print", "screen", "video_replay")
ATTACKS = KINDS[1:]
SIZE = (640, 480)  # camera frame (w, h)
DISTANCE_IODS = 8.0  # camera ~50 cm from a face whose eye distance is ~63 mm


def room(seed: int) -> np.ndarray:
    """A static, textured background (a wall with soft blotches and a door edge)."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    noise = rng.normal(0, 1, (h // 16 + 1, w // 16 + 1, 3)).astype(np.float32)
    base = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) * 18 + rng.uniform(90, 170, 3)
    x0 = int(rng.uniform(40, 140))
    base[:, x0 : x0 + 12] *= 0.6
    return np.clip(base, 0, 255).astype(np.float32)


def place(landmarks: np.ndarray, iod: float, centre: tuple[float, float]):
    """Similarity that puts the photo's face at ``centre`` with eye distance ``iod``."""
    lm = np.asarray(landmarks, np.float32)
    eye_l, eye_r = lm[0], lm[1]
    scale = iod / float(np.linalg.norm(eye_r - eye_l))
    face_c = lm.mean(axis=0)
    m = np.array(
        [[scale, 0, centre[0] - scale * face_c[0]], [0, scale, centre[1] - scale * face_c[1]]], np.float32
    )
    return m, (lm * scale + m[:, 2]).astype(np.float32)


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix from degrees (yaw about y, pitch about x, roll about z)."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return (rz @ rx @ ry).astype(np.float32)


def head_depth(shape_hw, lm: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Depth (toward the camera, pixels) of a generic head fitted to 5 landmarks, and its mask."""
    h, w = shape_hw
    eyes_c = (lm[0] + lm[1]) / 2
    mouth_c = (lm[3] + lm[4]) / 2
    cx, cy = float((eyes_c[0] + mouth_c[0]) / 2), float(eyes_c[1] - 0.1 * iod)
    ax, ay, az = 1.25 * iod, 1.75 * iod, 1.3 * iod
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    q = 1 - ((xx - cx) / ax) ** 2 - ((yy - cy) / ay) ** 2
    mask = q > 0
    z = az * np.sqrt(np.clip(q, 0, None))
    nose = lm[2]
    ridge_y = (eyes_c[1] + nose[1]) / 2
    z += 0.45 * iod * np.exp(-(((xx - nose[0]) / (0.22 * iod)) ** 2 + ((yy - ridge_y) / (0.45 * iod)) ** 2))
    for eye in lm[:2]:
        z -= 0.15 * iod * np.exp(-(((xx - eye[0]) ** 2 + (yy - eye[1]) ** 2) / (0.25 * iod) ** 2))
    z = np.where(mask, z, 0).astype(np.float32)
    return z, mask, (cx, cy)


def move_surface(base, mask, depth, centre, rot, shift, distance, texture=None):
    """Render ``base`` after the pixels under ``mask`` (a surface with ``depth``)
    rotate by ``rot`` about ``centre`` and shift by ``shift`` (pixels); the rest stays.

    Forward model: unproject each pixel with its depth, rotate, reproject.  The
    image is resampled backward by fixed-point inversion of that displacement
    (exact for smooth motions; occlusions are approximated)."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = centre
    k = (distance - depth) / distance
    pts = np.stack([(xx - cx) * k, (yy - cy) * k, depth], axis=-1) @ rot.T
    zf = distance - pts[..., 2]
    dx = np.where(mask, cx + shift[0] + pts[..., 0] * distance / zf - xx, 0).astype(np.float32)
    dy = np.where(mask, cy + shift[1] + pts[..., 1] * distance / zf - yy, 0).astype(np.float32)
    sx, sy = xx.copy(), yy.copy()
    for _ in range(8):
        sx = xx - cv2.remap(dx, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        sy = yy - cv2.remap(dy, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = cv2.remap(base, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if texture is not None:
        out = texture(out, sx, sy)
    return out


def camera(frame: np.ndarray, rng: np.random.Generator, quality: int = 88) -> np.ndarray:
    """Lens blur, sensor noise and the JPEG round trip a camera stream goes through."""
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6) + rng.normal(0, 2.0, frame.shape)
    ok, jpeg = cv2.imencode(
        ".jpg", np.clip(frame, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None  # a JPEG just encoded by OpenCV always decodes
    return decoded


def _trajectory(rng, n, yaw_amp, pitch_amp, roll_amp, shift_amp):
    """Smooth pose sequence: from near frontal to a turned head/plane and back a little."""
    direction = rng.choice([-1, 1])
    phase = np.linspace(0, 1, n)
    yaw = direction * yaw_amp * np.sin(phase * math.pi * rng.uniform(0.6, 1.0))
    pitch = pitch_amp * np.sin(phase * math.pi * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
    roll = roll_amp * np.sin(phase * math.pi + rng.uniform(0, 6))
    sx = shift_amp * np.sin(phase * math.pi * 2 * rng.uniform(0.3, 1) + rng.uniform(0, 6))
    sy = 0.5 * shift_amp * np.sin(phase * math.pi * 2 * rng.uniform(0.3, 1) + rng.uniform(0, 6))
    return [
        (float(a), float(b), float(c), (float(d), float(e)))
        for a, b, c, d, e in zip(yaw, pitch, roll, sx, sy, strict=False)
    ]


def _scene(photo, landmarks, rng, iod):
    """The photo placed in the room: (rest frame, landmarks there, photo mask)."""
    w, h = SIZE
    centre = (w / 2 + rng.uniform(-30, 30), h / 2 + rng.uniform(-20, 10))
    m, lm = place(landmarks, iod, centre)
    bg = room(int(rng.integers(1 << 30)))
    warped = cv2.warpAffine(
        photo.astype(np.float32), m, SIZE, flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR
    )
    inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), m, SIZE) > 0.5
    base = np.where(inside[..., None], warped, bg)
    return base, lm, inside


def bona_fide(photo, landmarks, rng, n=8, yaw_amp=None, still=False):
    """A person turning the head (or, with ``still``, keeping it still)."""
    iod = rng.uniform(50, 75)
    base, lm, _ = _scene(photo, landmarks, rng, iod)
    depth, mask, centre = head_depth(base.shape[:2], lm, iod)
    yaw_amp = rng.uniform(8, 20) if yaw_amp is None else yaw_amp
    poses = _trajectory(rng, n, 0.5 if still else yaw_amp, 1.0 if still else 5, 2, 1.0 if still else 6)
    frames = []
    for yaw, pitch, roll, shift in poses:
        frames.append(
            move_surface(base, mask, depth, centre, rotation(yaw, pitch, roll), shift, DISTANCE_IODS * iod)
        )
    return frames


def _print_look(photo, rng):
    """Printer and paper: compressed contrast, warmer white, grain."""
    p = photo.astype(np.float32) * rng.uniform(0.75, 0.9) + rng.uniform(15, 35)
    p = cv2.GaussianBlur(p, (0, 0), 0.7)
    return p + rng.normal(0, 3, p.shape)


def planar(photo, landmarks, rng, n=8, bend=0.0, screen=False, content=None, keep=None):
    """A print (optionally bent) or a screen, moved as one object in front of the room
    (only the frames whose index is in ``keep`` are rendered, the others are None)."""
    iod = rng.uniform(50, 75)
    if screen:
        h, w = photo.shape[:2]
        border = int(0.08 * max(h, w))
        framed = np.zeros((h + 2 * border, w + 2 * border, 3), np.float32)
        framed[border : border + h, border : border + w] = _screen_look(photo, rng)
        landmarks = np.asarray(landmarks) + border
        photo = framed
    else:
        photo = _print_look(photo, rng)
    base, lm, inside = _scene(photo, landmarks, rng, iod)
    w_, h_ = SIZE
    cx, cy = float(lm[:, 0].mean()), float(lm[:, 1].mean())
    yy, xx = np.mgrid[0:h_, 0:w_].astype(np.float32)
    depth = (-bend * (xx - cx) ** 2 / iod).astype(np.float32) if bend else np.zeros((h_, w_), np.float32)
    depth = np.where(inside, depth, 0).astype(np.float32)
    amp = (0.5, 0.5, 0.5, 2) if content is not None else (rng.uniform(10, 35), 12, 6, 10)
    poses = _trajectory(rng, n, *amp)
    pitch_grid = rng.uniform(1.1, 1.6)  # screen pixel pitch in camera pixels at rest
    glare_xy = (cx + rng.uniform(-80, 80), cy + rng.uniform(-80, 80))
    frames = []
    for index, (yaw, pitch, roll, shift) in enumerate(poses):
        if keep is not None and index not in keep:
            frames.append(None)
            continue
        frame_base = base
        if content is not None:  # a video on the screen: swap the displayed picture each frame
            frame_base = _replace_screen(base, inside, content[index], rng)
        texture = _screen_texture(inside, pitch_grid, glare_xy) if screen else None
        frames.append(
            move_surface(
                frame_base,
                inside,
                depth,
                (cx, cy),
                rotation(yaw, pitch, roll),
                shift,
                DISTANCE_IODS * iod,
                texture,
            )
        )
    return frames


def _screen_look(photo, rng):
    """A display: gamma, a blue-ish white point, slightly clipped blacks."""
    p = 255 * (np.clip(photo.astype(np.float32), 0, 255) / 255) ** rng.uniform(0.75, 0.9)
    return p * np.array([1.08, 1.0, 0.93], np.float32) + 8


def _screen_texture(inside, pitch, glare_xy):
    """Pixel grid sampled at the camera's pixels (→ moiré) and a glare fixed in the camera frame."""
    h, w = inside.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glare = 90 * np.exp(-(((xx - glare_xy[0]) ** 2 + (yy - glare_xy[1]) ** 2) / 60.0**2))

    def apply(img, sx, sy):
        grid = 0.78 + 0.22 * np.cos(2 * np.pi * sx / pitch) * np.cos(2 * np.pi * sy / pitch)
        lit = cv2.remap(inside.astype(np.float32), sx, sy, cv2.INTER_LINEAR) > 0.5
        out = np.where(lit[..., None], img * grid[..., None] + glare[..., None], img)
        return out

    return apply


def _replace_screen(base, inside, picture, rng):
    """Show ``picture`` (a camera-size frame) inside the screen's area of ``base``."""
    ys, xs = np.nonzero(inside)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = int(0.08 * max(y1 - y0, x1 - x0) / 1.16)
    region = (slice(y0 + pad, y1 - pad), slice(x0 + pad, x1 - pad))
    hh, ww = region[0].stop - region[0].start, region[1].stop - region[1].start
    ph, pw = picture.shape[:2]  # crop the picture around its centre to the screen's aspect, same scale
    top, left = max(0, (ph - hh) // 2), max(0, (pw - ww) // 2)
    crop = picture[top : top + hh, left : left + ww].astype(np.float32)
    out = base.copy()
    out[
        region[0].start : region[0].start + crop.shape[0], region[1].start : region[1].start + crop.shape[1]
    ] = _screen_look(crop, rng)
    return out


def sequence(kind: str, photo: np.ndarray, landmarks, seed: int, n: int = 8) -> list[np.ndarray]:
    """Camera frames of one presentation of ``kind`` (see KINDS)."""
    rng = np.random.default_rng(seed)
    landmarks = np.asarray(landmarks, np.float32)
    if kind == "bona_fide":
        frames = bona_fide(photo, landmarks, rng, n)
    elif kind == "bona_fide_still":
        frames = bona_fide(photo, landmarks, rng, n, still=True)
    elif kind == "print":
        frames = planar(photo, landmarks, rng, n)
    elif kind == "curved_print":
        frames = planar(photo, landmarks, rng, n, bend=rng.uniform(0.08, 0.15))
    elif kind == "screen":
        frames = planar(photo, landmarks, rng, n, screen=True)
    elif kind == "video_replay":
        shown = bona_fide(photo, landmarks, np.random.default_rng(seed + 7), n)
        frames = planar(photo, landmarks, rng, n, screen=True, content=shown)
    else:
        raise ValueError(f"unknown presentation kind {kind!r}; known: {KINDS}")
    return [camera(f, rng) for f in frames]

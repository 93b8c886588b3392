"""Liveness: is the face in front of the camera a live person (not a photo or a screen)?

``LivenessChecker.observe(key, frame_bgr, landmarks, box) -> Verdict`` is the
in-process API (appliance.liveness.checker); the liveness worker wraps it
(appliance/workers/liveness.py).  Cues: motion parallax (motion.py), screen
moiré (frame_cues.py), an optional technician-installed ONNX model
(onnx_model.py) and the remote silent-liveness API (remote.py).  The
evaluation sequences are built in attacks.py and measured by evaluate.py.
"""

from .checker import LivenessChecker, Verdict
from .policy import Policy

__all__ = ["LivenessChecker", "Policy", "Verdict"]

"""One way to open an onnxruntime CPU session on the kiosk.

Every worker is its own process on two cores.  onnxruntime's intra-op threads
spin-wait between operators by default: alone on a machine that saves a few
microseconds, but beside the other workers' threads the spinning burns the
cores they need (under the kill-and-load test a transcription took 17x its
time).  So sessions do not spin, and use at most ``threads`` threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime


def session(model_path: Path | str, threads: int = 2, quiet: bool = False) -> onnxruntime.InferenceSession:
    import onnxruntime as ort  # here: importing it costs ~0.3 s, and not every process needs it

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if quiet:
        opts.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=opts, providers=["CPUExecutionProvider"])

"""kiosk-appliance: the daemon of a self-service government-affairs kiosk."""

import os

# Before anything imports numpy: OpenBLAS's own threads fight onnxruntime's on a
# 2-core kiosk (bench: a 10k-template search took 7–12 ms instead of 0.1 ms).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"

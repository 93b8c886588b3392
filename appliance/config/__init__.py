"""Settings: the frozen sections (``sections``), loading and validation (``settings``), and the
field technician's editor (``editor``). ``from appliance.config import Settings, load`` is the
public way in; the package re-exports what callers use."""

from .sections import (  # noqa: F401
    DEFAULT_WORKERS,
    KNOWN_WORKERS,
    SECTIONS,
    CameraSettings,
    DatabaseSettings,
    DialogueSettings,
    FaceSettings,
    LimitsSettings,
    LivenessApiSettings,
    LivenessSettings,
    LoggingSettings,
    PathsSettings,
    PortsSettings,
    SeboxSettings,
    SpeechSettings,
    SupervisorSettings,
    SyncSettings,
    TencentSettings,
)
from .settings import (  # noqa: F401
    CONFIG_ENV,
    ENV_PREFIX,
    ConfigError,
    Settings,
    _coerce,
    _kind_name,
    load,
    mask,
    shipped_config_path,
)

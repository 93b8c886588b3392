"""kiosk-appliance: the daemon of a self-service government-affairs kiosk."""

__version__ = "0.1.0"

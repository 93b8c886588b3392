"""The kiosk's own camera: frame sources and the capture loop."""

"""The process runtime: the supervisor, the worker base, the ZeroMQ bus and its addresses,
systemd notification, logging. Nothing here knows about faces, speech or citizens."""

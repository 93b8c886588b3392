"""What a fleet's Prometheus scrapes: ``GET /metrics`` on ports.metrics (README "Running a fleet").

The gateway is the only process that records and serves metrics. Operations are counted where their
replies are produced (recorder.py); the workers' own figures reach it over the bus: the supervisor's
snapshot (each worker's state, restarts, last heartbeat) and the sync worker's outbox summary, fetched
once per scrape (fleet.py). No multiprocess files, no lock shared with the citizen's flows.
"""

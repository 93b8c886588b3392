"""The gateway worker: the three listening ports of PROTOCOL.md §1.

It holds no model and no business rule. It translates the wire protocol into
bus requests to the workers, applies size limits and timeouts, and turns
worker failures into the protocol's `busy`/`error` answers.
"""

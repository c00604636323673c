"""Runtime: bus, handler discovery and pipeline, injection, middleware, local queues.

Depends only on :mod:`momentum.contracts`; transports and stores plug in through its ports.
"""

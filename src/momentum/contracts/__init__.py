"""Contracts: events, naming, partitioning, results, envelopes, codecs and the exception tree.

The lowest layer: it imports nothing else from momentum and no driver.
"""

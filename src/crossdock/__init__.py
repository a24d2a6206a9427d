"""Crossdock: a sync hub that keeps a distributor's orders, stock and money in step across systems."""

__version__ = "0.1.0"

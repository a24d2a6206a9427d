"""Edges to other systems: each connector maps one wire format to canonical events and back."""

"""Tools for trying the hub on one machine: a local HTTP sink that records and can misbehave on purpose."""

"""Generic JSON intake and HTTP webhook delivery: the connector every other one is copied from."""

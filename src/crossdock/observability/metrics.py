"""Prometheus metrics for the pipeline, on a registry of its own so that tests and several hubs in one
process do not collide."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.received = Counter(
            "crossdock_messages_received_total",
            "Inbound messages by intake outcome",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.processed = Counter(
            "crossdock_messages_processed_total", "Messages processed by result", ["result"], registry=self.registry
        )
        self.sent = Counter(
            "crossdock_delivery_rounds_sent_total", "Deliveries sent (any outcome)", registry=self.registry
        )
        self.timers = Counter("crossdock_timers_fired_total", "Timers fired", registry=self.registry)
        self.intake_batch = Histogram(
            "crossdock_intake_batch_size",
            "Messages per intake commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=self.registry,
        )

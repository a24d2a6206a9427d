"""Business workflows as pure state machines: a transition table and one `advance(state, fact, now)` each.

Owns: the states and rules of each process. Must not: persist, schedule or send; handlers do that with the Step.
"""

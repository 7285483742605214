"""Fake mode's counterparts of the outside world: play-money keys, the facilitator, the chain."""

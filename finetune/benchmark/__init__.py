"""The transfer benchmark: does a score predict which source transfers best? Measured, with intervals.

results (types) <- measure (one target) <- mix (the LOTO prior and mix rows) <- evaluate (over targets)
<- run (every target, in parallel) -> serialise, report."""

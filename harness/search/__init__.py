"""Search: the search space, samplers, pruning, constraints, the study (run, objective, writer), workers, export."""

"""Train: the training loop, evaluation, and one trial without Optuna (evaluate_spec)."""

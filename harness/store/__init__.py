"""Store: Optuna storages, the trials table, the one reader of a results folder, and run.json."""

"""Store: the record of a trial (keys, catalogue, filters, one write), Optuna storages, the trials
table, the one reader of a results folder, run.json and MLflow."""

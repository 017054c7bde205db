"""The record of a trial, written down once: its keys (`keys`), the catalogue of its metrics and
costs (`catalogue`), the one set of filters over trials (`filters`) and the writer that puts a
trial's values into its storage in one call (`write`).

Only the search's objective (harness.search.objective) and the ranking's runs (harness.rank.runs)
write a record; the trials table, reports, plots, MLflow and the dashboard read it through here.
"""

from harness.store.record import catalogue, filters, keys
from harness.store.record.catalogue import Metric, register, unregister
from harness.store.record.write import RecordWriter, write_attrs

__all__ = ["Metric", "RecordWriter", "catalogue", "filters", "keys", "register", "unregister", "write_attrs"]

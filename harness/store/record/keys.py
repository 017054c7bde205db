"""The keys of a trial's record: the names of the Optuna user attributes that the search's
objective and the ranking's runs write (and every reader reads through this module), and of the
study's own attributes.

A metric's or cost's key is its catalogue name (harness.store.record.catalogue); these are the
others: what a trial is, where it ran, its curves, and the notes that say why it did not train.
"""

from __future__ import annotations

# --- what a trial is and where it ran -------------------------------------------------------------
SPEC = "spec"  # the ArchSpec as a dict (ArchSpec.to_dict)
SEED = "seed"  # the torch seed it trained with
DEVICE = "device"  # "cpu", "cuda:0"
PRECISION = "precision"  # "fp32", "bf16", ...
WORKER = "worker"  # {"host", "pid", "index"} of the process that ran it
BUDGET_KEY = "budget_key"  # what makes two trials the same experiment (train.train_config.budget_key)

# --- its curves (one value, or one dict, per epoch) ------------------------------------------------
HISTORY = "history"  # the search metric after each epoch
CURVE = "curve"  # per epoch: epoch, train_loss, val_loss, val_accuracy, seconds
CURVES = (HISTORY, CURVE)  # written to tables as JSON

# --- notes: why a trial did not train, or where its result came from ------------------------------
INFEASIBLE = "infeasible"  # the hard constraint's reason: refused before training
REUSED_FROM = "reused_from"  # the trial number whose result this one reuses
COPIED_FROM = "copied_from"  # a warm start's copy: "<study> trial <n>"
WARM_START_FROM = "warm_start_from"  # queued by a warm start from this folder
SURPLUS = "surplus"  # dropped unrun: the study's places were taken
FAILURE_REASON = "failure_reason"
PRUNED_REASON = "pruned_reason"
TRACEBACK = "traceback"  # of a failure that is harness's own bug
NOTE = "note"  # e.g. trained at half the batch after running out of memory

# --- a ranking's run -------------------------------------------------------------------------------
CANDIDATE = "candidate"  # the candidate's display name
CANDIDATE_KEY = "candidate_key"  # what makes two candidates the same
DATA_KEY = "data_key"  # what makes two rankings' data the same
SEED_INDEX = "seed_index"  # 0, 1, ...: the run's place among the candidate's seeds
ORIGIN = "origin"  # where the candidate came from (a study's trial, a preset, a file)
TRAIN = "train"  # the candidate's TrainConfig as a dict
IMAGES_PER_SECOND = "images_per_second"
TEST_PREFIX = "test_"  # test_accuracy, test_loss, ...: the test split, when the ranking measured it

# --- shifted copies (robustness) -----------------------------------------------------------------
ROBUST_PREFIX = "robust."  # robust.<shift>: the accuracy on one shifted validation copy

# --- the study's attributes ----------------------------------------------------------------------
FINGERPRINT = "fingerprint"  # the data, space and settings a study was made for
WARM_START = "warm_start"  # {"from", "copied", "queued"}

# The note keys, in the order tables count them, with the word a count uses.
NOTES = ((INFEASIBLE, "infeasible"), (REUSED_FROM, "reused"), (COPIED_FROM, "copied"),
         (WARM_START_FROM, "queued by a warm start"))
NOTE_WORDS = dict(NOTES)

# The keys no other module spells out (tests/test_record.py checks every string in harness/
# outside this package and its two writers): distinctive words that mean nothing but the record.
# The others (spec, seed, history, warm_start: also a setting's name, ...) are common words; there
# the test checks only the strings that index a trial's or a study's attributes.
MARKERS = frozenset({BUDGET_KEY, CURVE, INFEASIBLE, REUSED_FROM, COPIED_FROM, WARM_START_FROM, SURPLUS,
                     FAILURE_REASON, PRUNED_REASON, TRACEBACK, CANDIDATE_KEY, DATA_KEY, SEED_INDEX,
                     IMAGES_PER_SECOND})

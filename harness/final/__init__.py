"""From a ranking to a model you can use: `train_final` (one architecture trained to the end, with
checkpoints that resume), the model folder it writes (`ModelFolder`, `load_model`), its metrics,
plots and page, ONNX export and prediction on image files.

This layer sits above rank (it resolves a ranking's candidate or a study's trial) and below cli.
"""

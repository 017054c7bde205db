"""The options of the commands that train nothing, one `add_*_options` function each: show,
datasets, profile, presets, export, predict, report and dashboard.

Defaults from the API are imported inside the functions, so importing this module is cheap."""

from __future__ import annotations

import argparse

from harness.cli import options
from harness.cli.args import input_size, positive_int, whole_number

FOLDER = "the study's results folder (results/<study>)"  # the FOLDER of report and dashboard


def add_show_options(show: argparse.ArgumentParser) -> None:
    """`harness show`: a space file, a seed and the data options."""
    show.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    show.add_argument("--seed", type=whole_number, default=0, help="which sample to show (default 0)")
    options.add_data_arguments(show, what="dataset whose input size and classes to build for")


def add_datasets_options(datasets: argparse.ArgumentParser) -> None:
    """`harness datasets [NAME[:PATH]]` with the data options."""
    datasets.description = ("Without an argument, list the datasets and what each needs; "
                            "with NAME[:PATH], read it and print its splits, image size and classes.")
    datasets.add_argument("dataset", nargs="?", metavar="NAME[:PATH]", help="a dataset to read and describe")
    options.add_data_arguments(datasets, positional=True)


def add_profile_options(profile: argparse.ArgumentParser) -> None:
    """`harness profile NAME_OR_SPEC_FILE` with the input's shape and the classes."""
    profile.description = ("Build a preset (see `harness presets`) or a spec file (YAML "
                           "or JSON, as `ArchSpec.to_dict` writes it) and measure it before training.")
    profile.add_argument("spec", metavar="NAME_OR_SPEC_FILE", help="preset name or spec file")
    profile.add_argument("--input-size", type=input_size, default=(224, 224), metavar="S|HxW",
                         help="input height and width in pixels (default 224)")
    profile.add_argument("--in-channels", type=positive_int, default=3, metavar="C",
                         help="input channels (default 3)")
    profile.add_argument("--num-classes", type=positive_int, default=1000, metavar="N",
                         help="classes of the classifier (default 1000)")
    profile.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def add_presets_options(presets: argparse.ArgumentParser) -> None:
    """`harness presets`: no options."""


def add_export_options(export: argparse.ArgumentParser) -> None:
    """`harness export FOLDER --trial N` (a study's trial as a spec) or `--onnx FILE` (a model folder as ONNX)."""
    export.description = (
        "Print the spec of one trial of a study (YAML, defaults left out; "
        "or --json, complete): `harness export results/kernel_size --trial 9 > spec.yaml`, "
        "then `harness profile spec.yaml`. Or, with --onnx, write a trained model folder as "
        "one ONNX file (input `image`: float (N, C, H, W) pixels in [0, 1], normalised inside; "
        "output `logits`), checked against torch in onnxruntime before it is written.")
    export.add_argument("folder", metavar="FOLDER", help="the study's results folder (--trial), or a model "
                        "folder (--onnx)")
    export.add_argument("--trial", type=whole_number, default=None, metavar="N", help="trial number")
    export.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    export.add_argument("--json", action="store_true", help="JSON, every field, instead of YAML (with --onnx: "
                        "the export's report as one JSON object)")
    options.add_storage_argument(export)
    onnx = export.add_argument_group("ONNX (a model folder)")
    onnx.add_argument("--onnx", default=None, metavar="FILE", help="write the model folder FOLDER as this ONNX file")
    onnx.add_argument("--opset", type=positive_int, default=None, metavar="N",
                      help="ONNX opset (default 20; 18 and up use torch's torch.export-based exporter, lower ones "
                      "its TorchScript exporter, for older runtimes)")


def add_dashboard_options(dashboard: argparse.ArgumentParser) -> None:
    """`harness dashboard FOLDER` with where the study is and where to serve it."""
    from harness.store.dashboard import DEFAULT_HOST, DEFAULT_PORT

    dashboard.description = (
        "Serve optuna-dashboard (pip install 'harness[dashboard]') on the "
        "storage of FOLDER (study.db or study.journal there, or --storage) and print its "
        "URL; it shows every study there, its trials, parameters, values and user "
        "attributes (accuracy, params, flops, ...), also while a search runs. Ctrl-C stops it.")
    dashboard.add_argument("folder", metavar="FOLDER", help=FOLDER)
    options.add_storage_argument(dashboard)
    dashboard.add_argument("--host", default=DEFAULT_HOST, metavar="HOST",
                           help=f"address to listen on (default {DEFAULT_HOST}: this machine only; "
                           "0.0.0.0 shows it to the network, which may then edit the study)")
    dashboard.add_argument("--port", type=whole_number, default=DEFAULT_PORT, metavar="PORT",
                           help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")


def add_predict_options(predict: argparse.ArgumentParser) -> None:
    """`harness predict MODEL_FOLDER IMAGE...` with --top K."""
    predict.description = (
        "Print one line per image: path, class and probability (tab-separated). "
        "Images are read as the folder datasets read them (EXIF orientation, transparency "
        "onto white, shorter side scaled to the model's size and the centre cropped).")
    predict.add_argument("folder", metavar="MODEL_FOLDER", help="a model folder (model.safetensors, spec.yaml, "
                         "model.json)")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders of them (walked "
                         "recursively)")
    predict.add_argument("--top", type=positive_int, default=1, metavar="K",
                         help="print the K most probable classes per image, best first (default 1)")


def add_report_options(report: argparse.ArgumentParser) -> None:
    """`harness report FOLDER` with where the study is and the leaderboard's length."""
    report.description = (
        "Write into FOLDER: trials.csv, leaderboard.md, pareto.csv, "
        "importance.csv, plots/*.png and report.html (one self-contained page). "
        "Reads the study from FOLDER/study.db (or --storage), else FOLDER/trials.csv; "
        "works while a search still runs.")
    report.add_argument("folder", metavar="FOLDER", help=f"{FOLDER}; with --storage, where to write the report")
    report.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL to read the study from (default: FOLDER/study.db)")
    report.add_argument("--study", default=None, metavar="NAME",
                        help="study name in the storage (default: FOLDER's name, or the storage's only study)")
    report.add_argument("--top", type=positive_int, default=10, metavar="K",
                        help="trials in the leaderboard (default 10)")

"""A trained model's figures, table and page: confusion.png (test split, else validation;
row-normalised), curves.png (losses and validation accuracy per epoch), per_class.csv (precision,
recall, F1 and images per class and split) and model.html (one self-contained file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.files import atomic_write
from harness.final.model_folder import ModelInfo
from harness.names import printable
from harness.report.html import escape, figure, html_page, html_table, info_table
from harness.zoo.spec import ArchSpec

TICK_CHARS = 24  # a class name's characters on the confusion matrix's axes


def plot_confusion(confusion: list[list[int]], classes: tuple[str, ...], path: Path, title: str) -> None:
    """Heat map of the confusion matrix, each row divided by its images (recall on the diagonal)."""
    import numpy as np
    import seaborn as sns

    from harness.report.plots.style import save_figure, styled_figure

    cm = np.asarray(confusion, dtype=float)
    # One short line per class: a 255-byte folder name would squeeze the matrix to nothing (the
    # per-class table of the page has the names in full).
    ticks = [t if len(t := printable(c)) <= TICK_CHARS else t[: TICK_CHARS - 1] + "\u2026" for c in classes]
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    with styled_figure() as (fig, ax):
        size = max(4.5, 0.5 * len(classes) + 2)
        fig.set_size_inches(size + 1, size)
        sns.heatmap(share * 100, annot=len(classes) <= 15, fmt=".0f", cmap="Blues", vmin=0, vmax=100, ax=ax,
                    xticklabels=ticks, yticklabels=ticks, cbar_kws={"label": "% of the true class"})
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(title)
        save_figure(fig, path)


def plot_curves(history: list[dict[str, float]], best_epoch: int, path: Path) -> None:
    """Training and validation loss (left axis) and validation accuracy (right) per epoch."""
    from harness.report.plots.style import save_figure, styled_figure

    epochs = [h["epoch"] for h in history]
    with styled_figure() as (fig, ax):
        ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="training loss")
        ax.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        right = ax.twinx()
        right.plot(epochs, [100 * h["val_accuracy"] for h in history], color="tab:green", marker="s",
                   label="validation accuracy")
        right.set_ylabel("validation accuracy (%)")
        ax.axvline(best_epoch, color="grey", linestyle=":", label=f"kept: epoch {best_epoch}")
        lines = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
        ax.set_title("learning curves")
        save_figure(fig, path)


def _split_rows(metrics: dict[str, Any]) -> list[list[str]]:
    rows = []
    for split in ("val", "test"):
        m = metrics.get(split)
        if m:
            top5 = f"{m['top5_accuracy']:.2%}" if "top5_accuracy" in m else "-"
            rows.append([split, str(m["images"]), f"{m['accuracy']:.2%}", f"{m['balanced_accuracy']:.2%}",
                         f"{m['macro_f1']:.4f}", top5, f"{m['ece']:.4f}", f"{m['loss']:.4f}"])
    return rows


def _best(metrics: dict[str, Any], split: str) -> str:
    """The answer, as the page's first box: the held-out accuracy (test split, else validation) and which
    weights were kept."""
    m = metrics[split]
    which = {"test": "Test", "val": "Validation"}[split]
    text = (f"{which} accuracy {m['accuracy']:.2%} (balanced {m['balanced_accuracy']:.2%}, macro F1 "
            f"{m['macro_f1']:.4f}) on {m['images']} images")
    if split == "test" and metrics.get("val"):
        text += f"; validation accuracy {metrics['val']['accuracy']:.2%}"
    text += (f".<br>Weights of epoch {metrics['best_epoch']} of {metrics['epochs']} (the best validation "
             f"{escape(metrics['metric'])}), after {metrics['train_seconds']:.0f} s of training.")
    return f"<p class=\"best\" id=\"best\">{text}</p>"


def write_per_class(path: Path, metrics: dict[str, Any]) -> None:
    """per_class.csv: a row per split and class (split, class, precision, recall, f1, images), the class
    names as the folders give them; pandas quotes a name with a comma, quote or newline."""
    import pandas as pd

    rows = [{"split": split, "class": r["class"], "precision": r["precision"], "recall": r["recall"], "f1": r["f1"],
             "images": r["support"]} for split in ("val", "test") if metrics.get(split)
            for r in metrics[split]["per_class"]]
    table = pd.DataFrame(rows, columns=["split", "class", "precision", "recall", "f1", "images"])
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def write_pages(folder: Path, spec: ArchSpec, info: ModelInfo, metrics: dict[str, Any]) -> list[Path]:
    """Write confusion.png, curves.png, per_class.csv and model.html into `folder`; the paths written.

    The page leads with the answer (the held-out accuracy, the metrics per split, the two figures), then
    the per-class table, and ends with the model's record (origin, data, input, training, spec_id)."""
    split = "test" if "test" in metrics else "val"
    which = {"test": "test split", "val": "validation split"}[split]
    confusion, curves = folder / "confusion.png", folder / "curves.png"
    plot_confusion(metrics[split]["confusion"], info.classes, confusion, f"confusion matrix, {which}")
    plot_curves(metrics["history"], metrics["best_epoch"], curves)
    write_per_class(folder / "per_class.csv", metrics)
    per_class = [[str(r["class"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                  str(r["support"])] for r in metrics[split]["per_class"]]
    where = " on ".join(escape(w) for w in (info.origin, info.dataset) if w)
    body = [
        f"<h1>{escape(spec.label)}</h1>",
        *([f"<p class=\"sub\">A trained model: {where}.</p>"] if where else []),
        _best(metrics, split),
        "<h2>Metrics</h2>",
        html_table(["split", "images", "accuracy", "balanced accuracy", "macro F1", "top-5", "ECE", "loss"],
                   _split_rows(metrics), numeric={"images", "accuracy", "balanced accuracy", "macro F1", "top-5",
                                                  "ECE", "loss"}, name="metrics"),
        "<div class=\"plots\">",
        figure(confusion, "Confusion matrix", f"{which}; each row is one true class, in % of its images."),
        figure(curves, "Learning curves", "losses and validation accuracy per epoch; the dotted line is the "
               "epoch whose weights were kept."),
        "</div>",
        f"<h2>Per class ({escape(which)})</h2>",
        html_table(["class", "precision", "recall", "F1", "images"], per_class,
                   numeric={"precision", "recall", "F1", "images"}, name="per-class"),
        "<h2 id=\"record\">The model's record</h2>",
        info_table([("origin", info.origin), ("dataset", info.dataset), ("input", f"{info.in_channels}x"
                    f"{info.input_size[0]}x{info.input_size[1]}"), ("classes", info.num_classes),
                    ("epochs trained", metrics["epochs"]), ("weights kept", f"epoch {metrics['best_epoch']} "
                    f"(best validation {metrics['metric']})"), ("training time", f"{metrics['train_seconds']:.0f} s"),
                    ("spec_id", spec.spec_id)]),
    ]
    html = folder / "model.html"
    atomic_write(html, lambda tmp: tmp.write_text(html_page(f"model: {spec.label}", body), encoding="utf-8"))
    return [confusion, curves, folder / "per_class.csv", html]

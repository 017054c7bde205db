"""Classification metrics from one evaluation pass: a confusion matrix (true x predicted counts),
and from it accuracy, balanced accuracy, macro F1 and per-class precision, recall and F1; from the
probabilities, top-5 accuracy and the expected calibration error.

Every figure follows scikit-learn's definition, so a user can check it there (a test does): a
class with no prediction has precision 0, one with no image has recall 0 and is left out of the
balanced accuracy (sklearn warns and does the same), and macro F1 averages over the classes that
have images or predictions (sklearn's `labels` default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")  # what a search or ranking can rank by
ECE_BINS = 15  # equal-width confidence bins (Guo et al. 2017, as most reports use)


def confusion_counts(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts, rows the true class, columns the predicted one:
    one bincount, on the device the tensors are on."""
    flat = y.long() * num_classes + pred.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass(frozen=True)
class Scores:
    """What one evaluation pass gives: mean loss, accuracy, balanced accuracy and macro F1
    (fractions), and the confusion matrix (rows true, columns predicted; CPU int64)."""

    loss: float
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    confusion: torch.Tensor

    @classmethod
    def from_confusion(cls, loss: float, confusion: torch.Tensor) -> Scores:
        """The scores of a confusion matrix (and the pass's mean loss)."""
        cm = confusion.double().cpu()
        total = cm.sum().item()
        accuracy = cm.diag().sum().item() / total if total else 0.0
        return cls(loss, accuracy, balanced_accuracy(cm), macro_f1(cm), confusion.cpu())

    def metric(self, name: str) -> float:
        """One of METRICS by name."""
        return float(getattr(self, name))


def balanced_accuracy(cm: torch.Tensor) -> float:
    """Mean recall over the classes that have images (sklearn's balanced_accuracy_score)."""
    cm = cm.double()
    support = cm.sum(1)
    present = support > 0
    if not present.any():
        return 0.0
    return (cm.diag()[present] / support[present]).mean().item()


def per_class(cm: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-class precision, recall and F1 (float64, 0 where undefined: sklearn's zero_division=0)
    and support (images per true class, int64)."""
    cm = cm.double()
    tp = cm.diag()
    predicted, support = cm.sum(0), cm.sum(1)
    zero = torch.zeros_like(tp)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), zero)
    recall = torch.where(support > 0, tp / support.clamp(min=1), zero)
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), zero)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.long()}


def macro_f1(cm: torch.Tensor) -> float:
    """Mean F1 over the classes that have images or predictions (sklearn's f1_score, average="macro")."""
    present = (cm.sum(0) + cm.sum(1)) > 0
    return per_class(cm)["f1"][present].mean().item() if present.any() else 0.0


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE: sum over equal-width confidence bins of |accuracy - mean confidence| x share of images,
    with the top class's probability as the confidence."""
    confidence, pred = probs.max(1)
    correct = (pred == y).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    # Bin i holds confidences in (edges[i], edges[i+1]]; a confidence of exactly 0 joins bin 0.
    index = (torch.bucketize(confidence.double(), edges, right=False) - 1).clamp(0, bins - 1)
    ece = 0.0
    n = len(y)
    for i in range(bins):
        mask = index == i
        if mask.any():
            ece += mask.sum().item() / n * abs(correct[mask].mean().item() - confidence[mask].double().mean().item())
    return ece


def top_k_accuracy(logits: torch.Tensor, y: torch.Tensor, k: int = 5) -> float:
    """Share of images whose class is among the k highest logits."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return (top == y.view(-1, 1)).any(1).double().mean().item()


def report(logits: torch.Tensor, y: torch.Tensor, classes: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The full metrics of one split from its logits (N, K) and labels: loss, accuracy, balanced
    accuracy, macro F1, top-5 (more than 5 classes), ECE, per-class precision/recall/F1/support and
    the confusion matrix, as plain JSON-ready values."""
    logits = logits.float().cpu()
    y = y.long().cpu()
    k = len(classes)
    probs = torch.softmax(logits, 1)
    loss = torch.nn.functional.cross_entropy(logits, y).item() if len(y) else float("nan")
    cm = confusion_counts(logits.argmax(1), y, k)
    scores = Scores.from_confusion(loss, cm)
    rows = per_class(cm)
    out: dict[str, Any] = {
        "images": len(y), "loss": loss, "accuracy": scores.accuracy, "balanced_accuracy": scores.balanced_accuracy,
        "macro_f1": scores.macro_f1, "ece": expected_calibration_error(probs, y),
    }
    if k > 5:
        out["top5_accuracy"] = top_k_accuracy(logits, y, 5)
    out["per_class"] = [
        {"class": str(name), "precision": rows["precision"][i].item(), "recall": rows["recall"][i].item(),
         "f1": rows["f1"][i].item(), "support": int(rows["support"][i])}
        for i, name in enumerate(classes)
    ]
    out["confusion"] = cm.tolist()
    return out

"""The one Pareto front: `front_indices` of (cost, accuracy) points (min cost, max accuracy), and
the two measures that compare fronts, `hypervolume` and `front_kept`. Plain Python, no pandas."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.errors import InvalidValueError


def front_indices(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated `(cost, accuracy)` points, by increasing cost (then decreasing
    accuracy, then index). A point is dominated by another that costs no more and is at least as
    accurate; exact duplicates of a front point are all kept (neither dominates the other)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    best = -math.inf
    for i in order:  # one sweep, O(n log n): a point is on the front iff it beats every cheaper one
        if front and tuple(points[i]) == tuple(points[front[-1]]):
            front.append(i)
        elif points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def hypervolume(
    points: Sequence[tuple[float, float]], ref_cost: float, ref_acc: float = 0.0, log_cost: bool = False
) -> float:
    """Area dominated by `(cost, accuracy)` points within the box cost <= ref_cost, accuracy >= ref_acc.

    With `log_cost`, the cost axis is log10 (costs and ref_cost must be > 0), usual for FLOPs.
    Points outside the box add nothing; an empty set has 0.
    """
    if log_cost:
        if ref_cost <= 0 or any(c <= 0 for c, _ in points):
            raise InvalidValueError("hypervolume with log_cost needs costs and ref_cost > 0")
        points = [(math.log10(c), a) for c, a in points]
        ref_cost = math.log10(ref_cost)
    inside = [(c, a) for c, a in points if c < ref_cost and a > ref_acc]
    front = [inside[i] for i in front_indices(inside)]
    area = 0.0
    for k, (c, a) in enumerate(front):
        upper = front[k + 1][0] if k + 1 < len(front) else ref_cost
        area += (upper - c) * (a - ref_acc)
    return area


def front_kept(
    reference: Sequence[tuple[float, float]], candidate: Sequence[tuple[float, float]], tol: float = 0.0
) -> float:
    """Share of the reference Pareto front matched by `candidate`: a front point (c, a) is matched by a
    candidate point costing <= c with accuracy >= a - tol. 1.0 when the reference is empty."""
    front = [reference[i] for i in front_indices(reference)]
    if not front:
        return 1.0
    matched = sum(any(q[0] <= c and q[1] >= a - tol for q in candidate) for c, a in front)
    return matched / len(front)

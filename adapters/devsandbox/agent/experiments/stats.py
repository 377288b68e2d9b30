"""Statistics for experiments, standard library only: quantiles, Mann-Whitney U, a bootstrap
confidence interval of the ratio of medians, and the verdict.

Samples are timings (nanoseconds); smaller is faster.  The Mann-Whitney U test
is two-sided: exact (enumerating the distribution of U) for small samples
without ties, else the normal approximation with tie and continuity
corrections.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

ALPHA = 0.05
EXACT_LIMIT = 40  # n1 + n2 up to which the exact distribution is used (no ties)
BOOTSTRAP_ROUNDS = 2000
FASTER, SLOWER, SAME = "faster", "slower", "no significant difference"


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """n, median, q1, q3, iqr, min, max, mean of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    q1, med, q3 = quantile(ordered, 0.25), quantile(ordered, 0.5), quantile(ordered, 0.75)
    return {"n": len(ordered), "median": med, "q1": q1, "q3": q3, "iqr": q3 - q1,
            "min": ordered[0], "max": ordered[-1], "mean": sum(ordered) / len(ordered)}


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) in the order given, and the sizes of the groups of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = average
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _exact_counts(n1: int, n2: int) -> list[int]:
    """counts[u] = number of orderings of n1 x's and n2 y's with U = u."""
    # c[i][j] is the distribution for i x's and j y's; U counts (x, y) pairs with y < x
    prev_row: list[list[int]] = [[1] for _ in range(n2 + 1)]  # i = 0: U is always 0
    for i in range(1, n1 + 1):
        row: list[list[int]] = [[1]]  # j = 0
        for j in range(1, n2 + 1):
            # the largest element is an x (adds j to U) or a y (adds nothing)
            a, b = prev_row[j], row[j - 1]
            size = i * j + 1
            dist = [0] * size
            for u, count in enumerate(a):
                dist[u + j] += count
            for u, count in enumerate(b):
                dist[u] += count
            row.append(dist)
        prev_row = row
    return prev_row[n2]


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> dict[str, float | str]:
    """Two-sided Mann-Whitney U test of x against y: U of x, p-value, method, and the
    effect size as the probability that an x exceeds a y (ties count half)."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return {"u": math.nan, "p": 1.0, "method": "none", "probability": math.nan}
    ranks, ties = _ranks(list(x) + list(y))
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    if not ties and n1 + n2 <= EXACT_LIMIT:
        counts = _exact_counts(n1, n2)
        total = sum(counts)
        k = min(u1, n1 * n2 - u1)
        tail = sum(counts[: int(k) + 1]) / total
        p = min(1.0, 2 * tail)
        method = "exact"
    else:
        n = n1 + n2
        tie_term = sum(t ** 3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
        variance = n1 * n2 / 12 * ((n + 1) - tie_term)
        if variance <= 0:
            p, method = 1.0, "normal"
        else:
            diff = u1 - mean
            diff = max(0.0, abs(diff) - 0.5)  # continuity correction
            z = diff / math.sqrt(variance)
            p = min(1.0, math.erfc(z / math.sqrt(2)))
            method = "normal"
    return {"u": u1, "p": p, "method": method, "probability": u1 / (n1 * n2)}


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def bootstrap_ratio(variant: Sequence[float], baseline: Sequence[float],
                    rounds: int = BOOTSTRAP_ROUNDS, seed: int = 20240601) -> tuple[float, float]:
    """95% percentile bootstrap interval of median(variant) / median(baseline)."""
    if not variant or not baseline:
        return math.nan, math.nan
    rng = random.Random(seed)
    ratios = []
    for _ in range(rounds):
        v = _median(rng.choices(variant, k=len(variant)))
        b = _median(rng.choices(baseline, k=len(baseline)))
        ratios.append(v / b if b else math.inf)
    ratios.sort()
    return quantile(ratios, 0.025), quantile(ratios, 0.975)


def compare(variant: Sequence[float], baseline: Sequence[float]) -> dict[str, object]:
    """The variant against the baseline: ratio of medians with its 95% interval, the
    Mann-Whitney test and the verdict (faster, slower, no significant difference at 95%)."""
    if len(variant) < 2 or len(baseline) < 2:
        return {"verdict": SAME, "reason": "too few samples to compare", "p": 1.0}
    test = mann_whitney(variant, baseline)
    mv, mb = _median(variant), _median(baseline)
    ratio = mv / mb if mb else math.inf
    low, high = bootstrap_ratio(variant, baseline)
    p = float(test["p"])
    verdict = SAME
    if p < ALPHA:
        verdict = FASTER if mv < mb else SLOWER if mv > mb else SAME
    return {"verdict": verdict, "p": p, "u": test["u"], "method": test["method"],
            "probability": test["probability"], "ratio": ratio, "ci": [low, high],
            "speedup": (mb / mv) if mv else math.inf, "alpha": ALPHA}


def recommend(variants: Sequence[dict[str, object]]) -> dict[str, object]:
    """The winner: a variant that is correct and significantly faster (the fastest of those)."""
    candidates = []
    for v in variants:
        comparison = v.get("comparison")
        if v.get("status") == "ok" and v.get("correct") is True and isinstance(comparison, dict) \
                and comparison.get("verdict") == FASTER:
            candidates.append((float(comparison.get("ratio", 1.0)), str(v.get("name"))))
    if candidates:
        ratio, winner = min(candidates)
        speed = f" ({1 / ratio:.2f}x, median time ratio {ratio:.3f})" if ratio else ""
        return {"winner": winner, "reason": f"{winner} returns the same results as the baseline "
                f"on every input and is significantly faster{speed}"}
    reasons = []
    for v in variants:
        name = v.get("name")
        comparison = v.get("comparison")
        if v.get("status") != "ok":
            reasons.append(f"{name}: {v.get('status')}")
        elif v.get("correct") is not True:
            reasons.append(f"{name}: results differ from the baseline")
        elif isinstance(comparison, dict):
            reasons.append(f"{name}: {comparison.get('verdict')}")
    why = "; ".join(reasons) or "no variants"
    return {"winner": None, "reason": f"keep the baseline: no variant is both correct and "
            f"significantly faster ({why})"}

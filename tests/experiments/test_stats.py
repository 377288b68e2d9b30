"""The statistics behind the verdicts (standard library only, no scipy): quantiles, the
Mann-Whitney U test (exact and normal approximation), the bootstrap interval, the
recommendation; and the SVG chart is well-formed."""

from __future__ import annotations

import math
import random
import statistics
import xml.etree.ElementTree as ET

import pytest

from devsandbox.agent.experiments import stats
from devsandbox.experiments import report


def test_quantiles_match_the_standard_library() -> None:
    rng = random.Random(1)
    values = sorted(rng.random() for _ in range(37))
    q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
    summary = stats.summary(values)
    assert summary["median"] == pytest.approx(med)
    assert summary["q1"] == pytest.approx(q1) and summary["q3"] == pytest.approx(q3)
    assert summary["iqr"] == pytest.approx(q3 - q1)


def test_mann_whitney_exact_values() -> None:
    # completely separated samples of 5: U = 0, p = 2 / C(10, 5)
    test = stats.mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert test["method"] == "exact" and test["u"] == 0
    assert test["p"] == pytest.approx(2 / math.comb(10, 5))
    # one swap: U = 1, P(U <= 1) = 2 / 252, two-sided 4 / 252
    assert stats.mann_whitney([1, 2, 3, 4, 6], [5, 7, 8, 9, 10])["p"] == pytest.approx(4 / 252)
    # the exact distribution of U sums to the number of orderings and is symmetric
    counts = stats._exact_counts(4, 6)
    assert sum(counts) == math.comb(10, 4) and counts == counts[::-1]


def test_mann_whitney_properties_and_the_normal_approximation() -> None:
    rng = random.Random(7)
    x = [rng.gauss(0, 1) for _ in range(18)]
    y = [rng.gauss(0.8, 1) for _ in range(19)]
    a, b = stats.mann_whitney(x, y), stats.mann_whitney(y, x)
    assert a["u"] + b["u"] == len(x) * len(y)
    assert a["p"] == pytest.approx(b["p"])
    # without ties, the exact and the normal p-values agree closely at this size
    stats_limit = stats.EXACT_LIMIT
    try:
        stats.EXACT_LIMIT = 0
        normal = stats.mann_whitney(x, y)
    finally:
        stats.EXACT_LIMIT = stats_limit
    assert normal["method"] == "normal" and a["method"] == "exact"
    assert normal["p"] == pytest.approx(a["p"], abs=0.01)
    # identical samples (all ties): no difference
    assert stats.mann_whitney([3] * 10, [3] * 10)["p"] == 1.0


def test_compare_gives_the_verdicts() -> None:
    rng = random.Random(3)
    base = [100 + rng.random() for _ in range(30)]
    assert stats.compare([50 + rng.random() for _ in range(30)], base)["verdict"] == "faster"
    assert stats.compare([150 + rng.random() for _ in range(30)], base)["verdict"] == "slower"
    same = stats.compare([100 + rng.random() for _ in range(30)], base)
    assert same["verdict"] == "no significant difference" and same["p"] > 0.05
    faster = stats.compare([50.0 + rng.random() for _ in range(30)], base)
    low, high = faster["ci"]
    assert low < faster["ratio"] < high and 0.45 < low and high < 0.55
    assert stats.compare([1.0], base)["verdict"] == "no significant difference"


def test_the_recommendation_needs_a_correct_and_faster_variant() -> None:
    fast = {"name": "fast", "status": "ok", "correct": True,
            "comparison": {"verdict": "faster", "ratio": 0.5}}
    faster_but_wrong = {"name": "wrong", "status": "ok", "correct": False,
                        "comparison": {"verdict": "faster", "ratio": 0.1}}
    fastest = dict(fast, name="fastest", comparison={"verdict": "faster", "ratio": 0.25})
    same = dict(fast, name="same", comparison={"verdict": "no significant difference"})
    assert stats.recommend([fast, faster_but_wrong])["winner"] == "fast"
    assert stats.recommend([fast, fastest, same])["winner"] == "fastest"
    nothing = stats.recommend([faster_but_wrong, same, {"name": "x", "status": "compile-error"}])
    assert nothing["winner"] is None
    assert "wrong: results differ" in nothing["reason"] and "x: compile-error" in nothing["reason"]


def test_the_chart_is_valid_svg_with_one_row_per_measured_arm() -> None:
    run = {"target": "m:f", "rounds": 3, "inputs": {"count": 2},
           "baseline": {"samples": [1000, 1100, 1050]},
           "variants": [{"name": "a<b", "samples": [10, 12, 11], "correct": True,
                         "comparison": {"verdict": "faster"}},
                        {"name": "none", "status": "compile-error"}]}
    root = ET.fromstring(report.svg(run))
    texts = [t.text for t in root.iter() if t.tag.endswith("text")]
    assert "baseline" in texts and "a<b" in texts and "none" not in texts
    assert any("log scale" in (t or "") for t in texts)  # 100x apart
    assert len([c for c in root.iter() if c.tag.endswith("circle")]) == 6
    empty = ET.fromstring(report.svg({"variants": []}))
    assert any(t.text == "no timings" for t in empty.iter() if t.tag.endswith("text"))

"""Drift scoring speed: 20 features × 500,000 current vs 500,000 reference rows.

15 numeric features (normal and lognormal, some shifted or rescaled) and 5 categorical ones (4 to 12
categories, one with a category the reference never saw). With more than 1000 reference rows the
default methods are ``wasserstein`` (numeric) and ``jensenshannon`` (categorical).

* **ours**: what the drift endpoint does per request: the reference profile (``Sample`` objects)
  is prepared once beforehand, and each run builds the current ``Sample`` of every feature from
  raw, unsorted arrays (``numeric_sample`` / ``categorical_from_values``) and calls
  ``drift_score`` with the default method.
* **baseline**: the same scores computed plainly with scipy from the raw arrays of both datasets:
  ``scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)``; for categoricals,
  value counts (``collections.Counter``, the fastest plain counting) and
  ``scipy.spatial.distance.jensenshannon`` on the proportions.

Both run in the same process, median of ``--repeat`` runs; the scores must agree to 1e-9.

``--binned-error`` instead measures the error of the histogram approximations of
``modeltower.drift.binned`` against the exact statistics on synthetic data (the figures of
docs/DRIFT.md).

    .venv/bin/python bench/bench_drift.py [--repeat 5] [--rows 500000] [--binned-error]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

import _common as c
from modeltower.drift import (
    STATTESTS,
    Sample,
    categorical_from_values,
    drift_score,
    numeric_sample,
)
from modeltower.drift.binned import (
    binned_ks_statistic,
    binned_sample,
    binned_score,
    reference_edges,
)
from modeltower.drift.ks import ks_statistic

TARGET_SECONDS = 1.3
N_NUMERIC = 15
N_CATEGORICAL = 5


@dataclass
class Feature:
    name: str
    kind: str  # "numeric" | "categorical"
    reference: np.ndarray
    current: np.ndarray


def make_features(rows: int, seed: int = 7) -> list[Feature]:
    rng = np.random.default_rng(seed)
    features = []
    for i in range(N_NUMERIC):
        shift = 0.15 if i % 3 == 0 else 0.0
        scale = 1.2 if i % 5 == 1 else 1.0
        if i % 2:
            ref = rng.lognormal(1.0, 0.6, rows)
            cur = rng.lognormal(1.0 + shift, 0.6 * scale, rows)
        else:
            ref = rng.normal(50.0, 10.0, rows)
            cur = rng.normal(50.0 + 10.0 * shift, 10.0 * scale, rows)
        features.append(Feature(f"num_{i}", "numeric", ref, cur))
    for i in range(N_CATEGORICAL):
        k = 4 + 2 * i  # 4, 6, 8, 10, 12 categories
        names = np.array([f"cat_{i}_{j}" for j in range(k)], dtype=object)
        p = rng.dirichlet(np.ones(k) * 5)
        ref = rng.choice(names, rows, p=p)
        q = p if i % 2 else rng.dirichlet(np.ones(k) * 5)
        cur = rng.choice(names, rows, p=q)
        if i == N_CATEGORICAL - 1:
            cur[rng.random(rows) < 0.02] = f"cat_{i}_new"  # never seen in the reference
        features.append(Feature(f"cat_{i}", "categorical", ref, cur))
    return features


def run_ours(features: list[Feature], profile: dict[str, Sample]) -> dict[str, float]:
    scores = {}
    for f in features:
        if f.kind == "numeric":
            cur = numeric_sample(f.current)
            result = drift_score(profile[f.name], cur, "numeric")
        else:
            cur = categorical_from_values(f.current)
            result = drift_score(profile[f.name], cur, "categorical")
        scores[f.name] = result.score
    return scores


def run_baseline(features: list[Feature]) -> dict[str, float]:
    scores = {}
    for f in features:
        if f.kind == "numeric":
            norm = max(float(np.std(f.reference)), 0.001)
            scores[f.name] = float(stats.wasserstein_distance(f.reference, f.current)) / norm
        else:
            ref_counts, cur_counts = Counter(f.reference.tolist()), Counter(f.current.tolist())
            keys = sorted(set(ref_counts) | set(cur_counts))
            p = np.array([ref_counts[k] for k in keys]) / f.reference.size
            q = np.array([cur_counts[k] for k in keys]) / f.current.size
            scores[f.name] = float(distance.jensenshannon(p, q))
    return scores


def timed(fn: Callable[[], dict[str, float]], repeat: int) -> tuple[float, dict[str, float]]:
    times, result = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return c.median(times), result


def speed(rows: int, repeat: int, json_path: Path | None = None) -> None:
    print(f"code: {c.code_version()}")
    print(f"{N_NUMERIC + N_CATEGORICAL} features × {rows:,} current vs {rows:,} reference rows")
    features = make_features(rows)
    start = time.perf_counter()
    profile = {
        f.name: numeric_sample(f.reference)
        if f.kind == "numeric"
        else categorical_from_values(f.reference)
        for f in features
    }
    print(f"reference profile prepared once in {time.perf_counter() - start:.2f} s")

    # Alternate the two so that machine noise hits both alike.
    ours_t, base_t = [], []
    ours: dict[str, float] = {}
    base: dict[str, float] = {}
    for _ in range(repeat):
        t, ours = timed(lambda: run_ours(features, profile), 1)
        ours_t.append(t)
        t, base = timed(lambda: run_baseline(features), 1)
        base_t.append(t)
    for name, score in ours.items():
        ref = base[name]
        if abs(score - ref) > 1e-9 * max(1.0, abs(ref)):
            raise SystemExit(f"score mismatch on {name}: ours {score!r} vs baseline {ref!r}")
    drifted = sum(
        STATTESTS["wasserstein" if n.startswith("num") else "jensenshannon"].default_threshold <= s
        for n, s in ours.items()
    )
    print(f"scores agree to 1e-9 on all {len(ours)} features ({drifted} drifted)")
    print()
    t_ours, t_base = c.median(ours_t), c.median(base_t)
    rows_out: list[list[Any]] = [
        [
            "drift, 20 features, default methods",
            t_ours,
            t_base,
            t_ours / t_base,
            TARGET_SECONDS,
            "yes" if t_ours <= TARGET_SECONDS else "NO",
        ]
    ]
    headers = ["measure", "ours s", "baseline s", "ours/baseline", "target s", "within target"]
    c.print_table(headers, rows_out)
    if json_path:
        c.write_json(json_path, headers, rows_out, n_rows=rows, repeat=repeat, drifted=drifted)


# --------------------------------------------------------------------------------------------
# Error of the binned approximations
# --------------------------------------------------------------------------------------------

SHAPES = ["normal", "lognormal", "mixture", "zero-inflated", "integer", "wide integer"]
# (shift in reference standard deviations, scale around the centre)
DRIFTS = [(0, 1), (0.05, 1), (0.1, 1), (0.2, 1), (0.5, 1), (0, 1.1), (0, 1.3), (0, 0.8), (0.3, 1.2)]
SIZES = [1_000, 10_000, 200_000]
BINNED_METHODS = ["wasserstein", "ks", "psi", "kl_div", "jensenshannon", "hellinger"]


def synthetic(
    rng: np.random.Generator, shape: str, n: int, shift: float = 0.0, scale: float = 1.0
) -> np.ndarray:
    """Draws of one of the test shapes, optionally rescaled around its centre and shifted."""
    centre, sd = 0.0, 1.0
    if shape == "normal":
        x = rng.normal(0, 1, n)
    elif shape == "lognormal":
        x, centre, sd = rng.lognormal(0, 1, n), 1.0, 2.16
    elif shape == "mixture":
        x = np.where(rng.random(n) < 0.3, rng.normal(-2, 0.5, n), rng.normal(1, 1, n))
        centre, sd = 0.5, 1.5
    elif shape == "zero-inflated":
        x, sd = np.where(rng.random(n) < 0.4, 0.0, rng.gamma(2, 10, n)), 15.0
    elif shape == "integer":
        x, centre, sd = rng.poisson(30, n).astype(float), 30.0, 5.5
    elif shape == "wide integer":
        x, centre, sd = rng.poisson(400, n).astype(float), 400.0, 20.0
    else:
        raise ValueError(shape)
    y = (x - centre) * scale + centre + shift * sd
    if "integer" in shape:
        y = np.round(y)
    return y


def binned_errors(seed: int = 0) -> list[tuple[Any, ...]]:
    """(method, shape, n_ref, n_cur, shift, scale, exact, binned, exact verdict, binned verdict);
    for ks the scores are the statistic D, the verdicts those of the p-values."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in SHAPES:
        for n_ref in SIZES:
            ref = numeric_sample(synthetic(rng, shape, n_ref))
            edges = reference_edges(ref)
            assert edges is not None
            ref_binned, ref_std = binned_sample(ref, edges), ref.std()
            for shift, scale in DRIFTS:
                for n_cur in SIZES:
                    cur = numeric_sample(synthetic(rng, shape, n_cur, shift, scale))
                    cur_binned = binned_sample(cur, edges)
                    for m in BINNED_METHODS:
                        t = STATTESTS[m].default_threshold
                        exact, exact_v = STATTESTS[m].func(ref, cur, "numeric", t)
                        approx, approx_v = binned_score(
                            m, ref_binned, cur_binned, edges, ref_std, "numeric", t
                        )
                        if m == "ks":
                            exact = ks_statistic(ref, cur)
                            approx = binned_ks_statistic(ref_binned, cur_binned, edges)
                        row = (m, shape, n_ref, n_cur, shift, scale, exact, approx)
                        out.append((*row, exact_v, approx_v))
    return out


def _error_table(rows: list[tuple[Any, ...]]) -> None:
    table = []
    for m in BINNED_METHODS:
        mine = [r for r in rows if r[0] == m]
        err = np.array([abs(r[7] - r[6]) for r in mine])
        t = STATTESTS[m].default_threshold
        near = np.array([abs(r[7] - r[6]) for r in mine if m == "ks" or r[6] <= 2 * t])
        disagree = [r for r in mine if r[8] != r[9]]
        # How close to the threshold the exact score is where the verdicts differ.
        margin = "-" if m == "ks" else max((abs(r[6] - t) for r in disagree), default=0.0)
        table.append(
            [
                m + (" (D)" if m == "ks" else ""),
                float(np.median(err)),
                float(np.quantile(err, 0.95)),
                float(err.max()),
                float(near.max()),
                f"{len(disagree)}/{len(mine)}",
                margin,
            ]
        )
    headers = [
        "method",
        "median |err|",
        "p95 |err|",
        "max |err|",
        "max |err|, exact<=2t",
        "verdicts differ",
        "max |exact-t| there",
    ]
    cells = [[r[0], *(f"{x:.4f}" if isinstance(x, float) else x for x in r[1:])] for r in table]
    c.print_table(headers, cells)


def moved_point_mass(row: tuple[Any, ...]) -> bool:
    """The zero-inflated shape shifted: its 40 % of zeros land on a value the reference never
    had, inside one bin, which no histogram can locate."""
    return bool(row[1] == "zero-inflated" and row[4] != 0)


def binned_error_report() -> None:
    start = time.perf_counter()
    rows = binned_errors()
    print(
        f"{len(rows) // len(BINNED_METHODS)} comparisons per method: {len(SHAPES)} shapes × "
        f"reference and current sizes {SIZES} × {len(DRIFTS)} drifts "
        f"({time.perf_counter() - start:.1f} s); ks compares the statistic D"
    )
    print()
    print("all comparisons:")
    _error_table(rows)
    print()
    print("without a moved point mass (zero-inflated data shifted):")
    _error_table([r for r in rows if not moved_point_mass(r)])
    print()
    print("largest wasserstein and ks (D) errors by shape:")
    shape_rows = []
    for shape in SHAPES:
        w = max(abs(r[7] - r[6]) for r in rows if r[0] == "wasserstein" and r[1] == shape)
        d = max(abs(r[7] - r[6]) for r in rows if r[0] == "ks" and r[1] == shape)
        shape_rows.append([shape, f"{w:.4f}", f"{d:.4f}"])
    c.print_table(["shape", "wasserstein", "ks D"], shape_rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--binned-error", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the speed table to this JSON file")
    args = ap.parse_args()
    if args.binned_error:
        binned_error_report()
    else:
        speed(args.rows, args.repeat, args.json)


if __name__ == "__main__":
    main()

"""How often the drift report cries wolf: false alarms on unshifted data, and its speed.

The reference is the feature table of a synthetic base at a cutoff (with the oracle's churn
probability as the prediction), as training would store it. Unshifted populations are compared with
it in two ways:

- bootstrap samples of the reference population (`--sizes`, `--replicates`): the same customers
  drawn again, the variation a monitoring run sees from sampling alone;
- fresh bases from other seeds at the same cutoff (`--fresh-seeds`): new customers from the same
  generator, a stricter check because nothing is shared with the reference.

For each it prints the false-alarm rate (share of reports flagged overall), the share of feature
records flagged, and the 95th and 99th percentiles of the largest PSI of a report. Then, for
contrast, the same base half a year later without a shift (seasonal drift only) and with each
drift scenario of `clvchurn data synth --shift-after` at its default size: whether the report is
flagged and which features reach the watch band (the prediction here is the oracle's probability,
which a price or engagement shift leaves unchanged; a trained model's would move). With `--speed-rows N` it also times
`drift_report` and `migration` on N rows resampled from the reference (the 1M-customer target).

    .venv/bin/python benchmarks/bench_drift_false_alarms.py
    .venv/bin/python benchmarks/bench_drift_false_alarms.py --customers 20000 --replicates 200 \\
        --speed-rows 1000000
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.vocabulary import LIFECYCLE_STAGES, TIERS
from features.build import build_features, feature_columns
from features.synth import SHIFT_KINDS, SyntheticBase, SyntheticShift, generate, oracle_churn_probability
from model_contract.distribution import reference_distribution
from monitoring import MonitoringSettings, drift_report, migration

CUTOFF = datetime(2025, 1, 1)
LATER = datetime(2025, 7, 1)


def population(base: SyntheticBase, as_of: datetime = CUTOFF) -> pl.DataFrame:
    churn = oracle_churn_probability(base.ground_truth, as_of, 180)
    return build_features(base.raw, as_of).join(churn, on="customer_id", how="left")


def scenarios(customers: int, seed: int, reference: dict[str, Any]) -> None:
    print(f"half a year later ({LATER:%Y-%m-%d}), shifts from {CUTOFF:%Y-%m-%d}:")
    for kind in (None, *SHIFT_KINDS):
        shift = None if kind is None else SyntheticShift(kind, CUTOFF.date())
        report = drift_report(population(generate(customers, seed=seed, shift=shift), LATER), reference)
        moved = sorted((f for f in report["features"] if f["level"] != "stable"), key=lambda f: -f["value"])
        label = "no shift" if shift is None else f"{kind} x {shift.effective_factor:g}"
        print(
            f"  {label:<18} flagged {report['flagged']!s:<5} prediction PSI "
            f"{report['prediction']['value']:.3f}  watch or flagged: "
            + (", ".join(f"{f['name']} {f['value']:.2f}" for f in moved) or "none")
        )


def summary(label: str, reports: list[dict[str, Any]]) -> None:
    flagged = np.mean([report["flagged"] for report in reports])
    features_flagged = np.mean([f["flagged"] for report in reports for f in report["features"]])
    largest = [max(f["value"] for f in report["features"]) for report in reports]
    p95, p99 = np.quantile(largest, [0.95, 0.99])
    print(
        f"  {label:<34} {len(reports):>4} reports  false alarms {flagged:6.1%}  "
        f"feature flags {features_flagged:6.2%}  largest PSI p95 {p95:.4f} p99 {p99:.4f}"
    )


def speed(reference_population: pl.DataFrame, reference: dict[str, Any], rows: int) -> None:
    rng = np.random.default_rng(1)
    big = reference_population[rng.integers(0, reference_population.height, rows)]
    started = time.perf_counter()
    drift_report(big, reference)
    drifted = time.perf_counter() - started

    ids = pl.Series("customer_id", [f"C{i:08d}" for i in range(rows)])

    def snapshot() -> pl.DataFrame:
        return pl.DataFrame(
            {
                "customer_id": ids,
                "tier": rng.choice(TIERS, rows),
                "lifecycle_stage": rng.choice(LIFECYCLE_STAGES, rows),
                "predicted_value": rng.gamma(1.0, 500.0, rows),
            }
        )

    earlier, later = snapshot(), snapshot().sample(fraction=1.0, shuffle=True, seed=2)
    started = time.perf_counter()
    migration(earlier, later)
    migrated = time.perf_counter() - started
    print(
        f"speed on {rows:,} rows x {len(reference['features'])} features: drift_report {drifted:.2f} s, "
        f"migration {migrated:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000, help="Customers of the reference base.")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 5_000], help="Bootstrap sample sizes."
    )
    parser.add_argument("--replicates", type=int, default=200, help="Bootstrap samples per size.")
    parser.add_argument("--fresh-seeds", type=int, default=10, help="Independent bases at the same cutoff.")
    parser.add_argument(
        "--speed-rows", type=int, default=0, help="Time drift and migration on this many rows."
    )
    args = parser.parse_args()

    settings = MonitoringSettings()
    reference_population = population(generate(args.customers, seed=args.seed))
    names = [name for name in feature_columns(reference_population) if name != "churn_probability"]
    reference = reference_distribution(reference_population, names, predictions=["churn_probability"])
    print(
        f"reference: {reference_population.height:,} customers at {CUTOFF:%Y-%m-%d} (seed {args.seed}), "
        f"{len(names)} features + churn_probability; PSI watch {settings.psi_watch}, flagged "
        f"{settings.psi_flagged}, overall when a prediction, a key feature or "
        f"{settings.drift_flagged_share:.0%} of the features are flagged"
    )

    rng = np.random.default_rng(args.seed + 1)
    for size in args.sizes:
        reports = [
            drift_report(reference_population[rng.integers(0, reference_population.height, size)], reference)
            for _ in range(args.replicates)
        ]
        summary(f"bootstrap samples of {size:,}", reports)
    fresh = [
        drift_report(population(generate(args.customers, seed=args.seed + 100 + k)), reference)
        for k in range(args.fresh_seeds)
    ]
    summary(f"fresh bases of {args.customers:,} customers", fresh)
    scenarios(args.customers, args.seed, reference)
    if args.speed_rows:
        speed(reference_population, reference, args.speed_rows)


if __name__ == "__main__":
    main()

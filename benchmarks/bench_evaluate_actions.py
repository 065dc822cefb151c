"""`clvchurn evaluate actions` speed, and what the evaluation and the uplift models recover of a known truth.

Part `timing` (the issue's target: 1M customers with 100k actions in at most 30 s): random transactions
(about ten per customer over two years) and 100k actions of the default playbook assigned at four dates
with 10% control groups; prints the wall seconds of `policy.evaluation.evaluate_actions`.

Part `truth`: synthetic campaigns (`training.uplift.campaigns`) on a synthetic base, then per action the
measured uplift with its 95% interval against the true effect (mean of success with minus success without
the action over the assigned customers whose window closed), and, for the actions with an uplift model, the
Qini coefficient against the truth on the validation campaign (which the models never saw) of three
targetings: by uplift, by churn probability and by value at risk (churn x value if retained, the oracle's).

    .venv/bin/python benchmarks/bench_evaluate_actions.py --part timing --customers 1000000 --actions 100000
    .venv/bin/python benchmarks/bench_evaluate_actions.py --part truth --customers 8000 --control-share 0.5
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.actions_contract import ACTIONS_SCHEMA
from policy.evaluation import evaluate_actions
from policy.experiments import ControlAssigner
from policy.playbook import Playbook

START = datetime(2023, 7, 1)
DATES = (datetime(2024, 10, 1), datetime(2025, 1, 15), datetime(2025, 5, 1), datetime(2025, 8, 15))
AS_OF = datetime(2026, 1, 1)


def timing(customers: int, actions: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    playbook = Playbook.load()
    orders = rng.poisson(10, customers)
    owner = np.repeat(np.arange(customers), orders)
    seconds = rng.integers(0, int((AS_OF - START).total_seconds()), owner.size)
    transactions = pl.DataFrame(
        {
            "customer_id": pl.Series(owner).cast(pl.String),
            "timestamp": pl.Series(np.datetime64(START, "us") + seconds.astype("timedelta64[s]")),
            "amount": rng.gamma(2.0, 40.0, owner.size),
        }
    ).sort("timestamp")
    rules = [rule for rule in playbook.rules if rule.action.success is not None]
    chosen = rng.choice(customers, actions, replace=False)
    picked = rng.integers(0, len(rules), actions)
    action_frame = pl.DataFrame(
        {
            "customer_id": pl.Series(chosen).cast(pl.String),
            "action_id": [rules[i].action.id for i in picked],
            "assigned_at": [DATES[i] for i in rng.integers(0, len(DATES), actions)],
            "group": np.where(rng.random(actions) < 0.1, "control", "treatment"),
            "rule_id": [rules[i].id for i in picked],
            "tier": rng.choice(["A", "B", "C", "D"], actions),
        }
    )
    action_frame = action_frame.with_columns(
        [
            pl.lit(None, dtype=dtype).alias(n)
            for n, dtype in ACTIONS_SCHEMA.items()
            if n not in action_frame.columns
        ]
    ).select([pl.col(n).cast(dtype) for n, dtype in ACTIONS_SCHEMA.items()])
    print(f"{customers:,} customers, {transactions.height:,} transactions, {action_frame.height:,} actions")
    started = time.perf_counter()
    evaluation = evaluate_actions(action_frame, transactions, playbook, AS_OF, 90)
    elapsed = time.perf_counter() - started
    print(f"evaluate_actions: {elapsed:.1f} s for {len(evaluation.actions)} actions (target: at most 30 s)")


def truth(customers: int, control_share: float, seed: int, min_per_group: int) -> None:
    from features.build import build_features, data_end
    from features.synth import generate
    from model_contract import to_model_frame
    from training.dataset import learn_categorical_levels
    from training.uplift.campaigns import run_synthetic_campaigns
    from training.uplift.dataset import outcome_rows, with_features
    from training.uplift.fit import fit_uplift_models
    from training.uplift.metrics import qini_coefficient, truth_curve

    playbook = Playbook.load()
    started = time.perf_counter()
    campaigns = run_synthetic_campaigns(
        generate(customers, seed),
        playbook,
        ControlAssigner(b"bench", 90),
        seed=seed,
        control_share=control_share,
    )
    end = data_end(campaigns.raw)
    assert end is not None
    print(
        f"{customers:,} customers, {campaigns.actions.height:,} actions at {len(campaigns.dates)} dates, "
        f"control share {control_share} ({time.perf_counter() - started:.0f} s)"
    )
    evaluation = evaluate_actions(campaigns.actions, campaigns.raw.transactions, playbook, end, 90)
    closed = campaigns.truth.filter(pl.col("closed"))
    effects = dict(
        closed.group_by("action_id")
        .agg((pl.col("success_with").cast(pl.Float64) - pl.col("success_without").cast(pl.Float64)).mean())
        .iter_rows()
    )
    print("\n| action | treated | control | uplift | 95% interval | true effect | covered |")
    print("|---|---:|---:|---:|---|---:|---|")
    for figures in evaluation.actions:
        true = effects.get(figures.action_id)
        if figures.uplift is None:
            print(
                f"| {figures.action_id} | {figures.n_treatment:,} | 0 | n/a (no control) | | {true:+.3f} | |"
            )
            continue
        low, high = figures.uplift_ci_low, figures.uplift_ci_high
        assert low is not None and high is not None and true is not None
        covered = "yes" if low <= true <= high else "no"
        print(
            f"| {figures.action_id} | {figures.n_treatment:,} | {figures.n_control:,} | {figures.uplift:+.3f} | "
            f"[{low:+.3f}, {high:+.3f}] | {true:+.3f} | {covered} |"
        )
    features = build_features(campaigns.raw, end)
    names = [name for name in features.columns if name not in ("customer_id", "as_of")]
    levels = learn_categorical_levels(features, names)
    started = time.perf_counter()
    fit = fit_uplift_models(
        campaigns.actions, campaigns.raw, playbook, end, names, levels, min_per_group=min_per_group
    )
    print(f"\nUplift models fitted for {sorted(fit.bundles)} in {time.perf_counter() - started:.0f} s")
    rows = with_features(outcome_rows(campaigns.actions, campaigns.raw, playbook, end), campaigns.raw)
    known = campaigns.truth.select(
        "customer_id",
        "action_id",
        "assigned_at",
        (pl.col("success_with").cast(pl.Float64) - pl.col("success_without").cast(pl.Float64)).alias(
            "effect"
        ),
        "oracle_churn_probability",
        (pl.col("oracle_churn_probability") * pl.col("oracle_value_if_retained")).alias("value_at_risk"),
    )
    rows = rows.join(known, on=["customer_id", "action_id", "assigned_at"])
    print("\nQini against the truth on the validation campaign (higher is better)")
    print("| action | learner | customers | uplift targeting | churn probability | value at risk |")
    print("|---|---|---:|---:|---:|---:|")
    for action_id, bundle in sorted(fit.bundles.items()):
        part = rows.filter(
            (pl.col("action_id") == action_id) & (pl.col("cutoff") >= bundle.metadata.backtest_as_of)
        )
        uplift = bundle.scorer.predict(to_model_frame(part, names, levels))
        effect = part["effect"].to_numpy()
        scores = [
            qini_coefficient(truth_curve(score, effect))
            for score in (
                uplift,
                part["oracle_churn_probability"].to_numpy(),
                part["value_at_risk"].to_numpy(),
            )
        ]
        print(
            f"| {action_id} | {bundle.metadata.learner} | {part.height:,} | "
            + " | ".join(f"{score:.4f}" for score in scores)
            + " |"
        )
    for action_id, reason in sorted(fit.skipped.items()):
        print(f"  no model for {action_id}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["timing", "truth"], default="timing")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--control-share", type=float, default=0.5)
    parser.add_argument("--min-per-group", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads, {datetime.now():%Y-%m-%d %H:%M}")
    if args.part == "timing":
        timing(args.customers, args.actions, args.seed)
    else:
        truth(args.customers, args.control_share, args.seed, args.min_per_group)


if __name__ == "__main__":
    main()

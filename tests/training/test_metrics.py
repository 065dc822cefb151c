"""Metrics on arrays small enough to work out by hand."""

import math

import numpy as np
import pytest

from domain.errors import MetricInputError
from training.metrics import (
    brier,
    calibration_curve_data,
    cumulative_gain_curve,
    decile_table,
    expected_calibration_error,
    lift_at,
    mae,
    normalized_gini,
    pr_auc,
    probability_metrics,
    rmse,
    roc_auc,
    spearman,
    top_share,
    total_error_pct,
    value_metrics,
)


def test_gini_is_one_for_the_perfect_order_and_minus_one_reversed() -> None:
    actual = [1.0, 2.0, 3.0, 4.0]
    assert normalized_gini(actual, [10, 20, 30, 40]) == pytest.approx(1.0)
    assert normalized_gini(actual, [40, 30, 20, 10]) == pytest.approx(-1.0)


def test_gini_of_a_partly_wrong_order_worked_by_hand() -> None:
    # order by prediction: 4, 3, 1, 2 -> cumulative shares .4 .7 .8 1.0, mean .725, minus 5/8 = .100;
    # perfect order: .4 .7 .9 1.0, mean .75 - .625 = .125; normalized .100 / .125 = 0.8
    assert normalized_gini([4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 1.0, 2.0]) == pytest.approx(0.8)


def test_gini_averages_over_tied_predictions() -> None:
    # a stable sort would rank the buyer first and score 1; averaging over both orders gives 0
    assert normalized_gini([1.0, 0.0], [0.5, 0.5]) == pytest.approx(0.0)


def test_ece_is_zero_when_each_bin_is_calibrated() -> None:
    assert expected_calibration_error([0, 1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5, 1.0]) == pytest.approx(0.0)


def test_ece_worked_by_hand() -> None:
    # bins: 0.85 x2 (rate 1) -> |1 - .85| * 2/4 = .075; 0.15 (rate 0) -> .15/4 = .0375;
    # 0.35 (rate 0) -> .35/4 = .0875; total .2
    assert expected_calibration_error([1, 1, 0, 0], [0.85, 0.85, 0.15, 0.35]) == pytest.approx(0.2)


def test_ece_with_one_bin_compares_the_overall_rates() -> None:
    assert expected_calibration_error([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], n_bins=1) == pytest.approx(0.25)


def test_ece_quantile_bins_hold_equal_counts() -> None:
    # quantile edges [.1, .2, .9] split {.1, .2} | {.8, .9}: |0 - .15| * .5 + |1 - .85| * .5
    assert expected_calibration_error(
        [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2, strategy="quantile"
    ) == pytest.approx(0.15)


def test_lift_on_ten_customers() -> None:
    y = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    p = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    assert lift_at(y, p, 0.1) == pytest.approx(1.0 / 0.2)
    assert lift_at(y, p, 0.3) == pytest.approx((1 / 3) / 0.2)
    assert lift_at(y, p, 1.0) == pytest.approx(1.0)


def test_lift_counts_a_tie_at_the_cut_by_its_expected_positives() -> None:
    # all scores tie: the top customer is a churner with probability 2/4, lift 0.5 / 0.5
    assert lift_at([1, 1, 0, 0], [0.3, 0.3, 0.3, 0.3], 0.25) == pytest.approx(1.0)


def test_brier_roc_and_average_precision() -> None:
    y = [0, 0, 1, 1]
    p = [0.1, 0.4, 0.35, 0.8]
    assert brier(y, p) == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert roc_auc(y, p) == pytest.approx(0.75)
    # thresholds .8: precision 1, recall .5; .35: precision 2/3, recall 1 -> .5 * 1 + .5 * 2/3
    assert pr_auc(y, p) == pytest.approx(0.5 + 1 / 3)


def test_churn_metrics_has_the_agreed_keys() -> None:
    report = probability_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert list(report) == ["roc_auc", "pr_auc", "brier", "ece", "lift_top10"]
    assert report["lift_top10"] == pytest.approx(2.0)


def test_churn_metrics_reject_one_class_and_out_of_range_probabilities() -> None:
    with pytest.raises(MetricInputError, match="both outcomes"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(MetricInputError, match="probabilities"):
        brier([0, 1], [0.2, 1.3])
    with pytest.raises(MetricInputError, match="3 rows"):
        mae([1, 2, 3], [1, 2])


def test_calibration_curve_data_returns_predicted_then_observed() -> None:
    predicted, observed = calibration_curve_data([0, 1, 1, 1], [0.15, 0.15, 0.85, 0.85], n_bins=2)
    np.testing.assert_allclose(predicted, [0.15, 0.85])
    np.testing.assert_allclose(observed, [0.5, 1.0])


def test_error_metrics_worked_by_hand() -> None:
    actual = [10.0, 0.0, 30.0]
    predicted = [12.0, 3.0, 24.0]
    assert mae(actual, predicted) == pytest.approx((2 + 3 + 6) / 3)
    assert rmse(actual, predicted) == pytest.approx(math.sqrt((4 + 9 + 36) / 3))
    assert total_error_pct(actual, predicted) == pytest.approx(100 * (39 - 40) / 40)


def test_spearman_is_one_for_a_monotone_prediction_and_nan_for_a_constant_one() -> None:
    assert spearman([1.0, 5.0, 2.0], [10.0, 90.0, 11.0]) == pytest.approx(1.0)
    assert math.isnan(spearman([1.0, 5.0, 2.0], [3.0, 3.0, 3.0]))


def test_top_share_of_ten_customers() -> None:
    actual = [50.0, 0.0, 0.0, 10.0, 0.0, 0.0, 20.0, 0.0, 20.0, 0.0]
    assert top_share(actual, actual) == pytest.approx(0.5)
    assert top_share(actual, [0, 9, 0, 0, 0, 0, 0, 0, 0, 0]) == pytest.approx(0.0)
    assert top_share(actual, [1.0] * 10, 0.2) == pytest.approx(0.2)


def test_value_metrics_has_the_agreed_keys() -> None:
    report = value_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0])
    assert list(report) == ["gini", "spearman", "mae", "rmse", "total_error_pct", "top10_share"]
    assert report["gini"] == pytest.approx(1.0)
    assert report["top10_share"] == pytest.approx(0.4)


def test_decile_table_on_twenty_customers() -> None:
    actual = np.arange(20, dtype=float)  # customer i spends i
    table = decile_table(actual, actual)
    assert table.columns == [
        "decile",
        "customers",
        "mean_predicted",
        "mean_actual",
        "share_of_actual",
        "cumulative_share",
    ]
    assert table["customers"].to_list() == [2] * 10
    assert table["mean_actual"].to_list()[:2] == [18.5, 16.5]
    assert table["share_of_actual"][0] == pytest.approx(37 / 190)
    assert table["cumulative_share"][-1] == pytest.approx(1.0)


def test_cumulative_gain_curve_starts_at_zero_and_ends_at_one() -> None:
    customers, gains = cumulative_gain_curve([1.0, 3.0, 0.0, 0.0], [0.2, 0.9, 0.1, 0.1])
    np.testing.assert_allclose(customers, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(gains, [0, 0.75, 1.0, 1.0, 1.0])

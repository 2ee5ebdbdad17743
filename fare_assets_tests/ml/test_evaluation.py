"""The Champion rule: promote only when the Challenger wins by more than resampling noise."""

import numpy as np

from fare_assets.ml.evaluation import decide_champion, paired_bootstrap_mae_difference, regression_metrics

rng = np.random.default_rng(7)
ACTUAL = rng.gamma(3.0, 4.0, 4000)
NOISE = rng.normal(0, 2.0, 4000)


def test_no_champion_means_the_challenger_is_promoted():
    decision = decide_champion(ACTUAL, ACTUAL + NOISE, None)
    assert decision.promote and decision.reason == "no Champion yet"


def test_a_clearly_better_challenger_is_promoted():
    decision = decide_champion(ACTUAL, ACTUAL + 0.5 * NOISE, ACTUAL + NOISE)
    assert decision.promote
    assert decision.interval_high < 0 and decision.challenger_mae < decision.champion_mae


def test_a_worse_challenger_keeps_the_champion():
    decision = decide_champion(ACTUAL, ACTUAL + 1.5 * NOISE, ACTUAL + NOISE)
    assert not decision.promote and decision.interval_low > 0


def test_a_challenger_better_only_within_noise_keeps_the_champion():
    # Like two refits on different subsamples: errors differ trip by trip, MAE by half a cent.
    champion = ACTUAL + NOISE
    refit_error = NOISE + rng.normal(0, 0.5, len(ACTUAL))
    refit_error *= (np.abs(NOISE).mean() - 0.005) / np.abs(refit_error).mean()
    challenger = ACTUAL + refit_error
    decision = decide_champion(ACTUAL, challenger, champion)
    assert decision.challenger_mae < decision.champion_mae
    assert not decision.promote
    assert decision.interval_low < 0 < decision.interval_high
    assert "not better by more than noise" in decision.reason


def test_the_bootstrap_is_reproducible_and_centered_on_the_observed_difference():
    first = paired_bootstrap_mae_difference(ACTUAL, ACTUAL + NOISE, ACTUAL + 1.1 * NOISE)
    assert first == paired_bootstrap_mae_difference(ACTUAL, ACTUAL + NOISE, ACTUAL + 1.1 * NOISE)
    mean, low, high = first
    assert low < mean < high


def test_metrics_match_their_definitions():
    metrics = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 5.0]))
    assert metrics["mae"] == 1.0
    assert np.isclose(metrics["rmse"], np.sqrt(5 / 3))
    assert np.isclose(metrics["r2"], 1 - 5 / 2)


def test_better_is_a_one_sided_question_asked_with_95_percent_confidence():
    """A Challenger 1.8 standard errors better: below zero one-sided at 95% (z > 1.645), though a
    two-sided 95% interval (z < 1.96) would still reach above zero."""
    n, spread = 4000, 1.0
    standard_error = spread / np.sqrt(n)
    difference = np.random.default_rng(3).normal(0, 1, n)
    difference = (difference - difference.mean()) / difference.std() * spread - 1.8 * standard_error
    actual, champion = np.zeros(n), np.full(n, 10.0)  # absolute errors: 10, and 10 + difference
    decision = decide_champion(actual, champion + difference, champion)
    assert decision.promote and "95% confidence" in decision.reason
    assert decision.interval_high < 0 < decision.mae_difference + 1.96 * standard_error

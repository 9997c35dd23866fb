"""search_tools.report: the Pareto front, the error EDF and RegNet's bootstrap against hand-computed numbers."""
import numpy as np
import pytest

from search_tools.report import bootstrap_best, error_edf, pareto_front, shares


def test_pareto_front_hand_computed():
    # (GFLOPs, Hard AP): #1 is beaten by #0 (fewer FLOPs, higher AP); #3 by #2 (same FLOPs, lower AP);
    # #4 by #2 (more FLOPs, same AP); #0, #2, #5 form the front, AP rising with FLOPs
    gflops = [1.0, 1.5, 2.0, 2.0, 2.5, 3.0]
    hard = [0.50, 0.40, 0.60, 0.55, 0.60, 0.70]
    assert pareto_front(gflops, hard) == [0, 2, 5]
    # one model: it is the front; identical twins are both on it (neither is strictly better)
    assert pareto_front([2.0], [0.1]) == [0]
    assert pareto_front([2.0, 2.0], [0.3, 0.3]) == [0, 1]
    with pytest.raises(ValueError, match='equal 1-d shapes'):
        pareto_front([1.0, 2.0], [0.5])


def test_error_edf_is_the_step_function_of_errors():
    errors, cdf = error_edf([0.9, 0.6, 0.75, 0.6])
    np.testing.assert_allclose(errors, [0.1, 0.25, 0.4, 0.4])
    np.testing.assert_allclose(cdf, [0.25, 0.5, 0.75, 1.0])


def test_bootstrap_best_matches_the_order_statistics():
    # scores increase with the statistic, so the best of a resample is the one with the largest index drawn.
    # 8 models, resamples of round(0.25 * 8) = 2 drawn with replacement:
    #   P(best index <= k) = ((k + 1) / 8) ** 2  ->  k=0: 1/64, k=1: 4/64, k=2: 9/64, k=3: 16/64, k=4: 25/64,
    #   k=5: 36/64 (first >= 0.5 -> median = stat[5]), k=6: 49/64, k=7: 1 (first >= 0.975 -> high = stat[7]);
    #   2.5 %: 1/64 = 0.016 < 0.025 <= 4/64 -> low = stat[1]
    stat = np.array([0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    out = bootstrap_best(stat, scores, fraction=0.25, repeats=20000, seed=1)
    assert int(out['sample_size']) == 2
    assert out['median'][0] == pytest.approx(0.60)
    assert out['low'][0] == pytest.approx(0.20)
    assert out['high'][0] == pytest.approx(0.80)
    assert out['best'][0] == pytest.approx(0.80)

    # several statistics at once, the best model's second statistic constant: its interval collapses
    two = np.stack([stat, np.full(8, 0.33)], axis=1)
    out2 = bootstrap_best(two, scores, repeats=5000, seed=0)
    assert out2['median'].shape == (2,)
    assert out2['low'][1] == out2['high'][1] == pytest.approx(0.33)

    # fraction 1/8 -> resamples of one model: every model equally likely to be "best";
    # quantiles of the uniform over the 8 values: 0.025 -> stat[0], 0.5 -> stat[3], 0.975 -> stat[7]
    one = bootstrap_best(stat, scores, fraction=0.125, repeats=20000, seed=2)
    assert (one['low'][0], one['median'][0], one['high'][0]) == pytest.approx((0.1, 0.4, 0.8))

    with pytest.raises(ValueError, match='statistics for'):
        bootstrap_best(stat[:3], scores)


def test_shares_from_the_flops_breakdown():
    breakdown = {p: {'gflops': g, 'params_m': 0.1} for p, g in
                 dict(stem=0.2, c2=0.3, c3=0.4, c4=0.1, c5=0.0, backbone=1.0, neck=0.25, head=0.75,
                      total=2.0).items()}
    got = shares(breakdown)
    assert got == pytest.approx(dict(stem=0.1, c2=0.15, c3=0.2, c4=0.05, c5=0.0, backbone=0.5, neck=0.125,
                                     head=0.375))
    assert shares({}) == {}

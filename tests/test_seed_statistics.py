"""When a Table 3 gap counts as reproduced: training-seed test, protocol-seed spread, Kendall's τ with an interval."""
import pytest

from styleinv_lib.seed_statistics import (compare_rows, difference_verdict, gap_verdict, kendall_tau,
                                         kendall_tau_interval, summary)


def test_summary_and_tau():
    assert summary([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert summary([4.0])["std"] == 0.0
    a = {"x": 1.0, "y": 2.0, "z": 3.0}
    assert kendall_tau(a, {"x": 10, "y": 20, "z": 30}) == 1.0
    assert kendall_tau(a, {"x": 30, "y": 20, "z": 10}) == -1.0
    assert kendall_tau(a, {"x": 10, "y": 30, "z": 20}) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        kendall_tau(a, {"x": 1, "y": 2})


def test_a_gap_is_reproduced_only_beyond_both_spreads():
    # the paper: A (the ablation) is worse than B (the full model) by 50
    clear = gap_verdict([110, 111, 109], [100, 101, 99], 150, 100, protocol_std=2.0)
    assert clear["verdict"] == "reproduced" and clear["gap"] == pytest.approx(10) and clear["p_value"] < 0.01
    assert gap_verdict([100, 101, 99], [110, 111, 109], 150, 100, protocol_std=2.0)["verdict"] == "reversed"
    # training seeds overlap: no claim either way
    assert gap_verdict([120, 95, 110], [100, 115, 90], 150, 100, protocol_std=2.0)["verdict"] == "within noise"
    # separated over training seeds, but smaller than the evaluation's own noise (or that noise unmeasured)
    assert gap_verdict([110, 111, 109], [100, 101, 99], 150, 100, protocol_std=6.0)["verdict"] == "within noise"
    assert gap_verdict([110, 111, 109], [100, 101, 99], 150, 100)["verdict"] == "within noise"
    assert gap_verdict([110], [100, 101, 99], 150, 100, protocol_std=1.0)["verdict"] == "too few seeds"


def test_tau_interval_is_narrow_when_rows_separate_and_wide_when_they_overlap():
    paper = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    apart = kendall_tau_interval({"a": [1, 1.1, 0.9], "b": [2, 2.1, 1.9], "c": [3, 3.1, 2.9], "d": [4, 4.1, 3.9]},
                                 paper, n_boot=300)
    assert apart["tau"] == 1.0 and apart["low"] == 1.0 and apart["high"] == 1.0
    mixed = kendall_tau_interval({"a": [1, 3, 2], "b": [2, 1, 3], "c": [3, 2, 1], "d": [1.5, 2.5, 3.5]},
                                 paper, n_boot=300)
    assert mixed["low"] < 0 < mixed["high"] and mixed["seeds"] == {"a": 3, "b": 3, "c": 3, "d": 3}
    assert kendall_tau_interval({"a": [1, 3, 2], "b": [2, 1, 3], "c": [3, 2, 1], "d": [1.5, 2.5, 3.5]},
                                paper, n_boot=300) == mixed                                      # seeded


def test_compare_rows_judges_every_row_against_the_reference_and_withholds_tau_intervals_from_single_seeds():
    paper = {"full": 50.0, "no_enc": 150.0, "ape": 140.0}
    three = {"full": [100, 101, 99], "no_enc": [120, 121, 119], "ape": [101, 99, 100.5]}
    out = compare_rows(three, paper, reference="full", protocol_std=3.0, n_boot=200)
    assert set(out["gaps"]) == {"no_enc", "ape"} and out["rows"]["full"] == summary([100, 101, 99])
    assert out["gaps"]["no_enc"]["verdict"] == "reproduced" and out["gaps"]["ape"]["verdict"] == "within noise"
    assert out["tau"]["low"] is not None and out["tau"]["seeds"] == {"full": 3, "no_enc": 3, "ape": 3}
    one = compare_rows({"full": [100], "no_enc": [120, 121], "ape": [90, 91]}, paper, reference="full",
                       protocol_std=3.0)
    assert one["tau"]["low"] is None and one["tau"]["tau"] == pytest.approx(1 / 3)
    assert one["gaps"]["no_enc"]["verdict"] == "too few seeds"
    with pytest.raises(ValueError, match="reference row"):
        compare_rows({"no_enc": [1, 2]}, paper, reference="full", protocol_std=None)
    with pytest.raises(ValueError, match="no paper value for other"):
        compare_rows({"full": [1, 2], "other": [3, 4]}, paper, reference="full", protocol_std=None)


def test_a_probe_difference_needs_two_seeds_a_row_and_a_two_sided_welch_test():
    """First-frame PSNR of three training seeds: 50 dB against 35 dB is a difference; 50 against 49.9 with seeds
    spread over ±1 dB is not; one seed is too few, whatever the values."""
    clear = difference_verdict([35.0, 34.0, 36.0], [50.0, 49.0, 51.0])
    assert clear["verdict"] == "lower" and clear["p_value"] < 0.01 and clear["gap"] == pytest.approx(-15.0)
    assert difference_verdict([50.0, 49.0, 51.0], [35.0, 34.0, 36.0])["verdict"] == "higher"
    noise = difference_verdict([49.9, 48.9, 50.9], [50.0, 49.0, 51.0])
    assert noise["verdict"] == "within noise" and noise["p_value"] > 0.5
    assert difference_verdict([35.0], [50.0, 49.0])["verdict"] == "too few seeds"
    assert difference_verdict([1.0, 1.0], [1.0, 1.0])["verdict"] == "within noise"
    # two-sided: the p-value is twice gap_verdict's one-sided one for the same samples
    one_sided = gap_verdict([35.0, 34.0, 36.0], [50.0, 49.0, 51.0], 1.0, 2.0, protocol_std=0.1)["p_value"]
    assert clear["p_value"] == pytest.approx(2 * one_sided)


def test_a_row_that_never_varies_is_tested_without_a_warning():
    """The baseline's first frame is w0 itself on every seed (126 dB each): the Welch test still judges it against a
    row that varies, and scipy's precision-loss warning on the constant row does not leak into the chapter."""
    import warnings

    from styleinv_lib.seed_statistics import difference_verdict

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = difference_verdict([125.97] * 3, [40.4, 41.4, 41.0])
    assert d["verdict"] == "higher" and d["p_value"] < 0.001


def test_mean_interval_covers_the_mean_and_narrows_with_more_videos():
    from styleinv_lib.seed_statistics import mean_interval

    few = [1.0] * 13 + [0.3, 0.5, 0.6]            # 16 videos: most keep their subject, three drift
    many = few * 4
    a, b = mean_interval(few), mean_interval(many)
    assert a["low"] < a["mean"] < a["high"] and a["n"] == 16 and a["mean"] == pytest.approx(0.9)
    assert b["mean"] == pytest.approx(a["mean"]) and b["high"] - b["low"] < 0.7 * (a["high"] - a["low"])
    assert 0.75 < a["low"] < 0.85 and a["high"] == pytest.approx(1.0, abs=0.06)
    assert mean_interval(few) == a                                        # seeded: the same interval every time
    assert mean_interval([0.9] * 5) == {"mean": 0.9, "low": 0.9, "high": 0.9, "level": 0.95, "n": 5}
    with pytest.raises(ValueError, match="no values"):
        mean_interval([])

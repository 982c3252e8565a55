import math
import time

import pytest
import torch

from utils.timing import Timing, speedup, synchronize, time_call, time_interleaved


def counter():
    calls = []
    return calls, lambda: calls.append(None)


def test_timing_median_and_spread_by_hand():
    timing = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    # inclusive quartiles of 5 sorted values sit on the 2nd and 4th: q1 = 2, q3 = 4
    assert timing.repeats == 5
    assert timing.median == 3.0
    assert timing.spread == 2.0
    assert timing.relative_spread == pytest.approx(2 / 3)


def test_timing_spread_uses_the_inclusive_method_and_ignores_order():
    timing = Timing((4.0, 1.0, 3.0, 2.0))
    # inclusive, n = 4: q1 = 1 + 0.75 * (2 - 1) = 1.75, q3 = 3 + 0.25 * (4 - 3) = 3.25 (exclusive would give 2.5)
    assert timing.median == 2.5
    assert timing.spread == pytest.approx(1.5)
    assert timing.relative_spread == pytest.approx(0.6)


def test_timing_fastest_is_the_smallest_repeat_whatever_the_order():
    assert Timing((0.3, 0.1, 0.2)).fastest == 0.1
    assert Timing((5.0,)).fastest == 5.0


def test_timing_of_one_repeat_has_no_spread():
    timing = Timing((0.25,))
    assert (timing.median, timing.spread, timing.relative_spread) == (0.25, 0.0, 0.0)


def test_timing_relative_spread_is_zero_when_the_median_is_zero():
    timing = Timing((0.0, 0.0, 1.0))
    assert timing.median == 0.0 and timing.spread > 0
    assert timing.relative_spread == 0.0


def test_timing_str_shows_milliseconds_and_half_the_iqr():
    # n = 3, inclusive: q1 = 1.5 ms, q3 = 2.5 ms, IQR 1 ms
    assert str(Timing((0.001, 0.002, 0.003))) == "2.00 ms ± 0.50 (median ± half IQR of 3)"


@pytest.mark.parametrize("seconds", [(), (1.0, -0.1), (math.nan,), (1.0, math.inf)])
def test_timing_rejects_empty_negative_nan_and_infinite_times(seconds):
    with pytest.raises(ValueError, match="at least one|finite and >= 0"):
        Timing(seconds)


def test_timing_rejects_empty_with_its_own_message():
    with pytest.raises(ValueError, match="at least one measured repeat"):
        Timing(())


@pytest.mark.parametrize("repeats, warmup", [(1, 0), (3, 2), (2, 5)])
def test_time_call_calls_fn_warmup_plus_repeats_times(repeats, warmup):
    calls, fn = counter()
    timing = time_call(fn, repeats=repeats, warmup=warmup)
    assert len(calls) == warmup + repeats
    assert isinstance(timing, Timing) and timing.repeats == repeats


def test_time_call_measures_a_sleep():
    timing = time_call(lambda: time.sleep(0.02), repeats=3, warmup=0)
    assert timing.median >= 0.02
    assert timing.median < 0.5


def test_time_call_leaves_the_warmup_calls_untimed():
    calls = []

    def slow_first_call():
        calls.append(None)
        if len(calls) == 1:
            time.sleep(0.05)

    assert max(time_call(slow_first_call, repeats=2, warmup=1).seconds) < 0.05
    calls.clear()
    assert max(time_call(slow_first_call, repeats=2, warmup=0).seconds) >= 0.05


@pytest.mark.parametrize(
    "repeats, warmup, error, message",
    [
        (0, 1, ValueError, "repeats must be at least 1"),
        (-2, 1, ValueError, "repeats must be at least 1"),
        (3, -1, ValueError, "warmup must be at least 0"),
        (True, 1, TypeError, "repeats must be an integer"),
        (3, False, TypeError, "warmup must be an integer"),
        (2.0, 1, TypeError, "repeats must be an integer"),
        (3, 1.0, TypeError, "warmup must be an integer"),
    ],
)
def test_time_call_rejects_bad_counts_before_calling(repeats, warmup, error, message):
    calls, fn = counter()
    with pytest.raises(error, match=message):
        time_call(fn, repeats=repeats, warmup=warmup)
    assert calls == []


def test_time_call_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        time_call(3)


def test_time_interleaved_takes_turns_after_the_warmup():
    order = []
    fns = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    result = time_interleaved(fns, repeats=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert list(result) == ["a", "b"]
    assert all(isinstance(t, Timing) and t.repeats == 2 for t in result.values())


def test_time_interleaved_returns_the_names_in_the_order_given():
    result = time_interleaved({"z": lambda: None, "a": lambda: None, "m": lambda: None}, repeats=1, warmup=0)
    assert list(result) == ["z", "a", "m"]


def test_time_interleaved_times_each_call_on_its_own():
    result = time_interleaved({"slow": lambda: time.sleep(0.02), "fast": lambda: None}, repeats=2, warmup=0)
    assert result["slow"].median >= 0.02
    assert result["fast"].median < 0.02
    assert speedup(result["slow"], result["fast"]) > 1


@pytest.mark.parametrize("fns", [{}, [lambda: None], None])
def test_time_interleaved_rejects_an_empty_or_non_mapping(fns):
    with pytest.raises(ValueError, match="non-empty"):
        time_interleaved(fns)


def test_time_interleaved_rejects_non_callables_before_calling_any():
    calls, fn = counter()
    with pytest.raises(TypeError, match=r"fns\['b'\] must be callable"):
        time_interleaved({"a": fn, "b": "not a function"})
    assert calls == []


def test_time_interleaved_rejects_bad_counts():
    calls, fn = counter()
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        time_interleaved({"a": fn}, repeats=0)
    with pytest.raises(TypeError, match="warmup must be an integer"):
        time_interleaved({"a": fn}, warmup=True)
    assert calls == []


def test_speedup_is_the_ratio_of_medians():
    baseline = Timing((0.9, 1.0, 50.0))  # median 1.0: the outlier does not count
    candidate = Timing((0.2, 0.25, 0.3))  # median 0.25
    assert speedup(baseline, candidate) == pytest.approx(4.0)
    assert speedup(candidate, baseline) == pytest.approx(0.25)


def test_speedup_rejects_non_timings():
    with pytest.raises(TypeError, match="two Timing objects"):
        speedup(1.0, Timing((1.0,)))
    with pytest.raises(TypeError, match="two Timing objects"):
        speedup(Timing((1.0,)), (1.0,))


def test_speedup_rejects_a_candidate_with_zero_median():
    with pytest.raises(ValueError, match="median time is 0"):
        speedup(Timing((1.0,)), Timing((0.0, 0.0, 1.0)))


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_synchronize_does_nothing_on_the_cpu(device):
    assert synchronize(device) is None

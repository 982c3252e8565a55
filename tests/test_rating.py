import io
import math

import matplotlib.image
import pytest
import torch

from utils.rating import Agreement, BlindComparison, ComparisonResult, agreement, binomial_test, rating_panel

# ---------------------------------------------------------------------------------------------- binomial_test


def test_binomial_test_symmetric_case_doubles_the_upper_tail():
    # P(X >= 15) for Binomial(20, 1/2): (C(20,15) + ... + C(20,20)) / 2^20 = (15504 + 4845 + 1140 + 190 + 20 + 1) / 2^20
    expected = 2 * sum(math.comb(20, k) for k in range(15, 21)) / 2**20
    assert binomial_test(15, 20) == pytest.approx(expected, rel=1e-12)
    assert binomial_test(5, 20) == pytest.approx(expected, rel=1e-12)  # the mirror image


def test_binomial_test_centre_and_extremes():
    assert binomial_test(10, 20) == 1.0  # every outcome is at most as likely as the mode
    assert binomial_test(0, 5) == pytest.approx(2 / 32, rel=1e-12)  # X = 0 and X = 5, each 1/32
    assert binomial_test(5, 5) == pytest.approx(2 / 32, rel=1e-12)
    assert binomial_test(20, 20) == pytest.approx(2 / 2**20, rel=1e-12)


def test_binomial_test_asymmetric_p_sums_the_outcomes_no_more_likely_than_the_observed_one():
    # Binomial(10, 0.3): P(X=5) = 0.1029; P(X=0) = 0.0282 and P(X>=5) are no larger, P(X=1..4) are all larger.
    def pmf(k: int) -> float:
        return math.comb(10, k) * 0.3**k * 0.7 ** (10 - k)

    assert all(pmf(k) > pmf(5) for k in range(1, 5))
    expected = pmf(0) + sum(pmf(k) for k in range(5, 11))
    assert binomial_test(5, 10, p=0.3) == pytest.approx(expected, rel=1e-12)
    # the mode of Binomial(10, 0.3) is 3: nothing is more likely, so the p-value is 1
    assert binomial_test(3, 10, p=0.3) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("successes", "trials", "p", "message"),
    [
        (6, 5, 0.5, r"successes \(6\) cannot exceed trials \(5\)"),
        (-1, 5, 0.5, "successes must be a non-negative integer, got -1"),
        (2, -3, 0.5, "trials must be a non-negative integer, got -3"),
        (True, 5, 0.5, "successes must be a non-negative integer, got True"),
        (2, True, 0.5, "trials must be a non-negative integer, got True"),
        (2.0, 5, 0.5, "successes must be a non-negative integer, got 2.0"),
        (2, 5, 0.0, r"p must be in \(0, 1\), got 0.0"),
        (2, 5, 1.0, r"p must be in \(0, 1\), got 1.0"),
        (2, 5, 1.5, r"p must be in \(0, 1\), got 1.5"),
        (2, 5, -0.2, r"p must be in \(0, 1\), got -0.2"),
    ],
)
def test_binomial_test_rejects_bad_arguments(successes, trials, p, message):
    with pytest.raises(ValueError, match=message):
        binomial_test(successes, trials, p)


# -------------------------------------------------------------------------------------------------- agreement


def test_identical_choices_agree_perfectly():
    choices = ["left", "right", "right", "left"]
    assert agreement(choices, list(choices)) == Agreement(observed=1.0, kappa=1.0)
    # both raters always say "left": chance agreement is 1 too, and kappa is defined as 1
    assert agreement(["left"] * 3, ["left"] * 3) == Agreement(observed=1.0, kappa=1.0)


def test_kappa_of_a_small_mixed_case_matches_the_hand_computation():
    # observed 3/4; P(left) = 3/4 and 1/2, so chance = 3/4 * 1/2 + 1/4 * 1/2 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    a = ["left", "left", "left", "right"]
    b = ["left", "left", "right", "right"]
    result = agreement(a, b)
    assert result.observed == pytest.approx(0.75)
    assert result.kappa == pytest.approx(0.5)
    assert agreement(b, a).kappa == pytest.approx(0.5)  # symmetric


def test_opposite_choices_give_negative_kappa():
    a = ["left", "right", "left", "right"]
    b = ["right", "left", "right", "left"]
    result = agreement(a, b)
    assert result.observed == 0.0
    assert result.kappa == pytest.approx(-1.0)  # chance = 1/2, so (0 - 1/2) / (1/2)
    # P(left) = 2/3 and 1/3: chance = 2/9 + 2/9 = 4/9, kappa = (0 - 4/9) / (5/9) = -4/5
    assert agreement(["left", "left", "right"], ["right", "right", "left"]).kappa == pytest.approx(-0.8)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (["left"], ["left", "right"], "equally long, non-empty lists of choices, got 1 and 2"),
        ([], [], "equally long, non-empty lists of choices, got 0 and 0"),
        (["left", "up"], ["left", "right"], "each choice must be 'left' or 'right', got 'up'"),
        (["left"], ["Left"], "each choice must be 'left' or 'right', got 'Left'"),
    ],
)
def test_agreement_rejects_bad_choices(a, b, message):
    with pytest.raises(ValueError, match=message):
        agreement(a, b)


# ------------------------------------------------------------------------------------------- BlindComparison


def images(base: float, count: int = 20) -> torch.Tensor:
    """``count`` flat images; image i is filled with ``base + 0.004 * i`` (so both source and index are readable)."""
    values = base + 0.004 * torch.arange(count, dtype=torch.float32)
    return values.view(count, 1, 1, 1).expand(count, 1, 28, 28).clone()


def comparison(trials: int = 6, seed: int = 0, **kwargs) -> BlindComparison:
    return BlindComparison(images(0.9), images(0.0), trials=trials, generator=torch.Generator().manual_seed(seed),
                           **kwargs)


def side_of_a(comp: BlindComparison, i: int) -> str:
    """The side showing A's sample, read from the images themselves (A is bright, B dark)."""
    left, right = comp.pair(i)
    assert (left.mean() > 0.5) != (right.mean() > 0.5)
    return "left" if left.mean() > 0.5 else "right"


def test_pair_puts_a_on_the_side_given_by_a_on_left():
    comp = comparison(trials=20)
    assert len(comp.a_on_left) == comp.trials == 20
    assert 0 < sum(comp.a_on_left) < 20  # both sides occur
    images_a, images_b = images(0.9), images(0.0)
    for i, a_left in enumerate(comp.a_on_left):
        left, right = comp.pair(i)
        assert left.shape == right.shape == (1, 28, 28)
        expected_left, expected_right = (images_a[i], images_b[i]) if a_left else (images_b[i], images_a[i])
        assert torch.equal(left, expected_left) and torch.equal(right, expected_right)


def test_the_side_order_is_reproducible_with_a_seed():
    assert comparison(trials=20, seed=3).a_on_left == comparison(trials=20, seed=3).a_on_left
    assert comparison(trials=20, seed=3).a_on_left != comparison(trials=20, seed=4).a_on_left


def test_wins_of_a_are_counted_whichever_side_a_was_on():
    comp = comparison(trials=6)
    assert {side_of_a(comp, i) for i in range(6)} == {"left", "right"}  # the seed puts A on both sides
    other = {"left": "right", "right": "left"}
    for i in range(6):  # prefer A in the first four trials, B in the last two
        comp.choose(side_of_a(comp, i) if i < 4 else other[side_of_a(comp, i)])
    result = comp.result()
    assert result == ComparisonResult(names=("A", "B"), wins_a=4, trials=6, p_value=binomial_test(4, 6))
    assert result.share_a == pytest.approx(4 / 6)


def test_a_rater_who_always_says_left_wins_a_once_per_trial_with_a_on_the_left():
    comp = comparison(trials=6)
    for _ in range(6):
        comp.choose("left")
    expected = sum(side_of_a(comp, i) == "left" for i in range(6))
    assert 0 < expected < 6
    assert comp.result().wins_a == expected


def test_a_rater_who_always_prefers_a_gets_the_extreme_p_value():
    comp = comparison(trials=6, names=("real", "fake"))
    for i in range(6):
        comp.choose(side_of_a(comp, i))
    result = comp.result()
    assert result.names == ("real", "fake")
    assert (result.wins_a, result.trials, result.share_a) == (6, 6, 1.0)
    assert result.p_value == pytest.approx(2 / 2**6)


def test_choose_records_until_done_and_then_refuses():
    comp = comparison(trials=3)
    assert not comp.done and comp.choices == []
    comp.choose("right")
    assert comp.choices == ["right"] and not comp.done
    assert comp.result().trials == 1  # a result over the answered trials so far
    comp.choose("left")
    comp.choose("left")
    assert comp.choices == ["right", "left", "left"] and comp.done
    with pytest.raises(RuntimeError, match="all 3 trials are answered"):
        comp.choose("left")
    assert comp.choices == ["right", "left", "left"]


def test_choose_rejects_a_side_that_is_not_left_or_right():
    comp = comparison(trials=3)
    with pytest.raises(ValueError, match="side must be 'left' or 'right', got 'A'"):
        comp.choose("A")
    assert comp.choices == []


def test_result_before_any_choice_raises():
    with pytest.raises(RuntimeError, match="no trial has been answered yet"):
        comparison().result()


def test_images_are_truncated_to_the_number_of_trials():
    comp = comparison(trials=5)
    assert comp.images_a.shape == comp.images_b.shape == (5, 1, 28, 28)
    assert torch.equal(comp.images_a, images(0.9)[:5]) and torch.equal(comp.images_b, images(0.0)[:5])
    assert comparison(trials=20).trials == 20  # exactly as many images as trials is enough


@pytest.mark.parametrize("trials", [0, -2, True, 2.5, "5"])
def test_bad_trials_are_rejected(trials):
    with pytest.raises(ValueError, match="trials must be a positive integer"):
        BlindComparison(images(0.9), images(0.0), trials=trials)


def test_too_few_images_are_rejected():
    with pytest.raises(ValueError, match="images_a: 3 images are too few; this needs at least 5"):
        BlindComparison(images(0.9, count=3), images(0.0), trials=5)
    with pytest.raises(ValueError, match="images_b: 4 images are too few; this needs at least 5"):
        BlindComparison(images(0.9), images(0.0, count=4), trials=5)


def test_invalid_images_are_rejected():
    with pytest.raises(ValueError, match=r"images_a must have values in \[0, 1\]"):
        BlindComparison(images(0.0) * 2 - 1, images(0.0), trials=4)
    with pytest.raises(ValueError, match=r"images_b must have values in \[0, 1\]"):
        BlindComparison(images(0.9), images(0.0) * 255, trials=4)
    with pytest.raises(ValueError, match=r"images_a must have shape \[N, 1, 28, 28\], got \(20, 28, 28\)"):
        BlindComparison(images(0.9)[:, 0], images(0.0), trials=4)
    with pytest.raises(ValueError, match=r"images_b must have shape \[N, 1, 28, 28\], got \(20, 1, 14, 14\)"):
        BlindComparison(images(0.9), images(0.0)[:, :, :14, :14], trials=4)
    with pytest.raises(TypeError, match="images_a must be a torch.Tensor"):
        BlindComparison(images(0.9).numpy(), images(0.0), trials=4)


@pytest.mark.parametrize("names", [("G", "G"), ("A",), ("A", "B", "C")])
def test_names_must_be_two_different_labels(names):
    with pytest.raises(ValueError, match="names must be two different labels"):
        BlindComparison(images(0.9), images(0.0), names=names, trials=4)


# ----------------------------------------------------------------------------------------------- rating_panel


def shown_images(panel):
    """The (left, right) PNG bytes the panel displays (the first row of its VBox)."""
    left, right = panel.widget.children[0].children
    return bytes(left.value), bytes(right.value)


def is_dark(png: bytes) -> bool:
    """The panel draws with ``gray_r``: A's bright sample (0.9+) shows dark, B's (about 0) light."""
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (140, 140)  # 28 x 28 enlarged 5 times
    return pixels[..., :3].mean() < 0.5


def test_panel_shows_the_pairs_as_png_and_records_clicks():
    comp = comparison(trials=3, names=("real", "fake"))
    panel = rating_panel(comp)
    assert not panel.left_button.disabled and not panel.right_button.disabled
    for i in range(3):
        assert f"trial {i + 1} of 3" in panel.status.value
        left, right = shown_images(panel)
        assert left.startswith(b"\x89PNG") and right.startswith(b"\x89PNG")
        assert is_dark(left) == comp.a_on_left[i] and is_dark(right) != comp.a_on_left[i]
        before = panel.status.value
        (panel.left_button if is_dark(left) else panel.right_button).click()  # a scripted rater who prefers A
        assert len(comp.choices) == i + 1
        assert panel.status.value != before
    assert comp.done
    assert panel.left_button.disabled and panel.right_button.disabled
    assert panel.status.value == "done: real preferred in 3 of 3 trials (binomial test p = 0.250)"


def test_panel_clicks_record_the_side_clicked():
    comp = comparison(trials=4)
    panel = rating_panel(comp)
    panel.left_button.click()
    assert comp.choices == ["left"]
    panel.right_button.click()
    panel.right_button.click()
    assert comp.choices == ["left", "right", "right"] and not comp.done
    assert "trial 4 of 4" in panel.status.value and not panel.left_button.disabled
    panel.left_button.click()
    result = comp.result()
    assert comp.choices == ["left", "right", "right", "left"]
    assert panel.left_button.disabled and panel.right_button.disabled
    assert f"A preferred in {result.wins_a} of 4 trials" in panel.status.value
    assert f"p = {binomial_test(result.wins_a, 4):.3f}" in panel.status.value


def test_binomial_test_handles_thousands_of_trials():
    # C(1200, 600) overflows a float: the probabilities are computed in logs
    assert binomial_test(600, 1200) == pytest.approx(1.0, abs=1e-9)
    tail = binomial_test(680, 1200)
    assert 0 < tail < 1e-5
    assert tail == pytest.approx(binomial_test(520, 1200), rel=1e-9)

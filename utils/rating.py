"""People as the final judge: a blind A/B comparison of two generators and the statistics to read it.

Each trial shows one sample of generator A and one of B, left and right in random order, and the rater picks the
one that looks more like a handwritten digit. The rater never sees which is which. Under the null hypothesis that
people cannot tell the generators apart, the number of trials won by A is Binomial(trials, 1/2), so an exact
two-sided **binomial test** says how surprising the result is. **Agreement** (raw share and Cohen's kappa, which
subtracts the agreement two random raters would reach) compares two raters, or a rater and a metric.

``BlindComparison`` holds the trials and the answers; ``rating_panel`` is its ipywidgets front end, whose buttons
call ``BlindComparison.choose``; a scripted rater clicks the same buttons (``button.click()``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from utils.digits import check_digit_images

SIDES = ("left", "right")


def binomial_test(successes: int, trials: int, p: float = 0.5) -> float:
    """Exact two-sided p-value: the probability, under Binomial(trials, p), of an outcome no more likely than
    ``successes`` (the convention of ``scipy.stats.binomtest``)."""
    for name, value in (("successes", successes), ("trials", trials)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if successes > trials:
        raise ValueError(f"successes ({successes}) cannot exceed trials ({trials})")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    def log_probability(k: int) -> float:  # in logs: C(trials, k) overflows a float beyond about 1,000 trials
        return (math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1)
                + k * math.log(p) + (trials - k) * math.log1p(-p))

    probabilities = [math.exp(log_probability(k)) for k in range(trials + 1)]
    observed = probabilities[successes]
    return min(1.0, sum(q for q in probabilities if q <= observed * (1 + 1e-7)))


@dataclass(frozen=True)
class Agreement:
    """How often two raters made the same choice, raw and corrected for chance."""

    observed: float  # share of trials with the same choice
    kappa: float  # Cohen's kappa: (observed - chance) / (1 - chance); 1 = perfect, 0 = what chance gives


def agreement(choices_a: Sequence[str], choices_b: Sequence[str]) -> Agreement:
    """Agreement of two raters' ``"left"``/``"right"`` choices on the same trials (at least one)."""
    if len(choices_a) != len(choices_b) or not choices_a:
        raise ValueError(f"need two equally long, non-empty lists of choices, got {len(choices_a)} and {len(choices_b)}")
    for choice in (*choices_a, *choices_b):
        if choice not in SIDES:
            raise ValueError(f"each choice must be 'left' or 'right', got {choice!r}")
    n = len(choices_a)
    observed = sum(a == b for a, b in zip(choices_a, choices_b)) / n
    left_a = sum(c == "left" for c in choices_a) / n
    left_b = sum(c == "left" for c in choices_b) / n
    chance = left_a * left_b + (1 - left_a) * (1 - left_b)
    kappa = 1.0 if chance == 1 else (observed - chance) / (1 - chance)
    return Agreement(observed, kappa)


@dataclass(frozen=True)
class ComparisonResult:
    """The outcome of a blind comparison of generators A and B."""

    names: tuple[str, str]
    wins_a: int
    trials: int
    p_value: float  # exact two-sided binomial test of "raters cannot tell A from B"

    @property
    def share_a(self) -> float:
        """Share of trials in which A's sample was preferred."""
        return self.wins_a / self.trials


class BlindComparison:
    """``trials`` pairs, sample i of ``images_a`` against sample i of ``images_b`` (each ``[N, 1, 28, 28]`` in
    [0, 1], N >= trials), with A shown on a random side (seeded by ``generator``)."""

    def __init__(
        self,
        images_a: Tensor,
        images_b: Tensor,
        names: tuple[str, str] = ("A", "B"),
        trials: int = 20,
        generator: torch.Generator | None = None,
    ):
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ValueError(f"trials must be a positive integer, got {trials!r}")
        check_digit_images(images_a, "images_a", min_count=trials)
        check_digit_images(images_b, "images_b", min_count=trials)
        if len(names) != 2 or names[0] == names[1]:
            raise ValueError(f"names must be two different labels, got {names!r}")
        self.names = tuple(names)
        self.images_a, self.images_b = images_a[:trials].cpu(), images_b[:trials].cpu()
        self.a_on_left = (torch.rand(trials, generator=generator) < 0.5).tolist()
        self.choices: list[str] = []

    @property
    def trials(self) -> int:
        return len(self.a_on_left)

    @property
    def done(self) -> bool:
        return len(self.choices) == self.trials

    def pair(self, i: int) -> tuple[Tensor, Tensor]:
        """Trial ``i``'s (left, right) images ``[1, 28, 28]``."""
        a, b = self.images_a[i], self.images_b[i]
        return (a, b) if self.a_on_left[i] else (b, a)

    def choose(self, side: str) -> None:
        """Record the rater's pick, ``"left"`` or ``"right"``, for the current trial."""
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
        if self.done:
            raise RuntimeError(f"all {self.trials} trials are answered")
        self.choices.append(side)

    def result(self) -> ComparisonResult:
        """Wins of A and the binomial test over the answered trials (at least one)."""
        if not self.choices:
            raise RuntimeError("no trial has been answered yet")
        wins_a = sum((choice == "left") == a_left for choice, a_left in zip(self.choices, self.a_on_left))
        return ComparisonResult(self.names, wins_a, len(self.choices), binomial_test(wins_a, len(self.choices)))


def _png(image: Tensor, scale: int = 5) -> bytes:
    """A ``[1, 28, 28]`` image in [0, 1] as PNG bytes, enlarged ``scale`` times (nearest neighbour)."""
    import matplotlib.image

    pixels = image[0].repeat_interleave(scale, 0).repeat_interleave(scale, 1).numpy()
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, pixels, cmap="gray_r", vmin=0, vmax=1, format="png")
    return buffer.getvalue()


@dataclass
class RatingPanel:
    """The widget to display and its parts (a scripted rater clicks ``left_button`` / ``right_button``)."""

    widget: object  # ipywidgets.VBox
    left_button: object  # ipywidgets.Button
    right_button: object
    status: object  # ipywidgets.HTML


def rating_panel(comparison: BlindComparison) -> RatingPanel:
    """An ipywidgets panel for ``comparison``: two images and two buttons; every click records a choice and shows
    the next pair, and the end shows the result."""
    import ipywidgets as widgets

    left, right = widgets.Image(format="png"), widgets.Image(format="png")
    left_button = widgets.Button(description="left looks more real")
    right_button = widgets.Button(description="right looks more real")
    status = widgets.HTML()

    def show() -> None:
        if comparison.done:
            r = comparison.result()
            left_button.disabled = right_button.disabled = True
            status.value = (f"done: {r.names[0]} preferred in {r.wins_a} of {r.trials} trials "
                            f"(binomial test p = {r.p_value:.3f})")
            return
        i = len(comparison.choices)
        left.value, right.value = (_png(image) for image in comparison.pair(i))
        status.value = f"trial {i + 1} of {comparison.trials}: which looks more like a handwritten digit?"

    def on_click(side: str):
        def handler(_button) -> None:
            comparison.choose(side)
            show()
        return handler

    left_button.on_click(on_click("left"))
    right_button.on_click(on_click("right"))
    show()
    layout = widgets.VBox([widgets.HBox([left, right]), widgets.HBox([left_button, right_button]), status])
    return RatingPanel(layout, left_button, right_button, status)

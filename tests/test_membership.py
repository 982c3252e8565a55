"""Membership-inference scoring: ROC curve, AUC (ties count half) and the true-positive rate at a low false-positive rate."""

import pytest
import torch

from utils.membership import roc_auc, roc_curve, true_positive_rate_at


def pairwise_auc(members, nonmembers):
    """The definition, over every member/non-member pair."""
    wins = sum((1.0 if m > n else 0.5 if m == n else 0.0) for m in members.tolist() for n in nonmembers.tolist())
    return wins / (len(members) * len(nonmembers))


def test_auc_is_the_share_of_pairs_a_member_wins_with_ties_counting_half():
    members, nonmembers = torch.tensor([3.0, 1.0, 2.0, 2.0]), torch.tensor([2.0, 0.0, 1.0])
    assert roc_auc(members, nonmembers) == pytest.approx(pairwise_auc(members, nonmembers))
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(5, (40,), generator=g).float(), torch.randint(4, (25,), generator=g).float()
    assert roc_auc(a, b) == pytest.approx(pairwise_auc(a, b))
    assert roc_auc(torch.tensor([5.0, 6.0]), torch.tensor([1.0, 2.0])) == 1.0
    assert roc_auc(torch.tensor([1.0, 2.0]), torch.tensor([5.0, 6.0])) == 0.0
    assert roc_auc(torch.ones(3), torch.ones(7)) == 0.5


def test_auc_equals_the_area_under_the_roc_curve():
    g = torch.Generator().manual_seed(1)
    members, nonmembers = torch.randn(300, generator=g) + 0.7, torch.randn(200, generator=g)
    fpr, tpr = roc_curve(members, nonmembers)
    assert fpr.dtype == tpr.dtype == torch.float64
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert (fpr.diff() >= 0).all() and (tpr.diff() >= 0).all()
    assert torch.trapezoid(tpr, fpr).item() == pytest.approx(roc_auc(members, nonmembers), abs=1e-12)
    assert 0.65 < roc_auc(members, nonmembers) < 0.8  # two unit Gaussians 0.7 apart: Phi(0.7 / sqrt 2) = 0.69


def test_roc_points_are_the_rates_at_each_threshold():
    fpr, tpr = roc_curve(torch.tensor([4.0, 2.0]), torch.tensor([3.0, 1.0, 2.0]))
    # thresholds 4, 3, 2, 1: members >= t: 1/2, 1/2, 2/2, 2/2; non-members: 0, 1/3, 2/3, 3/3
    assert tpr.tolist() == pytest.approx([0, 0.5, 0.5, 1, 1])
    assert fpr.tolist() == pytest.approx([0, 0, 1 / 3, 2 / 3, 1])


def test_true_positive_rate_at_a_low_false_positive_rate():
    members = torch.tensor([10.0, 9.0, 1.0, 0.0])
    nonmembers = torch.arange(100.0) / 100 * 8  # 0 .. 7.92
    assert true_positive_rate_at(members, nonmembers, 0.01) == 0.5  # 9 and 10 caught, nobody accused
    assert true_positive_rate_at(members, nonmembers, 0.0) == 0.5
    assert true_positive_rate_at(torch.tensor([0.0]), torch.tensor([1.0]), 0.5) == 0.0
    assert true_positive_rate_at(members, nonmembers, 1.0) == 1.0


def test_bad_scores_are_refused():
    good = torch.tensor([1.0, 2.0])
    for bad in (torch.tensor([]), torch.ones(2, 2), torch.tensor([1.0, float("nan")]), [1.0, 2.0],
                torch.tensor([True, False])):
        for args in ((bad, good), (good, bad)):
            with pytest.raises(ValueError):
                roc_auc(*args)
            with pytest.raises(ValueError):
                roc_curve(*args)
    with pytest.raises(ValueError, match="false_positive_rate"):
        true_positive_rate_at(good, good, 1.5)

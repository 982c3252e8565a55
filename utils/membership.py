"""Membership inference: was this record in the training set? Scores, ROC curves and AUC.

The loss-threshold attack (Yeom et al. 2018) scores each record by how well the model fits it (for a VAE, the
ELBO; for a classifier or language model, minus the loss) and calls it a *member* above a threshold. Sweeping the
threshold over the scores of known members and non-members traces the ROC curve: the true-positive rate (members
caught) against the false-positive rate (non-members accused). Its area, the AUC, is the probability that a random
member scores above a random non-member (ties count half): 0.5 is guessing, 1 a perfect attack. Carlini et al.
(2022) argue that the rate of true positives at a *low* false-positive rate (1%, 0.1%) is what matters to a record's
owner; ``true_positive_rate_at`` reports it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_scores(member_scores: Tensor, nonmember_scores: Tensor) -> tuple[Tensor, Tensor]:
    scores = []
    for name, s in (("member_scores", member_scores), ("nonmember_scores", nonmember_scores)):
        if not isinstance(s, Tensor) or s.dim() != 1 or len(s) == 0:
            raise ValueError(f"{name} must be a non-empty 1-D tensor, got {getattr(s, 'shape', type(s))}")
        if s.is_complex() or s.dtype == torch.bool:
            raise ValueError(f"{name} must be real numbers, got {s.dtype}")
        s = s.detach().double().cpu()
        if not torch.isfinite(s).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        scores.append(s)
    return scores[0], scores[1]


def roc_curve(member_scores: Tensor, nonmember_scores: Tensor) -> tuple[Tensor, Tensor]:
    """The ROC curve of the attack "member if score >= threshold" over every threshold, higher scores meaning
    *member*. Returns ``(false_positive_rate, true_positive_rate)``, float64 ``[K]`` each, from (0, 0) to (1, 1),
    one point per distinct score (tied scores move both rates at once)."""
    members, nonmembers = _check_scores(member_scores, nonmember_scores)
    thresholds = torch.cat([members, nonmembers]).unique(sorted=True).flip(0)  # highest first: [K - 1]
    caught = _share_at_or_above(members, thresholds)
    accused = _share_at_or_above(nonmembers, thresholds)
    zero = torch.zeros(1, dtype=torch.float64)
    return torch.cat([zero, accused]), torch.cat([zero, caught])


def _share_at_or_above(scores: Tensor, thresholds: Tensor) -> Tensor:
    """For each threshold (descending), the share of ``scores`` at or above it, by binary search: O(K log N)."""
    ordered = scores.sort().values
    below = torch.searchsorted(ordered, thresholds, right=False)  # how many scores are < each threshold
    return (len(scores) - below).double() / len(scores)


def roc_auc(member_scores: Tensor, nonmember_scores: Tensor) -> float:
    """The area under the ROC curve: P(member score > non-member score) + P(equal) / 2, from ranks (the
    Mann-Whitney U statistic over m * n pairs)."""
    members, nonmembers = _check_scores(member_scores, nonmember_scores)
    scores = torch.cat([members, nonmembers])
    values, inverse, counts = scores.unique(sorted=True, return_inverse=True, return_counts=True)
    first_rank = torch.cumsum(counts, 0) - counts + 1  # 1-based rank of each distinct value's first occurrence
    mid_rank = first_rank.double() + (counts.double() - 1) / 2  # tied scores share their mean rank
    rank_sum = mid_rank[inverse[: len(members)]].sum().item()
    m, n = len(members), len(nonmembers)
    return (rank_sum - m * (m + 1) / 2) / (m * n)


def true_positive_rate_at(member_scores: Tensor, nonmember_scores: Tensor, false_positive_rate: float = 0.01) -> float:
    """The share of members caught by the best threshold that accuses at most ``false_positive_rate`` of the
    non-members (0 if only an infinite threshold does)."""
    if not 0 <= false_positive_rate <= 1:
        raise ValueError(f"false_positive_rate must be in [0, 1], got {false_positive_rate}")
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    return tpr[fpr <= false_positive_rate + 1e-12].max().item()

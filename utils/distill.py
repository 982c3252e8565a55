"""Knowledge distillation (Hinton et al., 2015): a small student learns from a large teacher's predicted distributions.

A data label says only which character came next; the teacher's distribution also says which others were plausible
and how much ("dark knowledge"). The student minimises a mix of the usual cross-entropy with the data and the KL
divergence from the teacher's distribution, both softened by a temperature ``T`` (``softmax(logits / T)``); the
KL term is multiplied by ``T^2`` so that its gradients keep their size as ``T`` changes.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor


def distillation_loss(
    student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, temperature: float = 1.0, alpha: float = 0.5
) -> Tensor:
    """``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets)``, averaged over positions.

    ``student_logits`` and ``teacher_logits`` are ``[..., V]`` (the teacher's are treated as constants),
    ``targets`` the data's ids ``[...]``. ``alpha`` = 0 is plain training on the data; 1 learns from the teacher only.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student {tuple(student_logits.shape)} and teacher {tuple(teacher_logits.shape)} logits differ")
    if targets.shape != student_logits.shape[:-1]:
        raise ValueError(f"targets {tuple(targets.shape)} must be the logits' shape without the last dimension")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    vocab = student_logits.shape[-1]
    student, teacher = student_logits.reshape(-1, vocab), teacher_logits.detach().reshape(-1, vocab)
    hard = F.cross_entropy(student, targets.reshape(-1))
    soft = F.kl_div(F.log_softmax(student / temperature, dim=-1), F.log_softmax(teacher / temperature, dim=-1),
                    reduction="batchmean", log_target=True)
    return alpha * temperature**2 * soft + (1 - alpha) * hard

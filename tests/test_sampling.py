import pytest
import torch

from utils.sampling import next_token_distribution


def test_temperature_zero_is_argmax_and_top_k_keeps_k():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert next_token_distribution(logits, temperature=0).tolist() == [[0.0, 1.0, 0.0, 0.0]]
    probs = next_token_distribution(logits, top_k=2)
    assert (probs > 0).tolist() == [[False, True, True, False]] and probs.sum().item() == pytest.approx(1.0)
    cold, hot = next_token_distribution(logits, temperature=0.5), next_token_distribution(logits, temperature=2.0)
    assert cold.max() > hot.max()
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        next_token_distribution(logits, temperature=-1)
    with pytest.raises(ValueError, match="top_k must be between 1 and 4"):
        next_token_distribution(logits, top_k=5)


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    assert torch.allclose(next_token_distribution(logits, top_p=0.7), torch.tensor([[0.625, 0.375, 0.0, 0.0]]))
    assert torch.allclose(next_token_distribution(logits, top_p=0.81), torch.tensor([[0.5, 0.3, 0.15, 0.0]]) / 0.95)
    assert next_token_distribution(logits, top_p=0.01).tolist() == [[1.0, 0.0, 0.0, 0.0]]  # the top token stays
    assert torch.allclose(next_token_distribution(logits, top_p=1.0), torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    shuffled = logits[:, [2, 0, 3, 1]]  # order in the vocabulary does not matter
    assert torch.allclose(next_token_distribution(shuffled, top_p=0.7), torch.tensor([[0.0, 0.625, 0.0, 0.375]]))
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
            next_token_distribution(logits, top_p=bad)


def test_each_row_of_a_batch_is_filtered_on_its_own():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]])
    assert torch.allclose(next_token_distribution(logits), logits.softmax(dim=-1))  # temperature 1, no filter
    top1 = next_token_distribution(logits, top_k=1)
    assert top1.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert next_token_distribution(logits, temperature=0).tolist() == top1.tolist()

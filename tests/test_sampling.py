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


def test_a_tiny_temperature_is_stable_and_puts_all_mass_on_the_arg_max():
    logits = torch.tensor([[1.0, 3.0, 2.0, float("-inf")], [0.0, 5.0, 5.0, 1.0]])
    for temperature in (1e-30, 1e-60, 5e-324):  # logits / temperature would overflow to inf and give NaN
        probs = next_token_distribution(logits, temperature=temperature)
        assert probs.tolist() == [[0.0, 1.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]  # ties share the mass
    huge = next_token_distribution(logits, temperature=1e300)  # uniform over the allowed tokens
    assert torch.allclose(huge, torch.tensor([[1 / 3, 1 / 3, 1 / 3, 0.0], [0.25] * 4]))
    assert torch.allclose(next_token_distribution(logits, temperature=0.5), (logits / 0.5).softmax(dim=-1))


def test_nan_temperatures_nan_logits_and_impossible_rows_are_refused():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    for temperature in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"temperature must be >= 0 and finite .*got {temperature}"):
            next_token_distribution(logits, temperature=temperature)
    with pytest.raises(TypeError, match="temperature must be a number >= 0, got str"):
        next_token_distribution(logits, temperature="0.8")
    with pytest.raises(ValueError, match=r"logits contain NaN or \+inf values"):
        next_token_distribution(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match=r"logits contain NaN or \+inf values"):
        next_token_distribution(torch.tensor([[1.0, float("inf")]]), temperature=0)
    with pytest.raises(ValueError, match="every logit of a row is -inf: no token is possible"):
        next_token_distribution(torch.tensor([[1.0, 0.0], [float("-inf"), float("-inf")]]))
    with pytest.raises(ValueError, match=r"logits must be a float tensor \[B, V\]"):
        next_token_distribution(torch.tensor([[1, 2]]))
    with pytest.raises(TypeError, match=r"top_k must be an integer between 1 and 4 \(or None\), got 2.5"):
        next_token_distribution(logits, top_k=2.5)
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\], got nan"):
        next_token_distribution(logits, top_p=float("nan"))

import copy

import pytest
import torch
from torch import nn

from utils.gpt import GPT, GPTConfig
from utils.prune import magnitude_prune_, prune_mlp_units, sparsity

TINY = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _two_linears(first, second) -> nn.Sequential:
    """Linear(len(first[0]) -> len(first)) -> LayerNorm -> Linear, with the given weights and all-zero biases."""
    model = nn.Sequential(nn.Linear(len(first[0]), len(first)), nn.LayerNorm(len(first)), nn.Linear(len(first), len(second)))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(first))
        model[2].weight.copy_(torch.tensor(second))
        model[0].bias.zero_()
        model[2].bias.zero_()
    return model


def _tiny_gpt(seed: int = 0) -> GPT:
    """A tiny GPT with large random weights and biases, so that every MLP unit visibly changes the logits."""
    torch.manual_seed(seed)
    model = GPT(TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return model


def _ids() -> torch.Tensor:
    return torch.randint(0, TINY.vocab_size, (3, TINY.block_size), generator=torch.Generator().manual_seed(1))


# ---------------------------------------------------------------------------------------------------------- sparsity


def test_sparsity_counts_only_linear_and_conv_weights():
    # 3 of the 6 weights of the first layer and 0 of the 2 of the second are zero: 3 / 8. The biases (3 zeros) and the
    # LayerNorm's bias (2 zeros) would change the answer if they were counted.
    model = _two_linears([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]], [[4.0, 5.0]])
    assert sparsity(model) == 3 / 8
    with torch.no_grad():
        model[2].weight[0, 1] = 0.0
    assert sparsity(model) == 4 / 8


def test_sparsity_counts_convolutions():
    model = nn.Sequential(nn.Conv1d(1, 1, 2, bias=False), nn.ConvTranspose2d(1, 1, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[[0.0, 1.0]]]))  # 1 zero of 2
        model[1].weight.copy_(torch.tensor([[[[0.0, 0.0], [0.0, 7.0]]]]))  # 3 zeros of 4
    assert sparsity(model) == 4 / 6


def test_sparsity_rejects_a_model_without_linear_or_conv_layers():
    with pytest.raises(ValueError, match="no Linear or convolution"):
        sparsity(nn.Sequential(nn.LayerNorm(4), nn.ReLU()))
    with pytest.raises(ValueError, match="no Linear or convolution"):
        magnitude_prune_(nn.Embedding(5, 3), 0.5)


# ---------------------------------------------------------------------------------------------- magnitude_prune_


def test_magnitude_pruning_uses_one_threshold_across_layers():
    # The first layer's weights are all smaller than the second's. Half of all weights, pruned globally, are the whole
    # first layer; pruning half of each layer separately would instead zero 0.1, 0.2 and 5, 6.
    model = _two_linears([[0.1, -0.2], [0.3, -0.4]], [[5.0, -6.0], [7.0, -8.0]])
    result = magnitude_prune_(model, 0.5)
    assert torch.equal(model[0].weight, torch.zeros(2, 2))
    assert torch.equal(model[2].weight, torch.tensor([[5.0, -6.0], [7.0, -8.0]]))
    assert result == 0.5


def test_magnitude_pruning_zeroes_the_smallest_absolute_values():
    model = _two_linears([[3.0, -0.5, 2.0], [-1.0, 4.0, 0.25]], [[-0.75, 6.0]])
    result = magnitude_prune_(model, 0.5)  # 4 of 8: |w| = 0.25, 0.5, 0.75, 1
    assert model[0].weight.tolist() == [[3.0, 0.0, 2.0], [0.0, 4.0, 0.0]]
    assert model[2].weight.tolist() == [[0.0, 6.0]]
    assert result == sparsity(model) == 0.5


def test_magnitude_pruning_keeps_biases_and_norms():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.uniform_(-0.01, 0.01)  # smaller than every Linear weight would be: still not pruned
        model[1].bias.uniform_(-0.01, 0.01)
        model[0].bias.uniform_(-0.01, 0.01)
        model[2].bias.uniform_(-0.01, 0.01)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    magnitude_prune_(model, 0.6)
    after = model.state_dict()
    for name in ("0.bias", "1.weight", "1.bias", "2.bias"):
        assert torch.equal(after[name], before[name])
    for name in ("0.weight", "2.weight"):
        assert (after[name] == 0).any()


def test_fraction_zero_changes_nothing():
    model = _two_linears([[0.1, -0.2], [0.0, -0.4]], [[5.0, -6.0], [7.0, -8.0]])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert magnitude_prune_(model, 0.0) == 1 / 8  # the one weight that was already zero
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name])


def test_ties_at_the_threshold_are_pruned():
    # fraction 0.25 of 8 weights is 2; the 2nd smallest |w| is 1, shared by four weights: all four go
    model = _two_linears([[2.0, -1.0], [1.0, 3.0]], [[-1.0, 0.5], [1.0, 4.0]])
    result = magnitude_prune_(model, 0.25)
    assert model[0].weight.tolist() == [[2.0, 0.0], [0.0, 3.0]]
    assert model[2].weight.tolist() == [[0.0, 0.0], [0.0, 4.0]]
    assert result == sparsity(model) == 5 / 8


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.75])
def test_the_returned_sparsity_is_sparsity_and_at_least_the_fraction(fraction):
    # 5 distinct weights, so fraction * 5 is rarely a whole number: pruning must round the count up, not down
    model = nn.Sequential(nn.Linear(5, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.1, 0.4, -0.3, 0.2]]))
    result = magnitude_prune_(model, fraction)
    assert result == sparsity(model)
    assert result >= fraction
    assert (round(result * 5) - 1) / 5 < fraction  # and no more than needed
    # the zeros are the smallest weights: every surviving |w| exceeds every pruned original |w|
    original = torch.tensor([0.5, 0.1, 0.4, 0.3, 0.2])
    pruned = model[0].weight[0] == 0
    assert original[~pruned].min() > original[pruned].max()


@pytest.mark.parametrize("fraction, zeros", [(0.1, 1), (0.3, 3), (0.7, 7), (0.29, 3), (0.31, 4)])
def test_a_fraction_of_a_whole_number_of_weights_prunes_exactly_that_many(fraction, zeros):
    # 0.3 * 10 is 3.0000000000000004 in floating point: still 3 weights, not 4
    model = nn.Linear(10, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.arange(1.0, 11.0)[None])
    assert magnitude_prune_(model, fraction) == zeros / 10
    assert model.weight[0, :zeros].eq(0).all() and model.weight[0, zeros:].ne(0).all()


def test_the_returned_sparsity_is_at_least_the_fraction_on_a_larger_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 13), nn.ReLU(), nn.Linear(13, 3))  # 91 + 39 = 130 weights
    for fraction in (0.01, 0.123, 1 / 3, 0.5, 0.777, 0.99):
        result = magnitude_prune_(model, fraction)
        assert result == sparsity(model)
        assert result >= fraction


@pytest.mark.parametrize("fraction", [1, 1.0, 1.5, -0.1, float("nan")])
def test_magnitude_pruning_rejects_bad_fractions(fraction):
    model = _two_linears([[1.0, 2.0]], [[3.0]])
    with pytest.raises(ValueError, match="fraction"):
        magnitude_prune_(model, fraction)
    assert model[0].weight.tolist() == [[1.0, 2.0]]  # nothing changed


def test_magnitude_pruning_reaches_conv2d_and_conv_transpose2d():
    # the transposed convolution holds the 8 smallest weights: if it were not pruned, half the Conv2d would be instead
    model = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.ConvTranspose2d(2, 1, 2))
    big = torch.arange(9.0, 17.0).reshape(2, 1, 2, 2)
    small = -torch.arange(1.0, 9.0).reshape(2, 1, 2, 2)
    with torch.no_grad():
        model[0].weight.copy_(big)
        model[2].weight.copy_(small)
    biases = [model[0].bias.clone(), model[2].bias.clone()]
    assert magnitude_prune_(model, 0.5) == 0.5
    assert torch.equal(model[0].weight, big)
    assert torch.equal(model[2].weight, torch.zeros_like(small))
    assert torch.equal(model[0].bias, biases[0]) and torch.equal(model[2].bias, biases[1])
    # and the pruned model still runs
    assert model(torch.ones(1, 1, 5, 5)).shape == (1, 1, 5, 5)


def test_magnitude_pruning_of_a_conv2d_alone():
    model = nn.Conv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[[[4.0, -1.0], [2.0, -3.0]]]]))
    assert magnitude_prune_(model, 0.5) == 0.5
    assert model.weight.tolist() == [[[[4.0, 0.0], [0.0, -3.0]]]]


# ---------------------------------------------------------------------------------------------- prune_mlp_units


def test_keeping_half_the_units_halves_every_mlp_and_keeps_the_interface():
    model = _tiny_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned = prune_mlp_units(model, 0.5)
    assert pruned is not model
    for block in pruned.blocks:
        assert block.mlp.fc.in_features == 16 and block.mlp.proj.out_features == 16
        assert block.mlp.fc.out_features == block.mlp.proj.in_features == 32
    idx = _ids()
    with torch.no_grad():
        assert pruned(idx).shape == model(idx).shape == (3, TINY.block_size, TINY.vocab_size)
    # the input model is unchanged
    for block in model.blocks:
        assert block.mlp.fc.out_features == block.mlp.proj.in_features == 64
    after = model.state_dict()
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(after[name], value), name


def test_the_pruned_model_has_fewer_parameters():
    model = _tiny_gpt()
    pruned = prune_mlp_units(model, 0.5)
    # each block loses 32 units: 32 rows of fc (16 weights + 1 bias each) and 32 columns of proj (16 weights each)
    assert model.num_parameters() - pruned.num_parameters() == TINY.n_layer * 32 * (16 + 1 + 16)


def test_units_with_zero_weight_in_or_out_are_the_ones_removed():
    model = _tiny_gpt()
    g = torch.Generator().manual_seed(2)
    removed = []
    with torch.no_grad():
        for block in model.blocks:
            order = torch.randperm(64, generator=g)
            no_input, no_output = order[:16], order[16:32]
            # units without input weights have a large output, units without output weights a large input: ranking
            # by either norm alone would keep some of them; only the product makes them all worthless
            block.mlp.fc.weight[no_input] = 0.0
            block.mlp.proj.weight[:, no_input] *= 10.0
            block.mlp.proj.weight[:, no_output] = 0.0
            block.mlp.fc.weight[no_output] *= 10.0
            removed.append(set(order[:32].tolist()))
    pruned = prune_mlp_units(model, 0.5)
    for block, new_block, gone in zip(model.blocks, pruned.blocks, removed):
        kept = sorted(set(range(64)) - gone)
        assert torch.equal(new_block.mlp.fc.weight, block.mlp.fc.weight[kept])
        assert torch.equal(new_block.mlp.fc.bias, block.mlp.fc.bias[kept])
        assert torch.equal(new_block.mlp.proj.weight, block.mlp.proj.weight[:, kept])
        assert torch.equal(new_block.mlp.proj.bias, block.mlp.proj.bias)


def test_units_are_ranked_by_the_product_of_their_norms_in_and_out():
    # unit j: |fc row| = j + 1 (growing), |proj column| = 1 / (j + 1)^2 (shrinking faster): the product 1 / (j + 1)
    # shrinks, so units 0..31 are kept. Ranking by |fc row| or by the sum of the norms would keep 32..63 instead.
    model = _tiny_gpt()
    with torch.no_grad():
        for block in model.blocks:
            fc, proj = block.mlp.fc.weight, block.mlp.proj.weight
            scale = torch.arange(1.0, 65.0)
            fc.copy_(fc / fc.norm(dim=1, keepdim=True) * scale[:, None])
            proj.copy_(proj / proj.norm(dim=0, keepdim=True) / scale**2)
    pruned = prune_mlp_units(model, 0.5)
    for block, new_block in zip(model.blocks, pruned.blocks):
        assert torch.equal(new_block.mlp.fc.weight, block.mlp.fc.weight[:32])
        assert torch.equal(new_block.mlp.proj.weight, block.mlp.proj.weight[:, :32])


def test_keeping_every_unit_gives_the_same_logits():
    model = _tiny_gpt()
    pruned = prune_mlp_units(model, 1.0)
    idx = _ids()
    with torch.no_grad():
        assert torch.equal(pruned(idx), model(idx))


def test_removal_is_exact_it_equals_zeroing_the_removed_units():
    model = _tiny_gpt()
    pruned = prune_mlp_units(model, 0.5)
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        for block, new_block in zip(zeroed.blocks, pruned.blocks):
            fc, proj = block.mlp.fc, block.mlp.proj
            # which original units survived: find each kept fc row among the original rows
            matches = (new_block.mlp.fc.weight[:, None, :] == fc.weight[None, :, :]).all(dim=2)  # [32, 64]
            assert (matches.sum(dim=1) == 1).all()
            gone = matches.sum(dim=0) == 0
            assert int(gone.sum()) == 32
            fc.weight[gone] = 0.0
            fc.bias[gone] = 0.0
            proj.weight[:, gone] = 0.0
        idx = _ids()
        expected, got, original = zeroed(idx), pruned(idx), model(idx)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(got, original, atol=1e-2)  # the removed units did matter: the check above has teeth


def test_pruning_keeps_the_dtype_of_the_model():
    model = _tiny_gpt().double()
    pruned = prune_mlp_units(model, 0.5)
    for block in pruned.blocks:
        assert block.mlp.fc.weight.dtype == block.mlp.proj.weight.dtype == torch.float64
    with torch.no_grad():
        assert pruned(_ids()).dtype == torch.float64


def test_rounding_of_the_number_of_units_kept():
    model = _tiny_gpt()
    assert prune_mlp_units(model, 0.25).blocks[0].mlp.fc.out_features == 16
    assert prune_mlp_units(model, 1e-6).blocks[1].mlp.proj.in_features == 1  # at least one unit


@pytest.mark.parametrize("keep", [0, 0.0, 1.5, -0.5, float("nan")])
def test_prune_mlp_units_rejects_bad_keep(keep):
    with pytest.raises(ValueError, match="keep"):
        prune_mlp_units(_tiny_gpt(), keep)


@pytest.mark.parametrize("module", [nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU())])
def test_prune_mlp_units_rejects_a_model_that_is_not_a_gpt(module):
    with pytest.raises(TypeError, match="GPT"):
        prune_mlp_units(module, 0.5)

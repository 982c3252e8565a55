import pytest
import torch

from utils.quantize import dequantize_per_channel, fake_quantize_, quantize_per_channel


def test_quantize_per_channel_by_hand():
    weight = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-2.54, 1.27, 0.0]])
    q, scale = quantize_per_channel(weight)
    assert q.dtype == torch.int8 and q.shape == weight.shape
    assert torch.allclose(scale, torch.tensor([1 / 127, 1.0, 2.54 / 127]))
    # row 0: 127 * (1, -0.5, 0.25) = 127, -63.5, 31.75 -> round half to even: 127, -64, 32
    assert q[0].tolist() == [127, -64, 32]
    assert q[1].tolist() == [0, 0, 0]  # an all-zero row stays zero (scale 1, no division by 0)
    assert q[2].tolist() == [-127, 64, 0]  # 1.27 / (2.54 / 127) = 63.5 -> 64


def test_round_trip_error_is_at_most_half_a_step_per_row():
    weight = torch.randn(16, 40, generator=torch.Generator().manual_seed(0)) * torch.logspace(-3, 1, 16)[:, None]
    q, scale = quantize_per_channel(weight)
    error = (dequantize_per_channel(q, scale) - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    # per-channel scales keep the small rows accurate: a single scale for the whole matrix would not
    per_tensor_step = weight.abs().max() / 127
    assert error[0].max() < per_tensor_step / 100


def test_the_largest_weight_of_each_row_maps_to_plus_or_minus_qmax():
    weight = torch.tensor([[0.1, -3.0], [2.0, 0.5]])
    for bits, qmax in ((8, 127), (4, 7), (12, 2047)):
        q, _ = quantize_per_channel(weight, bits=bits)
        assert q.abs().amax(dim=1).tolist() == [qmax, qmax]
        assert q.dtype == (torch.int8 if bits <= 8 else torch.int16)


def test_convolution_weights_keep_their_shape_with_one_scale_per_output_channel():
    weight = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(1))
    q, scale = quantize_per_channel(weight)
    assert q.shape == weight.shape and scale.shape == (6,)
    assert torch.allclose(dequantize_per_channel(q, scale), weight, atol=scale.max().item() / 2)


@pytest.mark.parametrize("bits", [1, 17, 8.0, True, "8"])
def test_quantize_rejects_bad_bit_widths(bits):
    with pytest.raises(ValueError, match="bits"):
        quantize_per_channel(torch.ones(2, 2), bits=bits)


def test_quantize_rejects_bad_weights():
    with pytest.raises(TypeError):
        quantize_per_channel(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="output-channel"):
        quantize_per_channel(torch.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        quantize_per_channel(torch.tensor([[1.0, float("nan")]]))


def test_dequantize_rejects_mismatched_scales_and_float_input():
    q, scale = quantize_per_channel(torch.ones(3, 2))
    with pytest.raises(ValueError, match="one scale per output channel"):
        dequantize_per_channel(q, scale[:2])
    with pytest.raises(ValueError, match="integer"):
        dequantize_per_channel(q.float(), scale)


def test_fake_quantize_changes_only_linear_and_conv_weights():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    changed = fake_quantize_(model)
    assert changed == 5 * 4 + 4 * 3
    after = model.state_dict()
    for name in ("0.bias", "1.weight", "1.bias", "2.bias"):
        assert torch.equal(after[name], before[name])
    for name in ("0.weight", "2.weight"):
        assert not torch.equal(after[name], before[name])
        q, scale = quantize_per_channel(before[name])
        assert torch.equal(after[name], dequantize_per_channel(q, scale))


def test_float64_weights_beyond_float32_range_are_refused_not_zeroed():
    with pytest.raises(ValueError, match="in float32"):
        quantize_per_channel(torch.tensor([[1e39, 1.0]], dtype=torch.float64))


def test_dequantize_refuses_bad_scales_and_boolean_weights():
    q = torch.ones(2, 2, dtype=torch.int8)
    for scale in (torch.tensor([1.0, float("nan")]), torch.tensor([1.0, -0.5]), torch.tensor([0.0, 1.0])):
        with pytest.raises(ValueError, match="finite and positive"):
            dequantize_per_channel(q, scale)
    with pytest.raises(ValueError, match="integer"):
        dequantize_per_channel(torch.ones(2, 2, dtype=torch.bool), torch.ones(2))


def test_fake_quantize_covers_every_convolution_and_refuses_a_model_without_weights_to_quantise():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(2, 3, 2), torch.nn.ConvTranspose1d(3, 2, 3), torch.nn.ConvTranspose2d(2, 2, 2))
    before = [m.weight.clone() for m in model]
    assert fake_quantize_(model) == sum(w.numel() for w in before)
    for m, w in zip(model, before):
        assert not torch.equal(m.weight, w)
        assert torch.equal(m.weight, dequantize_per_channel(*quantize_per_channel(w)))
    with pytest.raises(ValueError, match="no Linear or convolution"):
        fake_quantize_(torch.nn.Sequential(torch.nn.LayerNorm(3), torch.nn.Embedding(4, 3)))

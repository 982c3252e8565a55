import math

import pytest
import torch
import torch.nn.functional as F

from utils.gpt import GPT, Block, CausalSelfAttention, GPTConfig, KVCache, attention_maps, evaluate_lm, lm_loss
from utils.train import train_steps

CONFIG = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def small(config: GPTConfig = CONFIG) -> GPT:
    torch.manual_seed(0)
    return GPT(config).eval()


def random_ids(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(CONFIG.vocab_size, (b, t), generator=torch.Generator().manual_seed(seed))


def test_logits_have_shape_batch_time_vocab():
    model = small()
    assert model(random_ids(3, 8)).shape == (3, 8, CONFIG.vocab_size)
    assert model(random_ids(1, 1)).shape == (1, 1, CONFIG.vocab_size)
    embedding = 11 * 16 + 8 * 16
    per_block = 2 * 2 * 16 + (16 * 48 + 48) + (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16)
    assert model.num_parameters() == embedding + 2 * per_block + 2 * 16 + 16 * 11


def test_bad_inputs_and_options_are_clear_errors():
    model = small()
    with pytest.raises(ValueError, match=r"expected token ids \[B, T\] of dtype int64"):
        model(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected token ids \[B, T\]"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="token ids must lie in 0..10"):
        model(torch.full((1, 2), 11, dtype=torch.long))
    with pytest.raises(ValueError, match="9 positions exceed block_size 8; crop the input to its last 8 tokens"):
        model(random_ids(1, 9))
    with pytest.raises(ValueError, match=r"n_embd \(10\) must be divisible by n_head \(4\)"):
        GPT(GPTConfig(n_embd=10, n_head=4))
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        model.generate(random_ids(1, 2), -1)
    with pytest.raises(ValueError, match="non-empty prompt"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="top_p must be in"):
        model.generate(random_ids(1, 2), 3, top_p=0.0)


def test_a_future_token_never_changes_earlier_logits():
    model = small()
    ids = random_ids(2, 8)
    before = model(ids)
    for t in range(8):
        changed = ids.clone()
        changed[:, t] = (changed[:, t] + 1) % CONFIG.vocab_size
        after = model(changed)
        assert torch.allclose(after[:, :t], before[:, :t], atol=1e-6)
        assert not torch.allclose(after[:, t], before[:, t])  # the changed position itself does matter


def test_attention_is_softmax_of_scaled_scores_with_a_causal_mask():
    torch.manual_seed(0)
    attention = CausalSelfAttention(CONFIG).eval()
    x = torch.randn(2, 5, 16)
    q, k, v = attention.qkv(x).split(16, dim=2)
    q, k, v = (t.view(2, 5, 2, 8).transpose(1, 2) for t in (q, k, v))
    scores = q @ k.transpose(-2, -1) / math.sqrt(8)
    scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float("-inf"))
    expected = attention.proj((scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(2, 5, 16))
    assert torch.allclose(attention(x), expected, atol=1e-6)


def test_block_is_pre_norm_with_residuals():
    torch.manual_seed(0)
    block = Block(CONFIG).eval()
    x = torch.randn(2, 5, 16)
    h = x + block.attn(block.ln_1(x))
    assert torch.allclose(block(x), h + block.mlp(block.ln_2(h)), atol=1e-6)


def test_cached_forward_equals_the_full_forward():
    model = small()
    ids = random_ids(2, 8)
    full = model(ids)
    cache = KVCache(CONFIG, batch_size=2, device=torch.device("cpu"))
    pieces = [model(ids[:, :3], cache), model(ids[:, 3:4], cache), model(ids[:, 4:8], cache)]
    assert cache.length == 8
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-5)
    with pytest.raises(ValueError, match="exceed block_size 8"):
        model(ids[:, :1], cache)


def test_cache_rejects_more_positions_than_it_holds():
    cache = KVCache(CONFIG, batch_size=1, device=torch.device("cpu"))
    cache.length = 7
    with pytest.raises(ValueError, match="the cache holds 8 positions; 7 are used and 2 more came"):
        cache.append(0, torch.zeros(1, 2, 2, 8), torch.zeros(1, 2, 2, 8))


@pytest.mark.parametrize("prompt_length", [1, 5, 12])
def test_greedy_generation_is_identical_with_and_without_the_cache(prompt_length):
    model = small()
    prompt = random_ids(2, prompt_length)
    cached = model.generate(prompt, 30, temperature=0, use_cache=True)  # 30 tokens: the window moves several times
    uncached = model.generate(prompt, 30, temperature=0, use_cache=False)
    assert cached.shape == (2, prompt_length + 30)
    assert torch.equal(cached[:, :prompt_length], prompt)
    assert torch.equal(cached, uncached)


def test_uncached_generation_follows_the_argmax_of_the_current_window():
    model = small()
    ids = random_ids(1, 3)
    out = model.generate(ids, 12, temperature=0, use_cache=False)
    start = 0
    for t in range(3, 15):
        if t - start > CONFIG.block_size:  # the window was full: it restarts at the newest block_size // 2 tokens
            start = t - CONFIG.block_size // 2
        expected = model(out[:, start:t])[:, -1].argmax(dim=-1)
        assert out[0, t] == expected[0]


def test_sampling_with_a_seed_is_reproducible_and_the_same_with_the_cache():
    model = small()
    prompt = random_ids(3, 2)
    kwargs = {"temperature": 1.0, "top_k": 5, "top_p": 0.9}
    a = model.generate(prompt, 20, generator=torch.Generator().manual_seed(1), **kwargs)
    b = model.generate(prompt, 20, generator=torch.Generator().manual_seed(1), use_cache=False, **kwargs)
    c = model.generate(prompt, 20, generator=torch.Generator().manual_seed(2), **kwargs)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert model.generate(prompt, 0).shape == (3, 2)


def test_generate_restores_training_mode_and_returns_a_tensor_autograd_can_use():
    model = small().train()
    out = model.generate(random_ids(1, 2), 3)
    assert model.training
    assert not out.is_inference()
    lm_loss(model, out[:, :-1], out[:, 1:]).backward()  # generated text can be trained on


def test_loss_starts_near_uniform_and_falls_on_a_fixed_batch():
    model = small().train()
    ids = random_ids(4, 9)
    x, y = ids[:, :-1], ids[:, 1:]
    assert lm_loss(model, x, y).item() == pytest.approx(math.log(CONFIG.vocab_size), abs=0.1)
    assert lm_loss(model, x, y).item() == pytest.approx(
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item(), rel=1e-6
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    history = train_steps(model, lm_loss, lambda: (x, y), optimizer=optimizer, steps=50, progress=False)
    assert len(history.step_loss) == 50
    assert history.step_loss[0] == pytest.approx(math.log(CONFIG.vocab_size), abs=0.1)
    assert lm_loss(model, x, y).item() < 0.2


def test_attention_maps_are_causal_distributions_that_reproduce_the_layer_output():
    model = small()
    ids = random_ids(1, 6)
    maps = attention_maps(model, ids)
    assert maps.shape == (CONFIG.n_layer, CONFIG.n_head, 6, 6)
    assert torch.allclose(maps.sum(dim=-1), torch.ones(CONFIG.n_layer, CONFIG.n_head, 6))
    assert (maps.triu(1) == 0).all()
    # the first layer's output, rebuilt from its maps, equals the block's
    block = model.blocks[0]
    x = model.token_embedding(ids) + model.position_embedding(torch.arange(6))
    v = block.attn.qkv(block.ln_1(x)).split(16, dim=2)[2].view(1, 6, 2, 8).transpose(1, 2)
    mixed = (maps[0][None] @ v).transpose(1, 2).reshape(1, 6, 16)
    assert torch.allclose(block.attn.proj(mixed), block.attn(block.ln_1(x)), atol=1e-5)
    with pytest.raises(ValueError, match=r"one sequence of token ids \[1, T\]"):
        attention_maps(model, random_ids(2, 6))


def test_evaluate_lm_is_the_mean_loss_over_windows_in_any_batch_size():
    model = small().train()
    ids = random_ids(10, 9)
    x, y = ids[:, :-1], ids[:, 1:]
    expected = F.cross_entropy(model.eval()(x).flatten(0, 1), y.flatten()).item()
    model.train()
    assert evaluate_lm(model, x, y, batch_size=3) == pytest.approx(expected, rel=1e-5)
    assert evaluate_lm(model, x, y, batch_size=100) == pytest.approx(expected, rel=1e-5)
    assert model.training  # mode restored
    with pytest.raises(ValueError, match=r"expected inputs and targets \[N, T\]"):
        evaluate_lm(model, x, y[:, :-1])


def test_generate_refuses_bad_sampling_settings_before_running_the_model():
    model, prompt = small(), random_ids(1, 3)
    for temperature in (float("nan"), float("inf"), -0.5):
        with pytest.raises(ValueError, match=f"temperature must be >= 0 and finite.*got {temperature}"):
            model.generate(prompt, 2, temperature=temperature)
    with pytest.raises(ValueError, match="top_k must be between 1 and 11, got 0"):
        model.generate(prompt, 2, temperature=0, top_k=0)  # refused even where greedy decoding would ignore it
    with pytest.raises(TypeError, match="max_new_tokens must be an integer >= 0, got 2.5"):
        model.generate(prompt, 2.5)


def test_generate_with_a_tiny_temperature_is_greedy():
    model, prompt = small(), random_ids(2, 3)
    greedy = model.generate(prompt, 5, temperature=0)
    assert torch.equal(model.generate(prompt, 5, temperature=1e-30, generator=torch.Generator().manual_seed(0)), greedy)


def test_attention_maps_check_ids_like_forward():
    model = small()
    with pytest.raises(ValueError, match=r"expected token ids \[B, T\] of dtype int64"):
        attention_maps(model, random_ids(1, 3).float())
    with pytest.raises(ValueError, match="token ids must lie in 0..10"):
        attention_maps(model, torch.full((1, 3), 42))
    with pytest.raises(ValueError, match="9 positions exceed block_size 8"):
        attention_maps(model, random_ids(1, 9))
    with pytest.raises(ValueError, match=r"one sequence of token ids \[1, T\] with T >= 1, got shape \(1, 0\)"):
        attention_maps(model, random_ids(1, 0))


def test_sizes_that_no_gpt_can_have_are_refused():
    for field, value in (("vocab_size", 0), ("block_size", 0), ("n_head", 0), ("n_embd", -1)):
        with pytest.raises(ValueError, match=f"{field} must be at least 1, got {value}"):
            GPT(GPTConfig(**{field: value}))
    with pytest.raises(ValueError, match="n_layer must be >= 0, got -1"):
        GPT(GPTConfig(n_layer=-1))
    for dropout in (1.0, float("nan")):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            GPT(GPTConfig(dropout=dropout))
    with pytest.raises(ValueError, match="n_head must be at least 1, got 0"):
        CausalSelfAttention(GPTConfig(n_head=0))


def test_lm_loss_and_evaluate_lm_check_their_arguments():
    model, ids = small(), random_ids(2, 4)
    with pytest.raises(ValueError, match=r"targets \(2, 3\) must have the shape of the ids \(2, 4\)"):
        lm_loss(model, ids, ids[:, :3])
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        evaluate_lm(model, ids, ids, batch_size=0)

import os

import pytest
import torch

from utils.profiling import MATMUL_PATTERN, OperatorTime, matmul_share, operator_table, peak_memory_bytes, profile_call


def three_products():
    a = torch.randn(256, 256)
    b = torch.randn(256, 256)
    return lambda: [torch.mm(a, b) for _ in range(3)]


def mixed_work():
    a = torch.randn(64, 64)
    return lambda: torch.mm(a, a).exp().add(1).relu().sum()


def test_operator_table_lists_the_matrix_products():
    table = operator_table(profile_call(three_products()), top=50)
    assert all(isinstance(row, OperatorTime) for row in table)
    rows = {row.name: row for row in table}
    assert "aten::mm" in rows
    assert rows["aten::mm"].calls == 3
    assert rows["aten::mm"].milliseconds > 0


def test_operator_table_shares_add_up_and_are_sorted():
    table = operator_table(profile_call(mixed_work()), top=10**6)
    shares = [row.share for row in table]
    assert len(table) >= 4  # mm, exp, add, relu, sum at least
    assert all(0 < s <= 1 for s in shares)
    assert sum(shares) == pytest.approx(1.0)  # every operator with self time: the shares cover the total
    assert sum(shares) <= 1 + 1e-9
    assert shares == sorted(shares, reverse=True)
    times = [row.milliseconds for row in table]
    assert times == sorted(times, reverse=True)


def test_operator_table_top_limits_the_rows():
    prof = profile_call(mixed_work())
    full = operator_table(prof, top=10**6)
    assert len(full) >= 3
    top_two = operator_table(prof, top=2)
    assert top_two == full[:2]
    assert sum(row.share for row in top_two) < 1


@pytest.mark.parametrize("top", [0, -3])
def test_operator_table_rejects_top_below_one(top):
    prof = profile_call(mixed_work())
    with pytest.raises(ValueError, match="top must be at least 1"):
        operator_table(prof, top=top)


def test_operator_table_of_a_call_without_operators_raises():
    with pytest.raises(ValueError, match="no operator time"):
        operator_table(profile_call(lambda: None))


def test_matmul_share_of_large_products_is_most_of_the_time():
    assert matmul_share(profile_call(three_products())) > 0.5


def test_matmul_share_of_elementwise_work_is_small():
    x = torch.randn(1000, 1000)
    share = matmul_share(profile_call(lambda: torch.exp(x).add_(1)))
    assert 0 <= share < 0.1


@pytest.mark.parametrize(
    "name",
    [
        "aten::mm",
        "aten::addmm",
        "aten::bmm",
        "aten::baddbmm",
        "aten::mkldnn_convolution",
        "aten::conv2d",
        "aten::_scaled_dot_product_flash_attention_for_cpu",
    ],
)
def test_matmul_pattern_matches_products_convolutions_and_attention(name):
    assert MATMUL_PATTERN.search(name)


@pytest.mark.parametrize("name", ["aten::exp", "aten::add", "aten::add_", "aten::relu", "aten::sum", "aten::mul"])
def test_matmul_pattern_leaves_elementwise_operators_out(name):
    assert MATMUL_PATTERN.search(name) is None


def allocate_and_free():
    a = torch.ones(1000, 1000)  # 4,000,000 bytes
    b = torch.ones(1000, 1000)  # 8,000,000 held: the peak
    del a
    c = torch.ones(500, 1000)  # 4,000,000 + 2,000,000 = 6,000,000 held
    return b, c


def test_peak_memory_bytes_on_the_cpu_by_hand():
    assert peak_memory_bytes(allocate_and_free) == pytest.approx(8_000_000, abs=4096)


def test_peak_memory_bytes_counts_only_what_the_call_allocates():
    x = torch.ones(1000, 1000)  # allocated before: not counted
    assert peak_memory_bytes(lambda: x + 1) == pytest.approx(4_000_000, abs=4096)
    assert peak_memory_bytes(lambda: None) == 0


def test_peak_memory_bytes_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable, got list"):
        peak_memory_bytes([1, 2])


def test_peak_memory_bytes_rejects_other_devices():
    with pytest.raises(ValueError, match="CPU and CUDA, not meta"):
        peak_memory_bytes(lambda: None, device="meta")


def test_profile_call_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn must be callable, got str"):
        profile_call("torch.mm")


def test_profile_call_runs_fn_once():
    calls = []
    profile_call(lambda: calls.append(torch.ones(2).sum()))
    assert len(calls) == 1


def test_profile_call_hides_the_native_profiler_log(capfd):
    profile_call(three_products())
    peak_memory_bytes(allocate_and_free)  # the memory profile starts the profiler too
    os.write(2, b"still visible\n")  # file descriptor 2 is given back afterwards
    captured = capfd.readouterr()
    assert "profiler_start" not in captured.err
    assert "profiler_stop" not in captured.err
    assert "still visible" in captured.err


def test_callers_groups_an_operators_time_by_the_operators_that_call_it():
    from utils.profiling import callers

    x = torch.randn(64, 64).t()  # not contiguous: .contiguous() copies it
    prof = profile_call(lambda: (x.contiguous(), x.clone()))
    chains = dict(callers(prof, "aten::copy_", depth=2))
    assert any(chain.startswith("aten::clone < aten::contiguous") for chain in chains), chains
    assert all(ms >= 0 for ms in chains.values())
    assert list(chains.values()) == sorted(chains.values(), reverse=True)
    assert set(dict(callers(prof, "aten::copy_", depth=1))) <= {"aten::clone", "(called from Python)"}


def test_callers_rejects_an_operator_that_never_ran_and_a_zero_depth():
    from utils.profiling import callers

    prof = profile_call(lambda: torch.ones(3) + 1)
    with pytest.raises(ValueError, match="no 'aten::mm' calls"):
        callers(prof, "aten::mm")
    with pytest.raises(ValueError, match="depth"):
        callers(prof, "aten::add", depth=0)

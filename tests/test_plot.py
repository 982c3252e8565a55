import matplotlib.pyplot as plt
import pytest
import torch

from utils.plot import make_grid, plot_curves, show_images


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_make_grid_places_images_row_by_row_with_padding():
    images = torch.stack([torch.full((1, 2, 2), float(i)) for i in range(3)])  # values 0, 1, 2
    grid = make_grid(images, nrow=2, padding=1, pad_value=-1.0)
    assert grid.shape == (1, 2 * 3 + 1, 2 * 3 + 1)
    assert grid[0, 1:3, 1:3].eq(0).all() and grid[0, 1:3, 4:6].eq(1).all() and grid[0, 4:6, 1:3].eq(2).all()
    assert grid[0, 4:6, 4:6].eq(-1).all()  # the empty fourth cell
    assert grid[0, 0].eq(-1).all() and grid[0, :, 3].eq(-1).all()  # padding lines


def test_make_grid_defaults_to_a_near_square_layout_and_accepts_3d():
    grid = make_grid(torch.zeros(10, 5, 5), padding=0)
    assert grid.shape == (1, 3 * 5, 4 * 5)


def test_make_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected images \[N, C, H, W\]"):
        make_grid(torch.zeros(5, 5))
    with pytest.raises(ValueError, match="N > 0"):
        make_grid(torch.zeros(0, 1, 5, 5))


def test_show_images_tiles_into_one_axes_without_labels():
    fig = show_images(torch.rand(6, 1, 28, 28), nrow=3, title="digits")
    assert len(fig.axes) == 1
    assert fig.axes[0].images[0].get_array().shape == (2 * 30 + 2, 3 * 30 + 2)
    assert fig._suptitle.get_text() == "digits"


def test_show_images_gives_each_labelled_image_its_own_axes():
    fig = show_images(torch.rand(5, 28, 28), nrow=3, labels=["a", "b", "c", "d", "e"])
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 6 and titles[:5] == ["a", "b", "c", "d", "e"] and titles[5] == ""


def test_show_images_rejects_bad_input():
    with pytest.raises(ValueError, match="got 2 labels for 3 images"):
        show_images(torch.rand(3, 1, 8, 8), labels=["a", "b"])
    with pytest.raises(ValueError, match=r"\[N, 1 or 3, H, W\]"):
        show_images(torch.rand(3, 2, 8, 8))


def test_plot_curves_draws_one_labelled_line_per_curve():
    fig = plot_curves({"train": [3.0, 2.0, 1.0], "val": [3.5, 2.5, 2.0]}, ylabel="loss", logy=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "val"]
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 3] and ax.get_yscale() == "log"


def test_plot_curves_smoothing_adds_a_running_mean():
    fig = plot_curves({"loss": [1.0, 3.0, 1.0, 3.0]}, xlabel="step", smooth=2)
    _raw, smooth = fig.axes[0].lines
    assert smooth.get_ydata().tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="at least one curve"):
        plot_curves({})


@pytest.mark.parametrize("nrow", [0, -2])
def test_nrow_below_one_is_refused_rather_than_meaning_auto(nrow):
    with pytest.raises(ValueError, match=rf"nrow must be at least 1 \(or None for a near-square layout\), got {nrow}"):
        make_grid(torch.zeros(4, 1, 2, 2), nrow=nrow)
    with pytest.raises(ValueError, match="nrow must be at least 1"):
        show_images(torch.rand(4, 1, 2, 2), nrow=nrow)


@pytest.mark.parametrize("nrow", [2.0, "2", True])
def test_nrow_must_be_an_int(nrow):
    with pytest.raises(TypeError, match="nrow must be an int >= 1"):
        make_grid(torch.zeros(4, 1, 2, 2), nrow=nrow)
    with pytest.raises(TypeError, match="nrow must be an int >= 1"):
        show_images(torch.rand(4, 1, 2, 2), nrow=nrow, labels=list("abcd"))


def test_nrow_none_is_the_near_square_layout_and_numpy_ints_work():
    import numpy as np

    assert make_grid(torch.zeros(10, 5, 5), nrow=None, padding=0).shape == (1, 15, 20)
    assert make_grid(torch.zeros(10, 5, 5), nrow=np.int64(5), padding=0).shape == (1, 10, 25)


@pytest.mark.parametrize(
    ("images", "shown"),
    [(torch.arange(256.0).view(4, 1, 8, 8), r"\[0, 255\]"),  # forgot to divide by 255
     (torch.arange(256).to(torch.uint8).view(4, 1, 8, 8), r"\[0, 255\]"),
     (torch.linspace(-1, 1, 4 * 64).view(4, 1, 8, 8), r"\[-1, 1\]")],  # a GAN's tanh range
)  # fmt: skip
def test_show_images_refuses_values_outside_zero_one_naming_the_range(images, shown):
    with pytest.raises(ValueError, match=rf"expects values in \[0, 1\], got values in {shown}: divide .* by 255"):
        show_images(images)
    with pytest.raises(ValueError, match="expects values in"):
        show_images(images, labels=list("abcd"))


def test_show_images_refuses_nan_and_empty_batches_but_allows_rounding():
    images = torch.rand(4, 1, 8, 8)
    images[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="holding NaN or inf"):
        show_images(images)
    with pytest.raises(ValueError, match="N > 0"):
        show_images(torch.zeros(0, 1, 8, 8))
    kernels = torch.randn(16, 1, 5, 5)  # chapter 02 rescales kernels like this; the ends may round past 0 or 1
    low, high = kernels.amin(dim=(1, 2, 3), keepdim=True), kernels.amax(dim=(1, 2, 3), keepdim=True)
    show_images(((kernels - low) / (high - low)) * (1 + 1e-6), nrow=16)

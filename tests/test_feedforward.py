import pytest
import torch

from utils.data import load_mnist
from utils.evaluate import evaluate_classifier
from utils.feedforward import MLP, MLPConfig, SoftmaxRegression, flatten_images
from utils.train import classification_loss, fit


def test_models_map_images_to_logits():
    x = torch.rand(5, 1, 28, 28)
    assert SoftmaxRegression()(x).shape == (5, 10)
    assert MLP()(x).shape == (5, 10)


def test_flat_and_image_inputs_give_the_same_logits():
    torch.manual_seed(0)
    model = MLP().eval()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model(x), model(x.view(3, 784)))


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected inputs \[B, 784\].*got shape \(2, 1, 32, 32\)"):
        MLP()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="got shape"):
        flatten_images(torch.rand(784), 784)


def test_mlp_layers_follow_the_config():
    model = MLP(MLPConfig(hidden=(64, 32, 16), dropout=0.1, num_classes=3))
    linears = [m for m in model.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 64), (64, 32), (32, 16), (16, 3)]
    assert sum(p.numel() for p in model.parameters()) == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 16 + 16 + 16 * 3 + 3


def test_inputs_are_standardised_with_mnist_statistics():
    model = SoftmaxRegression(in_features=1, num_classes=1)
    with torch.no_grad():
        model.linear.weight.fill_(1.0)
        model.linear.bias.zero_()
    assert model(torch.tensor([[0.1307]])).item() == pytest.approx(0.0, abs=1e-6)
    assert model(torch.tensor([[0.1307 + 0.3081]])).item() == pytest.approx(1.0, abs=1e-5)


def test_mlp_learns_mnist_quickly():
    torch.manual_seed(0)
    x, y = load_mnist("train")
    x_test, y_test = load_mnist("test")
    model = MLP(MLPConfig(hidden=(128,)))
    fit(
        model,
        classification_loss,
        (x[:5000], y[:5000]),
        optimizer=torch.optim.Adam(model.parameters(), lr=2e-3),
        epochs=3,
        batch_size=64,
        generator=torch.Generator().manual_seed(0),
        progress=False,
    )
    assert evaluate_classifier(model, x_test[:2000], y_test[:2000])["accuracy"] > 0.9


def test_sizes_no_model_can_have_are_refused():
    with pytest.raises(ValueError, match="in_features must be at least 1, got 0"):
        SoftmaxRegression(0)
    with pytest.raises(ValueError, match="num_classes must be at least 1, got 0"):
        MLP(MLPConfig(num_classes=0))
    with pytest.raises(ValueError, match=r"every hidden width must be at least 1, got \(512, 0\)"):
        MLP(MLPConfig(hidden=(512, 0)))
    with pytest.raises(TypeError, match=r"hidden must be a tuple of layer widths such as \(512, 512\), got 512"):
        MLP(MLPConfig(hidden=512))
    for dropout in (1.0, float("nan")):
        with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
            MLP(MLPConfig(dropout=dropout))

"""The course's shipped, trained models: ``utils.pretrained.load(name)`` returns one ready to use.

    from utils import pretrained
    pretrained.names()  # ['dcgan-mnist', 'diffusion-mnist', 'gpt-shakespeare', 'latent-flow-mnist', 'mnist_classifier', 'vae-mnist']
    pretrained.load("dcgan-mnist").sample(16)   # [16, 1, 28, 28] in [0, 1]
    pretrained.info("vae-mnist").trained_by     # the command that reproduces its weights

The registry mechanism (entries, ``register``, ``info``, ``load``, ``ship``) lives in ``utils.registry``; this module
is the catalogue: it registers the generators the course ships (each with its recipe, its chapter's number and the
function that measures it) and imports ``utils.evaluator``, which registers the MNIST evaluator.
"""

from __future__ import annotations

import torch
from torch import nn

from utils import evaluator  # noqa: F401  (registers "mnist_classifier")
from utils.flow_models import ImageFlow, LatentFlow, VelocityMLP
from utils.gan import GANConfig, Generator
from utils.gpt import GPT, GPTConfig
from utils.metrics import score_generator
from utils.recipes import DCGANRecipe, FlowMatchingRecipe, VAERecipe
from utils.registry import Pretrained, info, load, names, register
from utils.train import StreamTrainConfig
from utils.unet import UNet, UNetConfig
from utils.vae import VAE, VAEConfig

__all__ = ["Pretrained", "info", "load", "names", "register", "SHIPPED_GPT_CONFIG"]


def _generator_frechet_ratio(generator: nn.Module) -> float:
    """Fréchet ratio to noise of 10,000 samples drawn with the generator's own defaults (for a class-conditional one,
    each sample's digit at random; ``utils.metrics.score_generator``; lower is better)."""
    return score_generator(generator).frechet_ratio


register(
    Pretrained(
        name="dcgan-mnist",
        description="DCGAN generator for MNIST digits (EMA weights); sample(n) -> [n, 1, 28, 28] in [0, 1]",
        build=lambda: Generator(GANConfig()),
        filename="dcgan_mnist.pt",
        sha256="8ac6b53cac5e580ea1d398a3c589f8a1f3437018af599d4d08da3ca75f73fa91",
        size=991225,
        trained_by="python scripts/train_dcgan.py",
        metric="Fréchet distance to the MNIST test set / that of uniform noise",
        target=0.03,
        higher_is_better=False,
        measure=_generator_frechet_ratio,
        recipe=DCGANRecipe(epochs=25, batch_size=128, lr_g=2e-4, lr_d=2e-4, ema_decay=0.999),
    )
)


def _vae_test_negative_elbo(model: nn.Module) -> float:
    """Negative ELBO (nats per image) on the binarised MNIST test set, one seeded posterior sample per image."""
    from utils.vae import binarized_mnist_test, mean_negative_elbo

    return mean_negative_elbo(model, binarized_mnist_test())


register(
    Pretrained(
        name="vae-mnist",
        description="MLP VAE for binarised MNIST (latent 32, Bernoulli decoder); encode(x) -> (mean, log-variance), "
        "decode(z) and sample(n) -> [n, 1, 28, 28] Bernoulli means in [0, 1]",
        build=lambda: VAE(VAEConfig()),
        filename="vae_mnist.pt",
        sha256="776d1a2a0afc87c1ce9c3ff2de07eba304f13e4838273eb13abc7019493aaadf",
        size=2762745,
        trained_by="python scripts/train_vae.py",
        metric="negative ELBO on the binarised MNIST test set (nats per image)",
        target=93.5,
        higher_is_better=False,
        measure=_vae_test_negative_elbo,
        recipe=VAERecipe(epochs=40),
        float16=True,
    )
)


SHIPPED_GPT_CONFIG = GPTConfig(vocab_size=65, block_size=256, n_layer=4, n_head=4, n_embd=128)  # chapter 06's, larger


def _gpt_validation_loss(model: nn.Module) -> float:
    """Mean loss (nats per character) on the whole Tiny Shakespeare validation text, in windows of the context."""
    from utils.gpt import evaluate_lm
    from utils.text import shakespeare_characters, text_windows

    _, _, val_ids = shakespeare_characters()
    return evaluate_lm(model, *text_windows(val_ids, model.config.block_size))


register(
    Pretrained(
        name="gpt-shakespeare",
        description="character-level GPT for Tiny Shakespeare (chapter 06's recipe; 4 layers, width 128, context 256); "
        "its vocabulary is utils.text.shakespeare_characters()[0]; generate(idx, n) continues a prompt",
        build=lambda: GPT(SHIPPED_GPT_CONFIG),
        filename="gpt_shakespeare.pt",
        sha256="3024246ffb656985707cebf859984a5ec6f88b386f3286871676cd5a19131f39",
        size=1701060,
        trained_by="python scripts/train_gpt.py",
        metric="loss on the Tiny Shakespeare validation text (nats per character)",
        target=1.53,
        higher_is_better=False,
        measure=_gpt_validation_loss,
        recipe=StreamTrainConfig(block_size=256, batch_size=16, steps=2400, max_lr=4e-3, embedding_lr_multiplier=5.0),
        float16=True,
    )
)


SHIPPED_DIFFUSION_CONFIG = UNetConfig(channels=(16, 32, 64), num_classes=10)  # chapter 07's U-Net, conditional
# 5 Euler steps with guidance 1.5: 10 network evaluations per sample. Measured on 2,000 samples of the shipped
# weights, this beat 5 Heun steps without guidance (also 10) and with it (20) on both Fréchet ratio and accuracy.
SHIPPED_DIFFUSION_SAMPLER = {"steps": 5, "method": "euler", "guidance": 1.5}


def diffusion_conditional_accuracy(model: nn.Module, n: int = 10_000) -> float:
    """Share of ``n`` samples (digits 0-9 in turn, the default sampler) that the evaluator reads as the digit asked
    for; the shipped diffusion model's second number."""
    from utils.metrics import SAMPLE_SEED, conditional_accuracy

    requested = torch.arange(n) % 10
    images = model.sample(n, labels=requested, generator=torch.Generator().manual_seed(SAMPLE_SEED))
    return conditional_accuracy(images.cpu(), requested)


register(
    Pretrained(
        name="diffusion-mnist",
        description="class-conditional flow-matching U-Net for MNIST digits (chapter 07); sample(n) -> "
        "[n, 1, 28, 28] in [0, 1] (random digits), sample(n, labels=...) draws chosen digits; 5 Euler steps, guidance 1.5",
        build=lambda: ImageFlow(UNet(SHIPPED_DIFFUSION_CONFIG), **SHIPPED_DIFFUSION_SAMPLER),
        filename="diffusion_mnist.pt",
        sha256="f146b419f99610857de38aa30e9152270a4feb2daabc0f77c10340613e68f6c8",
        size=921350,
        trained_by="python scripts/train_diffusion.py",
        metric="Fréchet distance to the MNIST test set / that of uniform noise (10,000 samples)",
        target=0.015,
        higher_is_better=False,
        measure=_generator_frechet_ratio,
        recipe=FlowMatchingRecipe(steps=6000, batch_size=128, lr=2e-3, warmup_steps=100, label_dropout=0.1),
        float16=True,
    )
)


SHIPPED_LATENT_FLOW_SAMPLER = {"steps": 4, "method": "heun"}  # chapter 07's: 8 network evaluations per sample


def _latent_flow() -> nn.Module:
    """Chapter 07's latent flow: an untrained velocity MLP on the codes of the shipped VAE (loaded, frozen)."""
    return LatentFlow(VelocityMLP(32, hidden=512, num_classes=10), load("vae-mnist"), **SHIPPED_LATENT_FLOW_SAMPLER)


register(
    Pretrained(
        name="latent-flow-mnist",
        description="class-conditional flow matching on the 32-number codes of the shipped vae-mnist (chapter 07's "
        "latent diffusion; the VAE's weights come from its own file); sample(n) -> [n, 1, 28, 28] in [0, 1], "
        "sample(n, labels=...) draws chosen digits; 4 Heun steps",
        build=_latent_flow,
        filename="latent_flow_mnist.pt",
        sha256="49babf31c107bf531fc30b6b17845bd953aae277e840503ca00919fd36e691d9",
        size=1322230,
        trained_by="python scripts/train_latent_flow.py",
        metric="Fréchet distance to the MNIST test set / that of uniform noise (10,000 samples)",
        target=0.02,
        higher_is_better=False,
        measure=_generator_frechet_ratio,
        recipe=FlowMatchingRecipe(steps=6000, batch_size=512, lr=1e-3, warmup_steps=100, label_dropout=0.1),
        float16=True,
        borrowed=("vae",),
    )
)

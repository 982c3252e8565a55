"""The course's tested reference package.

Chapters teach an idea by building it in the notebook; `utils` holds the clean, tested version that later
chapters reuse. Import what you need from its modules, for example ``from utils.data import load_mnist``.

Modules:
    paths       where the repository, its chapters, data and run records live; atomic writes
    device      picking CUDA, Apple MPS or the CPU, and a chapter's laptop or GPU setting
    colab       the course's address, Colab badges and the Colab setup block
    seeding     one call that seeds Python, NumPy and PyTorch
    download    fetching a file once, checksum-verified and written atomically
    data        the course's datasets as in-memory tensors, and mini-batching
    digits      the digit-image convention ([N, 1, 28, 28] in [0, 1]), its check, MNIST's mean and std
    augment     random shifts of image batches
    modes       ``eval_mode(model)``: eval mode for a block, the previous mode restored
    train       training loops (epochs, steps, token streams), History, AdamW groups, schedules
    recipes     the training recipes of the shipped image models (classifier, DCGAN, VAE, flow), each written once
    evaluate    predictions, accuracy, confusion matrices
    plot        image grids and training curves
    checkpoint  saving and loading ``state_dict``s safely
    results     recording a chapter's measured results
    measured    tables that scripts measure and chapters display (docs/measured/), never retyped
    feedforward chapter 01's models (softmax regression, MLP)
    cnn         chapter 02's LeNet-style CNN
    evaluator   the course's MNIST evaluator (registered as "mnist_classifier")
    metrics     scoring generated digits: Fréchet distance and ratio, class coverage, conditional accuracy
    manifold    k-NN precision, recall, density and coverage of feature sets, computed in chunks
    kid         the kernel distance (unbiased MMD with a polynomial kernel)
    frechet_bias the Fréchet distance against the number of samples, extrapolated to infinitely many
    memorisation the nearest-neighbour copy test against a training set
    two_sample  the classifier two-sample test (real vs generated)
    text_metrics generated text: copied n-grams, distinct-n
    rating      a blind A/B test of two generators: widget, binomial test, agreement
    text        character vocabularies, the names and Shakespeare datasets as ids, windows
    sampling    next-token distributions: temperature, top-k, top-p
    charlm      chapter 03's recurrent character language models
    gan         chapter 04's DCGAN, its losses, EMA and training loop
    vae         chapter 05's VAE, the ELBO and the importance-weighted bound
    gpt         chapter 06's GPT with a key/value cache
    flow        chapter 07's straight noise-to-data path: flow-matching loss, prediction conversions, a Gaussian toy
    samplers    solving the flow ODE (Euler, Heun, DDIM), time grids, classifier-free guidance
    unet        chapter 07's U-Net velocity network and its sinusoidal time embedding
    flow_models generators on a velocity network, in pixel space and in a VAE's latent space
    registry    the registry mechanism of shipped models (entries, load, ship); imports no model
    pretrained  the catalogue of shipped models: ``load(name)``
    timing      honest timing: warm-up, repeats, median and spread, CUDA synchronisation, interleaved comparisons
    flops       counting FLOPs, peak FLOP/s and memory bandwidth of this machine, the roofline
    profiling   torch.profiler summarised: operators by self time, share in matrix products, peak memory
    quantize    symmetric per-channel integer quantisation of weights, by hand (chapter 10)
    onnx_export exporting models to ONNX, running them with ONNX Runtime, int8 quantisation (chapter 10)
    prune       magnitude pruning (zeros) and structured pruning of a GPT's MLP units (a smaller model)
    distill     the knowledge-distillation loss (Hinton et al., 2015)
    watermark   the green-list watermark for generated text and its detector's z-score (chapter 11)
    membership  membership-inference scoring: ROC curve, AUC, true-positive rate at a low false-positive rate
    privacy     DP-SGD's parts (per-example gradients, clipping and noise) and the accountant's epsilon
    audio       WAV files as tensors, the STFT, a mel filter bank, log-mel spectrograms, Griffin-Lim (chapter 12)
    fsdd        the Free Spoken Digit Dataset: its manifest, fetching, the official split as tensors
    audio_models chapter 12's per-band normalisation, SpecAugment, spoken-digit CNN and conditional VAE
    distributed data-parallel training with torch.distributed: torchrun's context, the batch split by rank, launching
"""

__version__ = "0.1.0"

"""The course's tested reference package.

Chapters teach an idea by building it in the notebook; `utils` holds the clean, tested version that later
chapters reuse. Import what you need from its modules, for example ``from utils.data import load_mnist``.

Modules:
    paths       where the repository, its data and its run records live
    device      picking CUDA, Apple MPS or the CPU
    seeding     one call that seeds Python, NumPy and PyTorch
    download    fetching a file once, checksum-verified and written atomically
    data        the course's datasets as in-memory tensors, and mini-batching
    train       a small training loop with a progress bar and a loss history
    evaluate    predictions, accuracy, confusion matrices
    plot        image grids and training curves
    checkpoint  saving and loading ``state_dict``s safely
    results     recording a chapter's measured results
    feedforward the chapter 01 models (softmax regression, MLP)
"""

__version__ = "0.1.0"

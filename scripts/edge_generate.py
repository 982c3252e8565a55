"""Generate text and digits the way a small device would: ONNX Runtime and NumPy only, no PyTorch.

    python scripts/edge_generate.py text --model gpt_int8.onnx --card gpt_card.json --prompt "ROMEO:" --tokens 200
    python scripts/edge_generate.py digits --model dcgan_int8.onnx --count 16 --out digits.png

Chapter 10 exports the shipped GPT and DCGAN generator to ONNX, quantises them to int8, writes the GPT's card (its
vocabulary and context length, JSON), and runs this script as a separate process. It imports nothing from the course
(``utils`` needs PyTorch) and runs on one thread unless told otherwise; a test runs it where ``import torch`` fails.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

STARTED = time.perf_counter()  # before NumPy and ONNX Runtime: --stats counts their import as loading

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state  # noqa: E402

# ONNX Runtime's own exceptions (a wrong model for the command, a context longer than the model takes, ...)
ORT_ERRORS = tuple(getattr(_ort_state, name) for name in ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf",
                                                           "NoSuchFile", "RuntimeException") if hasattr(_ort_state, name))


def open_model(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for the file ``path`` with ``threads`` threads."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX model at {path}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1 (ONNX Runtime reads 0 as 'all cores'), got {threads!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # fatal only: errors reach the user once, as "error: ..." lines
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def read_card(path: str | Path) -> tuple[str, int]:
    """The GPT's vocabulary (a string: character i has id i) and context length from its JSON card."""
    try:
        card = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a JSON card ({error})") from None
    vocabulary = card.get("vocabulary") if isinstance(card, dict) else None
    block_size = card.get("block_size") if isinstance(card, dict) else None
    if (not isinstance(vocabulary, str) or not vocabulary or isinstance(block_size, bool)
            or not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"{path}: a card needs a non-empty 'vocabulary' string and an integer 'block_size' >= 1")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"{path}: the vocabulary repeats characters; character i must be id i")
    return vocabulary, block_size


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


def generate_text(
    model: ort.InferenceSession, vocabulary: str, block_size: int, prompt: str, tokens: int,
    temperature: float = 0.8, seed: int = 0,
) -> str:
    """Continue ``prompt`` by ``tokens`` characters, sampling at ``temperature`` (0: greedy). The model maps ids
    ``[1, T]`` (T <= block_size) to logits ``[1, T, vocabulary size]``; the last position's predict the next one."""
    unknown = sorted(set(prompt) - set(vocabulary))
    if not prompt or unknown:
        raise ValueError(f"the prompt must be non-empty and use only the model's characters; unknown: {unknown}")
    if tokens < 0 or not (temperature == 0 or 1e-3 <= temperature < float("inf")):
        raise ValueError(f"need tokens >= 0 and temperature 0 (greedy) or at least 0.001, got {tokens} and {temperature}")
    rng = np.random.default_rng(seed)
    ids = [vocabulary.index(c) for c in prompt]
    name = model.get_inputs()[0].name
    for _ in range(tokens):
        window = np.array([ids[-block_size:]], dtype=np.int64)
        output = model.run(None, {name: window})[0]
        if output.ndim != 3 or output.shape[-1] != len(vocabulary):
            raise ValueError(f"the model's logits have shape {output.shape}; expected [1, T, {len(vocabulary)}] for "
                             "this card's vocabulary: is this the card of this model?")
        logits = output[0, -1].astype(np.float64)
        if temperature == 0:
            ids.append(int(logits.argmax()))
        else:
            ids.append(int(rng.choice(len(logits), p=softmax(logits / temperature))))
    return "".join(vocabulary[i] for i in ids)


def generate_digits(model: ort.InferenceSession, count: int, seed: int = 0) -> np.ndarray:
    """``count`` images ``[count, 28, 28]`` as uint8 grey levels, from a generator mapping noise ``[B, latent]`` to
    images ``[B, 1, 28, 28]`` in [0, 1]."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    source = model.get_inputs()[0]
    if len(source.shape) != 2 or not isinstance(source.shape[1], int):
        raise ValueError(f"expected a generator of noise [B, latent] with a fixed latent size, got input {source.shape}")
    noise = np.random.default_rng(seed).standard_normal((count, source.shape[1])).astype(np.float32)
    images = model.run(None, {source.name: noise})[0]
    if images.ndim != 4 or images.shape[:2] != (count, 1):
        raise ValueError(f"expected grey images [B, 1, H, W], got output shape {images.shape}")
    if images.min() < -0.01 or images.max() > 1.01:  # a generator in [-1, 1] would otherwise come out half black
        raise ValueError(f"expected images in [0, 1], got values from {images.min():.2f} to {images.max():.2f}")
    return np.round(np.clip(images[:, 0], 0, 1) * 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int = 8, gap: int = 2) -> np.ndarray:
    """Tile images ``[N, H, W]`` into one grey image, ``columns`` per row, separated by ``gap`` black pixels."""
    n, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * (h + gap) + gap, columns * (w + gap) + gap), dtype=np.uint8)
    for i, image in enumerate(images):
        top, left = gap + (i // columns) * (h + gap), gap + (i % columns) * (w + gap)
        canvas[top : top + h, left : left + w] = image
    return canvas


def write_png(path: str | Path, grey: np.ndarray) -> None:
    """Write a uint8 grey image ``[H, W]`` as a PNG file, atomically, with the standard library only."""
    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise ValueError(f"expected a uint8 image [H, W], got {grey.dtype} {grey.shape}")
    height, width = grey.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + row.tobytes() for row in grey)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def peak_memory_mb() -> float | None:
    """This process's peak resident memory in MiB (None where the platform cannot say, e.g. Windows).

    On Linux it reads ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` would not do, because the kernel carries
    into it the resident memory of the process that started this one (a 1 GB notebook kernel made every child
    report 1 GB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kilobytes
    except OSError:
        pass
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, kilobytes on other systems
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "Generate text and digits with ONNX Runtime").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, as on a small device)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stats", action="store_true",
                        help="print a JSON line to stderr: peak memory (MB), seconds to import and load, seconds to "
                             "generate, ms per item")
    what = parser.add_subparsers(dest="what", required=True)
    text = what.add_parser("text", help="continue a prompt with the GPT")
    text.add_argument("--model", required=True)
    text.add_argument("--card", required=True, help="the GPT's JSON card: vocabulary and block_size")
    text.add_argument("--prompt", default="ROMEO:\n")
    text.add_argument("--tokens", type=int, default=200)
    text.add_argument("--temperature", type=float, default=0.8)
    digits = what.add_parser("digits", help="draw digits with the generator")
    digits.add_argument("--model", required=True)
    digits.add_argument("--count", type=int, default=16)
    digits.add_argument("--out", required=True, help="the PNG file to write")
    args = parser.parse_args(argv)
    try:
        model = open_model(args.model, args.threads)
        loaded = time.perf_counter()
        if args.what == "text":
            vocabulary, block_size = read_card(args.card)
            text = generate_text(model, vocabulary, block_size, args.prompt, args.tokens, args.temperature, args.seed)
            done = time.perf_counter()
            print(text)
            items = args.tokens
        else:
            images = generate_digits(model, args.count, args.seed)
            done = time.perf_counter()  # generation only: not the PNG
            write_png(args.out, grid(images))
            print(f"wrote {args.count} digits to {args.out}")
            items = args.count
    except (OSError, ValueError, RuntimeError, *ORT_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.stats:
        stats = {"peak_memory_mb": peak_memory_mb(), "load_seconds": loaded - STARTED,
                 "generate_seconds": done - loaded, "ms_per_item": 1000 * (done - loaded) / max(items, 1)}
        print(json.dumps(stats), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

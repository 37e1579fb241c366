"""Benchmark 4: importance-weighted NLL of the course's best model, trained within its budget.

    python benchmarks/bench_quality.py                        # the course recipe, 2,000 test images
    python benchmarks/bench_quality.py --n-test 10000         # all 10,000 test images (k=1000: ~30 min CPU)
    python benchmarks/bench_quality.py --precision fp32       # the same recipe in float32
    python benchmarks/bench_quality.py --recipe mlp500        # a candidate that lost (RESULTS.md §4)

The course recipe is `vaecourse.config.BEST_MODEL` + `BEST_TRAINING`, exactly what notebook 04
trains. Training: dynamic binarisation (a fresh Bernoulli sample of every batch) of MNIST train,
on the CPU unless a GPU is found. Evaluation: -log p(x) estimated with k importance samples
(Burda et al. 2016, `vaecourse.train.importance_weighted_nll`) on statically binarised MNIST
test images (`load_dataset(..., binarize="static", seed=0)`: one Bernoulli sample of each
image), a seeded random subset of --n-test of them; nats per image, with its standard error over
images. The one-sample negative ELBO on the same images is printed next to it (an upper bound).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import _common  # noqa: F401  (puts the repository on sys.path)
import torch
from _common import command_line, data_root, machine, mnist_tensors
from torch import Tensor

from vaecourse.config import BEST_MODEL, BEST_TRAINING, ModelConfig, TrainConfig
from vaecourse.data import load_dataset
from vaecourse.models import build_model
from vaecourse.train import evaluate, fit, importance_weighted_nll, pick_device, uses_bf16

TARGET_NATS = 90.0
RECIPES = {
    "course": (BEST_MODEL, BEST_TRAINING),
    # Candidates measured on the way (RESULTS.md, section 4).
    "mlp500": (ModelConfig("vae", latent_dim=50, hidden_dims=(500, 500)),
               TrainConfig(epochs=40, batch_size=128, lr=2e-3, lr_schedule="cosine", binarize=True)),
    "mlp": (ModelConfig("vae", latent_dim=20, hidden_dims=(400,)),
            TrainConfig(epochs=70, batch_size=256, lr=3e-3, lr_schedule="cosine", binarize=True)),
}
ANCHORS = (  # published test NLLs on binarised MNIST, nats (Burda et al. 2016, Table 1, k = 5000)
    ("VAE, 1 stochastic layer (784-200-200-50), 3,280 epochs", 86.76),
)


def static_binarised_test(n_test: int, seed: int = 0) -> Tensor:
    """MNIST test images binarised once (seed), as notebook 04 does; a seeded subset of n_test."""
    x = load_dataset("mnist", "test", root=data_root(), binarize="static", seed=seed).images
    if n_test < x.shape[0]:
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n_test]]
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="course")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--lr", type=float, help="override the recipe's learning rate")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), help="override the recipe's precision")
    parser.add_argument("--seed", type=int, help="override the recipe's training seed")
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--n-test", type=int, default=2000, help="a seeded subset of the test set (10000: all)")
    args = parser.parse_args()
    model_config, train_config = RECIPES[args.recipe]
    overrides = {"epochs": args.epochs, "lr": args.lr, "precision": args.precision, "seed": args.seed}
    train_config = replace(train_config, **{k: v for k, v in overrides.items() if v is not None})
    device = pick_device(train_config.device)
    print(f"## Quality (IW-NLL)\n\n`{command_line()}`\n\n{machine()}, device {device}\n")
    print(f"Recipe `{args.recipe}`: `{model_config}`, `{train_config}` "
          f"(bf16 autocast here: {uses_bf16(train_config, device)}); data root {data_root()}\n")
    torch.manual_seed(train_config.seed)
    model = build_model(model_config)
    start, cpu = time.perf_counter(), time.process_time()
    history = fit(model, mnist_tensors("train"), train_config, progress=False)
    train_s, train_cpu = time.perf_counter() - start, time.process_time() - cpu
    x_test = static_binarised_test(args.n_test)
    neg_elbo = evaluate(model, x_test)["neg_elbo"]
    start = time.perf_counter()
    nll = importance_weighted_nll(model, x_test, k=args.k, per_image=True)
    eval_s = time.perf_counter() - start
    mean, se = nll.double().mean().item(), nll.double().std().item() / nll.numel() ** 0.5
    verdict = "meets" if mean <= TARGET_NATS else "misses"
    print(f"| model | train | test images | −ELBO (1 sample) | IW-NLL (k = {args.k}) ± SE | target ≤ {TARGET_NATS:.0f} |")
    print("|---|---|---|---|---|---|")
    print(f"| {args.recipe}: {sum(p.numel() for p in model.parameters()):,} parameters | "
          f"{train_config.epochs} epochs, {train_s:.0f} s wall ({train_cpu:.0f} s CPU), "
          f"{history.threads} thread(s), {history.images_per_second:.0f} images/s | "
          f"{x_test.shape[0]:,} (static binarisation, seed 0) | "
          f"{neg_elbo:.2f} | **{mean:.2f}** ± {se:.2f} ({eval_s:.0f} s) | {verdict} |")
    for name, nats in ANCHORS:
        print(f"| published: {name} | | 10,000 | | {nats:.2f} | |")


if __name__ == "__main__":
    main()

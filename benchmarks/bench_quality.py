"""Benchmark 4: importance-weighted NLL of the course's best model, trained within its budget.

    python benchmarks/bench_quality.py                        # ConvVAE, 2,000 seeded test images (~12 min)
    python benchmarks/bench_quality.py --n-test 10000         # all test images (~35 min on 1 CPU thread)
    python benchmarks/bench_quality.py --recipe mlp           # the MLP candidate

Training: dynamic binarisation (a fresh Bernoulli sample of every batch) of MNIST train, the
recipe's TrainConfig, on the CPU unless a GPU is found. Evaluation: -log p(x) estimated with
k importance samples (Burda et al. 2016, `vaecourse.train.importance_weighted_nll`) on
statically binarised MNIST test images (one Bernoulli sample, seed 0), nats per image;
the one-sample negative ELBO on the same images is printed next to it (an upper bound).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import _common  # noqa: F401  (puts the repository on sys.path)
import torch
from _common import command_line, data_root, machine, mnist_tensors
from torch import Tensor

from vaecourse.config import ModelConfig, TrainConfig
from vaecourse.models import build_model
from vaecourse.train import evaluate, fit, importance_weighted_nll

TARGET_NATS = 90.0
# Candidates for the course's best model within a ~4-minute CPU budget (see RESULTS.md, section 4).
RECIPES = {
    "conv": (ModelConfig("conv_vae", latent_dim=20, hidden_dims=(32, 64, 256)),
             TrainConfig(epochs=10, batch_size=128, lr=1e-3, lr_schedule="cosine", binarize=True, num_threads=1)),
    "mlp500": (ModelConfig("vae", latent_dim=50, hidden_dims=(500, 500)),
               TrainConfig(epochs=40, batch_size=128, lr=2e-3, lr_schedule="cosine", binarize=True, num_threads=1)),
    "mlp": (ModelConfig("vae", latent_dim=20, hidden_dims=(400,)),
            TrainConfig(epochs=70, batch_size=256, lr=3e-3, lr_schedule="cosine", binarize=True, num_threads=1)),
}
ANCHORS = (  # published test NLLs on binarised MNIST, nats (Burda et al. 2016, Table 1, k = 5000)
    ("VAE, 1 stochastic layer (784-200-200-50), 3,280 epochs", 86.76),
)


def static_binarised_test(n_test: int | None, seed: int = 0) -> Tensor:
    """MNIST test images sampled once as Bernoulli(x) with `seed`; a seeded subset of n_test."""
    x = mnist_tensors("test")
    x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    if n_test is not None and n_test < x.shape[0]:
        x = x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))[:n_test]]
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="conv")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--lr", type=float, help="override the recipe's learning rate")
    parser.add_argument("--precision", choices=("fp32", "bf16"), help="override the recipe's precision")
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--n-test", type=int, default=2000,
                        help="a seeded subset of the test set (10000: all; k=1000 costs ~0.18 s per image for conv)")
    args = parser.parse_args()
    model_config, train_config = RECIPES[args.recipe]
    overrides = {"epochs": args.epochs, "lr": args.lr, "precision": args.precision}
    train_config = replace(train_config, **{k: v for k, v in overrides.items() if v is not None})
    print(f"## Quality (IW-NLL)\n\n`{command_line()}`\n\n{machine()}\n")
    print(f"Recipe `{args.recipe}`: `{model_config}`, `{train_config}`; data root {data_root()}\n")
    torch.manual_seed(train_config.seed)
    model = build_model(model_config)
    start, cpu = time.perf_counter(), time.process_time()
    history = fit(model, mnist_tensors("train"), train_config, progress=False)
    train_s, train_cpu = time.perf_counter() - start, time.process_time() - cpu
    x_test = static_binarised_test(args.n_test)
    if train_config.num_threads:  # evaluate with the threads the recipe trains with
        torch.set_num_threads(train_config.num_threads)
    neg_elbo = evaluate(model, x_test)["neg_elbo"]
    start = time.perf_counter()
    nll = importance_weighted_nll(model, x_test, k=args.k)
    eval_s = time.perf_counter() - start
    verdict = "meets" if nll <= TARGET_NATS else "misses"
    print("| model | train | test images | −ELBO (1 sample) | IW-NLL (k = %d) | target ≤ %.0f |" % (args.k, TARGET_NATS))
    print("|---|---|---|---|---|---|")
    print(f"| {args.recipe}: {sum(p.numel() for p in model.parameters()):,} parameters | "
          f"{train_config.epochs} epochs, {train_s:.0f} s wall ({train_cpu:.0f} s CPU), "
          f"{history.images_per_second:.0f} images/s | {x_test.shape[0]:,} (static binarisation, seed 0) | "
          f"{neg_elbo:.2f} | **{nll:.2f}** ({eval_s:.0f} s) | {verdict} |")
    for name, nats in ANCHORS:
        print(f"| published: {name} | | 10,000 | | {nats:.2f} | |")


if __name__ == "__main__":
    main()

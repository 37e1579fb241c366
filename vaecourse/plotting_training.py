"""Figures of a training run: loss curves per step and per epoch, training against validation.

Same contract as `vaecourse.plotting` (which re-exports these functions, so notebooks call
`plotting.loss_curves`): inputs are a `History` or its dict, every function returns a `CourseFigure`
in the course style (`vaecourse.style`), nothing is shown or saved here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from vaecourse.style import BLACK, BLUE, GREEN, ORANGE, PALETTE, PURPLE, REFERENCE, current, new_figure, styled
from vaecourse.train import History

LOSS_UNITS = "nats per image (summed over pixels)"
LOSS_LABEL = "nats per image\n(summed over pixels)"  # as an axis label: two short lines fit a projected figure
# term: (colour for a single run, line style when runs are overlaid, legend label)
TERM_STYLE = {
    "total": (BLACK, "-", "total"),
    "recon": (BLUE, "--", "recon"),
    "kl": (ORANGE, ":", "KL"),
}
def _smooth(y: Sequence[float], frac: float = 0.02) -> np.ndarray:
    """Centred moving average over about frac·len(y) steps: no lag, shorter windows at the ends."""
    y = np.asarray(y, dtype=float)
    window = np.ones(max(1, int(frac * len(y))) | 1)  # odd, so that it is centred
    return np.convolve(y, window, "same") / np.convolve(np.ones(len(y)), window, "same")


def _runs(history: History | Mapping) -> dict[str, dict]:
    """{run name: History as a dict}; a single History (or its dict) becomes {"": ...}."""
    single = isinstance(history, History) or (isinstance(history, Mapping) and "epoch_total" in history)
    runs = {"": history} if single else dict(history)
    runs = {k: h.as_dict() if isinstance(h, History) else dict(h) for k, h in runs.items()}
    for name, h in runs.items():
        if not h.get("epoch_total"):
            raise ValueError(f"History {name!r} has no epochs; pass what `fit` returned or its .as_dict().")
    return runs


def _ratio(kl: Sequence[float], recon: Sequence[float]) -> np.ndarray:
    recon = np.asarray(recon, dtype=float)
    return np.asarray(kl, dtype=float) / np.where(recon > 0, recon, np.nan)  # undefined if recon <= 0


def _plot_series(ax: Axes, epoch_values: Sequence[float], step_values: Sequence[float] | None,
                 colour: str, ls: str = "-", label: str | None = None) -> None:
    """One curve of one run: steps (faint raw, smoothed line) and epoch means (dots, mid-epoch); x in epochs."""
    epochs = np.arange(1, len(epoch_values) + 1)
    if step_values is not None and len(step_values):
        x_step = np.arange(1, len(step_values) + 1) * len(epochs) / len(step_values)
        ax.plot(x_step, step_values, color=colour, alpha=0.2, lw=0.5 * current().line_width)
        ax.plot(x_step, _smooth(step_values), color=colour, ls=ls, label=label)
        label = None
    ax.plot(epochs - 0.5, epoch_values, "o", color=colour, label=label)


def _plot_ratio(ax: Axes, h: dict, colour: str) -> None:
    """KL / recon of one run: per step (smoothed only: the raw ratio is noise) and per epoch (dots)."""
    epochs = np.arange(1, len(h["epoch_kl"]) + 1)
    if h.get("step_kl"):
        x_step = np.arange(1, len(h["step_kl"]) + 1) * len(epochs) / len(h["step_kl"])
        ax.plot(x_step, _smooth(_ratio(h["step_kl"], h["step_recon"])), color=colour)
    ax.plot(epochs - 0.5, _ratio(h["epoch_kl"], h["epoch_recon"]), "o", color=colour)


def _plot_beta(ax: Axes, runs: dict[str, dict], colours: list[str]) -> list[Line2D]:
    """β on a right-hand axis for the runs whose β changes; returns legend handles."""
    varying = {k: h for k, h in runs.items() if len(set(h.get("step_beta") or h["epoch_beta"])) > 1}
    if not varying:
        return []
    twin = ax.twinx()
    for colour, (name, h) in zip(colours, runs.items()):
        if name in varying:
            beta = h.get("step_beta") or h["epoch_beta"]
            x = np.arange(1, len(beta) + 1) * len(h["epoch_beta"]) / len(beta)
            twin.plot(x, beta, color=colour, ls="-.", lw=0.7 * current().line_width)
    twin.set_ylabel("β (dash-dot)")
    twin.set_ylim(bottom=0)
    return [Line2D([], [], color=REFERENCE, ls="-.", label="β (right axis)")]


def _ratio_panel(ax: Axes) -> None:
    """Labels and the seed's 0.1–1 band on the KL / recon panel."""
    ax.axhspan(0.1, 1.0, color=GREEN, alpha=0.12, label="seed's rule of thumb 0.1–1")
    ax.set(xlabel="epoch", ylabel="KL / recon (no unit)", ylim=(0, None))
    ax.legend(loc="upper right")


def _single_run(h: dict) -> Figure:
    """Total, recon and KL of one run in one panel (colour = term), KL / recon below."""
    fig, axes = new_figure(2, 1, figsize=(9, 6.5), sharex=True, height_ratios=(2, 1))
    ax, ax_ratio = axes[:, 0]
    for term, (colour, _, label) in TERM_STYLE.items():
        _plot_series(ax, h[f"epoch_{term}"], h.get(f"step_{term}"), colour, label=label)
    _plot_ratio(ax_ratio, h, PURPLE)
    handles = ax.get_legend_handles_labels()[0] + _plot_beta(ax, {"": h}, [REFERENCE])
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.01), ncol=4, frameon=False)
    ax.set_ylabel(LOSS_LABEL)
    _ratio_panel(ax_ratio)
    return fig


def _several_runs(runs: dict[str, dict]) -> Figure:
    """One panel per term (total, recon, KL) and KL / recon, one colour per run."""
    if len(runs) > len(PALETTE):
        raise ValueError(f"loss_curves compares at most {len(PALETTE)} runs (more colours cannot be told apart); "
                         f"got {len(runs)}.")
    colours = list(PALETTE[: len(runs)])
    fig, axes = new_figure(2, 2, figsize=(9, 6.5), sharex=True)
    for ax, (term, (_, _, label)) in zip(axes.flat, TERM_STYLE.items()):
        for colour, h in zip(colours, runs.values()):
            _plot_series(ax, h[f"epoch_{term}"], h.get(f"step_{term}"), colour)
        ax.set(ylabel="nats per image", title=label)
    for colour, h in zip(colours, runs.values()):
        _plot_ratio(axes[1, 1], h, colour)
    axes[1, 1].set_title("KL / recon")
    axes[1, 0].set_xlabel("epoch")
    _ratio_panel(axes[1, 1])
    handles = [Line2D([], [], color=c, label=name) for c, name in zip(colours, runs)]
    handles += _plot_beta(axes[0, 0], runs, colours)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    return fig


@styled
def loss_curves(history: History | Mapping) -> Figure:
    """Total, recon and KL per step (faint; smoothed) and per epoch (dots), and KL/recon, in nats per image.

    history: a History, its .as_dict(), or {run name: History} to compare runs (a panel per term,
    a colour per run, at most 7 runs).
    """
    runs = _runs(history)
    fig = _single_run(runs[""]) if len(runs) == 1 and "" in runs else _several_runs(runs)
    fig.suptitle("Training loss, nats per image (summed over pixels)\n"
                 "faint = each step, line = smoothed, dots = mean over the epoch")
    for ax in fig.axes:
        if not ax.get_ylabel().startswith("β"):
            ax.grid(alpha=0.3)
    return fig


@styled
def train_vs_val(history: History | Mapping, val_key: str = "neg_elbo") -> Figure:
    """Per epoch: the training loss (mean over the epoch's steps) and the validation loss after it.

    history: what `fit(..., x_val=...)` returned (or its .as_dict()); val_key: which `evaluate`
    number to draw (neg_elbo, recon or kl). Both in nats per image, summed over pixels.
    """
    h = history.as_dict() if isinstance(history, History) else dict(history)
    train_key = {"neg_elbo": "epoch_total", "recon": "epoch_recon", "kl": "epoch_kl"}.get(val_key)
    if train_key is None:
        raise ValueError(f"val_key must be 'neg_elbo', 'recon' or 'kl', got {val_key!r}.")
    if not h.get("val") or len(h["val"]) != len(h.get(train_key) or []):
        raise ValueError("train_vs_val needs a History from fit(..., x_val=...): one validation result per epoch.")
    train = np.asarray(h[train_key], dtype=float)
    val = np.asarray([v[val_key] for v in h["val"]], dtype=float)
    epochs = np.arange(1, len(train) + 1)
    fig, axes = new_figure(1, 1, figsize=(7, 4.5))
    ax = axes[0, 0]
    ax.plot(epochs - 0.5, train, "o-", color=BLUE, label="training (mean over the epoch)")
    ax.plot(epochs, val, "s-", color=ORANGE, label="validation (after the epoch)")
    ax.set(xlabel="epoch", ylabel=LOSS_LABEL, title=f"{'−ELBO' if val_key == 'neg_elbo' else val_key}: training vs validation")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return fig

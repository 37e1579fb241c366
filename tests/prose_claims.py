"""Comparative claims in the lessons' prose, each with a check on the saved printout that bears it out.

Used by test_notebook_prose.py. An entry is (a sentence that must be in the notebook's markdown,
a function of all its code cells' text outputs that must be true). The helpers read the tables
the lessons print; a re-run that reverses a comparison, or a rewording that drops the sentence,
fails the test with the sentence in the message.
"""

from __future__ import annotations

import re


def row(outputs: str, label: str) -> list[float]:
    """The numbers on the first output line that starts with `label` (a row of a printed table)."""
    line = next(l for l in outputs.splitlines() if l.strip().startswith(label))
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", line[line.index(label) + len(label):])]


def starred(outputs: str, label: str) -> list[bool]:
    """For each number on a table row, whether the table starred it (best in its column)."""
    line = next(l for l in outputs.splitlines() if l.strip().startswith(label))
    return [bool(m.group(1)) for m in re.finditer(r"\d+\.\d+(\*)?", line[line.index(label) + len(label):])]


def class_order(outputs: str) -> list[str]:
    """Class names in the order notebook 01's per-class table prints them (lowest error first)."""
    block = outputs[outputs.index("mean MSE per pixel"):].splitlines()[1:11]
    return [line.split()[0] for line in block]


def blur(outputs: str, loss: str) -> list[float]:
    """Notebook 01's blur table: [mid-grey %, edge strength] of the model trained with `loss` ("" = the test images)."""
    table = outputs[outputs.index("mid-grey pixels   edge strength"):]
    return row(table, f"trained with {loss}" if loss else "test images")


def phase(outputs: str, name: str) -> list[float]:
    """Notebook 02's training phases: [recon, KL, KL/recon] over the named steps."""
    return row(outputs[outputs.index("recon      KL   KL/recon"):], name)[-3:]


def iw_bound(outputs: str, k: int) -> float:
    """Notebook 02's importance-weighted bound with k samples."""
    return float(re.search(rf"k = +{k} importance samples: −log p\(x\) ≤ +([\d.]+)", outputs).group(1))


def fb_elbo(outputs: str) -> float:
    """Notebook 02's −ELBO of the β = 784 run rescued by free bits."""
    return float(re.search(r"free bits λ = 0\.5: .*−ELBO ([\d.]+)", outputs).group(1))


VARIANTS = ("plain", "linear annealing", "cyclical annealing", "free bits λ = 0.5")


def run(outputs: str, beta: int, variant: str) -> list[float]:
    """Notebook 02's annealing table: [active, KL>0.1, KL, recon, −ELBO] of one run."""
    return row(outputs[outputs.index("active  KL>0.1"):], f"β = {beta}  {variant} ")[-5:]


def trav(outputs: str) -> list[float]:
    """Notebook 03's traversal table: Σ|Δpixel| along each row, rows in order of KL."""
    block = outputs[outputs.index("Σ|Δpixel| along the row"):].splitlines()[1:17]
    return [float(line.split()[-1]) for line in block]


def nearest_8_and_3(outputs: str) -> tuple[float, float]:
    """Notebook 03's arithmetic: distances of z_new to the 8s' and 3s' mean codes, printed nearest first."""
    found = re.search(r"nearest class means: 8 \(([\d.]+)\), 3 \(([\d.]+)\)", outputs)
    return (float(found.group(1)), float(found.group(2))) if found else (0.0, float("inf"))


def ae(outputs: str) -> list[float]:
    """Notebook 03's autoencoder sweep: test squared error per image for k = 2 … 64."""
    return [float(v) for v in re.findall(r"latent dim +\d+: test squared error +([\d.]+)", outputs)]


BANK_BETAS = ("0.5", "1", "2", "4", "8")


def prop(outputs: str, label: str) -> list[float]:
    """Notebook 03's properties table: [kNN acc, within/between, jump lerp, jump slerp, |corr|, dims for 90 % KL]."""
    full = {"pixels": "pixels (784-D)", "autoencoder": "autoencoder, 16-D"}.get(label, f"{label}, 16-D")
    return row(outputs[outputs.index("within/"):], full)


def overfit(outputs: str) -> dict[str, float]:
    """Notebook 01's overfitting line: the lowest test BCE and the final train and test BCE."""
    found = re.search(r"lowest after epoch \d+: ([\d.]+) .*?: train ([\d.]+), test ([\d.]+)", outputs)
    return dict(zip(("lowest", "train", "test"), map(float, found.groups())))


def val(outputs: str) -> list[float]:
    """Notebook 04's validation −ELBO after epochs 1, 5, 10, 15 and 20."""
    line = outputs[outputs.index("validation −ELBO (nats per image) after epoch"):].splitlines()[0]
    return [float(v) for v in re.findall(r"\d+: ([\d.]+)", line)]


def iw4(outputs: str) -> list[float]:
    """Notebook 04's importance-weighted estimates for k = 1, 10, 100, 1000."""
    return [row(outputs, f"k = {k:>4}:")[0] for k in (1, 10, 100, 1000)]


def falling(values) -> bool:
    """Whether the values never rise, in the order given."""
    values = list(values)
    return values == sorted(values, reverse=True)


def vae(outputs: str, beta: str) -> list[float]:
    """Notebook 03's properties row of the 16-D bank VAE with this β."""
    return prop(outputs, f"VAE β = {beta}")


SMALL_BETAS = ("0.5", "1", "2")
RECON_TABLE = ("trained with MSE", "trained with BCE", "trained with L1")
CLAIMS: dict[str, list[tuple[str, object]]] = {  # notebook: [(sentence in its markdown, check on all its outputs)]
    "notebooks/01_reconstruction_loss.ipynb": [
        ("the BCE model is best on its own loss *and* on MSE",
         lambda o: starred(o, "trained with BCE")[:2] == [True, True]),
        ("it wins L1 by a hair too", lambda o: starred(o, "trained with BCE")[2]),
        ("The L1 model is worst everywhere", lambda o: all(
            row(o, "trained with L1")[c] == max(row(o, r)[c] for r in RECON_TABLE) for c in range(3))),
        ("more than ten times the others'",
         lambda o: row(o, "trained with L1")[1] > 10 * max(row(o, r)[1] for r in RECON_TABLE[:2])),
        ("The code closes most of the gap",
         lambda o: int(re.search(r"the code closes (\d+)% of the gap", o).group(1)) > 50),
        ("the training error keeps falling to the end, while the test error bottoms out",
         lambda o: overfit(o)["train"] < overfit(o)["lowest"] < overfit(o)["test"] - 5),
        ("the correlation printed above is positive",
         lambda o: float(re.search(r"and its ink: (-?[\d.]+)", o).group(1)) > 0.1),
        ("the model's centre error fell", lambda o: row(o, "trained centre-weighted")[0] < row(o, "trained plain")[0]),
        ("its border error rose", lambda o: row(o, "trained centre-weighted")[1] > row(o, "trained plain")[1]),
        ("the MSE and BCE models are about equally blurry", lambda o: abs(blur(o, "MSE")[0] - blur(o, "BCE")[0]) < 1
         and min(blur(o, "MSE")[0], blur(o, "BCE")[0]) > blur(o, "")[0]
         and max(blur(o, "MSE")[1], blur(o, "BCE")[1]) < blur(o, "")[1]),
        ("The L1 model has fewer mid-grey pixels than the real digits", lambda o: blur(o, "L1")[0] < blur(o, "")[0]),
        ("but also the weakest edges", lambda o: blur(o, "L1")[1] < min(blur(o, "MSE")[1], blur(o, "BCE")[1])),
        ("1s are by far the easiest, then 7s and 9s; 8s and 2s are the hardest, then 5s",
         lambda o: class_order(o)[0] == "1" and set(class_order(o)[1:3]) == {"7", "9"}
         and set(class_order(o)[-2:]) == {"8", "2"} and class_order(o)[-3] == "5"),
        ("are only fourth easiest", lambda o: class_order(o)[3] == "0"),
        ("0s have the most ink",
         lambda o: max(class_order(o), key=lambda c: row(o.split("mean ink")[1], f"{c} ")[1]) == "0"),
    ],
    "notebooks/02_vae_objective.ipynb": [
        ("the KL is a tiny fraction of the reconstruction", lambda o: phase(o, "steps 0–4")[2] < 0.01),
        ("the KL jumps, as the encoder first spreads its means apart",
         lambda o: phase(o, "steps 5–20")[1] > phase(o, "steps 21–100")[1] < phase(o, "rest of epoch 1")[1]),
        ("the KL is more than a tenth of the reconstruction", lambda o: phase(o, "rest of epoch 1")[2] > 0.1),
        ("the reconstruction falls by several nats from epoch 2 to epoch 3, but the KL still *grows*",
         lambda o: phase(o, "epoch 2")[0] - phase(o, "epoch 3")[0] > 2 and phase(o, "epoch 3")[1] > phase(o, "epoch 2")[1]),
        ("this healthy β = 1 run ends inside the band", lambda o: 0.1 <= phase(o, "epoch 3")[2] <= 1),
        ("100 samples make it a few nats tighter", lambda o: 1 < iw_bound(o, 1) - iw_bound(o, 100) < 10),
        ("below even the $k = 100$ bound",
         lambda o: float(re.search(r"with z = μ: +([\d.]+)", o).group(1)) < iw_bound(o, 100)),
        ("well over twice the healthy model's", lambda o: min(row(o, "mean recon + KL")[-3], row(o, "recon/N + KL/D")[-3])
         > 2 * row(o, "β = 1, sums (correct)")[-3]),
        ("free bits keep every dimension active", lambda o: re.search(r"free bits λ = 0\.5: 20 of 20 active", o)),
        ("improves a lot on the collapsed runs'", lambda o: fb_elbo(o) < row(o, "mean recon + KL")[-2] - 10),
        ("it stays far behind the healthy β = 1 model's", lambda o: fb_elbo(o) > row(o, "β = 1, sums (correct)")[-2] + 20),
        ("The plain run leaves several of its 20 dimensions below 0.1 nats; both kinds of annealing keep more",
         lambda o: run(o, 4, "plain")[1] < min(run(o, 4, v)[1] for v in VARIANTS[1:3]) and run(o, 4, VARIANTS[3])[1] == 20),
        ("hardly separate the runs (all near 20)", lambda o: all(run(o, b, v)[0] >= 18 for b in (1, 4) for v in VARIANTS)),
        ("concentrates its KL in a dozen or so dimensions", lambda o: 9 <= run(o, 4, "plain")[1] <= 15),
        ("raise the KL by at most about 1 nat and move the reconstruction and the −ELBO by less than 1 nat",
         lambda o: all(0 <= run(o, 1, v)[2] - run(o, 1, "plain")[2] < 1.5
                       and all(abs(run(o, 1, v)[c] - run(o, 1, "plain")[c]) < 1 for c in (3, 4)) for v in VARIANTS[1:])),
        ("The −ELBO moves by under 2 nats either way",
         lambda o: all(abs(run(o, 4, v)[4] - run(o, 4, "plain")[4]) < 2 for v in VARIANTS)),
        ("the annealed runs reconstruct up to 2 nats better",
         lambda o: all(0 < run(o, 4, "plain")[3] - run(o, 4, v)[3] <= 2 for v in VARIANTS[1:3])),
        ("free bits pay about 1 nat of ELBO", lambda o: 0.5 <= run(o, 4, VARIANTS[3])[4] - run(o, 4, "plain")[4] < 1.5),
        ("the lowest test −ELBO in the bank for every latent size but $k = 2$",
         lambda o: re.search(r"per k: \{2: (?!1\.0)[\d.]+, 4: 1\.0, 8: 1\.0, 16: 1\.0, 32: 1\.0, 64: 1\.0\}", o)),
    ],
    "notebooks/03_latent_space.ipynb": [
        ("about as well as the raw pixels (within a point of accuracy)",
         lambda o: all(abs(vae(o, b)[0] - prop(o, "pixels")[0]) <= 0.01 for b in SMALL_BETAS)),
        ("the autoencoder's codes do a little worse",
         lambda o: 0 < min(vae(o, b)[0] for b in SMALL_BETAS) - prop(o, "autoencoder")[0] < 0.05),
        ("β = 4 and 8 have the lowest accuracy", lambda o: max(vae(o, "4")[0], vae(o, "8")[0])
         < min([prop(o, "autoencoder")[0]] + [vae(o, b)[0] for b in SMALL_BETAS])),
        ("it *falls*, which looks better, as β grows from 1 to 8",
         lambda o: falling(vae(o, b)[1] for b in ("1", "2", "4", "8"))),
        ("lower for the autoencoder than for any VAE with β ≤ 2",
         lambda o: prop(o, "autoencoder")[1] < min(vae(o, b)[1] for b in SMALL_BETAS)),
        ("the largest step carries less than a tenth", lambda o: all(max(vae(o, b)[2:4]) < 0.1 for b in BANK_BETAS)),
        ("lerp and slerp hardly differ", lambda o: all(abs(vae(o, b)[2] - vae(o, b)[3]) < 0.01 for b in BANK_BETAS)),
        ("the autoencoder's about twice as much",
         lambda o: 1.5 < prop(o, "autoencoder")[4] / (sum(vae(o, b)[4] for b in BANK_BETAS) / 5) < 3),
        ("a larger β does not lower the correlation here", lambda o: vae(o, "8")[4] >= vae(o, "0.5")[4]),
        ("the last column shrinks as β grows", lambda o: falling(vae(o, b)[5] for b in BANK_BETAS)),
        ("This curve also falls fastest for small $k$ (up to $k = 8$) and then flattens",
         lambda o: ae(o)[0] - ae(o)[2] > 2 * (ae(o)[2] - ae(o)[5]) > 0 and falling(ae(o))),
        ("change the image the most along their rows", lambda o: min(trav(o)[:8]) > trav(o)[8] > max(trav(o)[9:])),
        ("about half as much as the weakest of them", lambda o: 0.35 < trav(o)[8] / min(trav(o)[:8]) < 0.65),
        ("nearest to the mean of the 8s, then of the 3s, at almost the same distance from both",
         lambda o: abs(nearest_8_and_3(o)[0] - nearest_8_and_3(o)[1]) < 0.2),
        ("hardly any with the random offset", lambda o: row(o, "+ random offset")[1] <= 3),
    ],
    "notebooks/04_best_model.ipynb": [
        ("The validation loss never turns upward", lambda o: falling(val(o))),
        ("the second ten epochs gain only a few nats", lambda o: 0 < val(o)[2] - val(o)[4] < 5),
        ("by less each time (compare the steps",
         lambda o: iw4(o)[0] - iw4(o)[1] > iw4(o)[1] - iw4(o)[2] > iw4(o)[2] - iw4(o)[3] > 0),
        ("It is lower than the validation −ELBO printed after training", lambda o: iw4(o)[0] < val(o)[-1]),
        ("lands within about a nat of the published 86.76", lambda o: abs(iw4(o)[3] - 86.76) < 1.5),
        ("The first 400 test images happen to be easier than average", lambda o: iw4(o)[3] < 88.86),
        ("about a nat and a quarter, is the standard error", lambda o: 1 < row(o, "k = 1000:")[1] < 1.5),
        ("only ever falls", lambda o: falling(iw4(o))),
    ],
    "notebooks/05_deeper_elbo.ipynb": [
        ("The collapsed model is not even the better one",
         lambda o: row(o, "MLP decoder (weaker)")[0] < row(o, "PixelCNN decoder")[0]),
        ("The −ELBO is the worst of the four",
         lambda o: row(o, "+ free bits λ = 0.5")[0] > max(row(o, n)[0] for n in
                                                          ("PixelCNN decoder", "+ KL annealing", "MLP decoder (weaker)"))),
        ("median bound", lambda o: row(o, "trained on fashion-mnist scoring mnist")[0]
         < row(o, "trained on fashion-mnist scoring fashion-mnist")[0]),
        ("On digits the overcomplete code wins clearly", lambda o: row(o, "code size 1024")[0] < row(o, "code size 16")[0]),
        ("it does far worse than the small code", lambda o: row(o, "code size 1024")[2] > row(o, "code size 16")[2]),
    ],
}

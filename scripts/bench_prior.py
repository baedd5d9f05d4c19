"""Does a latent prior learn more than a Gaussian? Per CPU budget, on data where the truth is known and on the toy default.

    python scripts/bench_prior.py [--part synthetic|toy|all] [--budgets 1 4 16] [--ckpt RUN/checkpoints/last]
                                  [--work DIR] [--out FILE]

(a) synthetic: the prior stage's LatentPrior (MLPSkipNet 512 x 6, cosine T = 1000, v-prediction, AdamW 1e-3 to 0,
    batch 256, EMA 0.999 with warm-up: configs/prior/frozen_autoencoder.yaml), trained by the same Trainer on
      * two_modes_1d: 0.3 N(−2, 0.25²) + 0.7 N(2, 0.25²);
      * bimodal_coord_64d: that mixture on coordinate 0, 63 standard normals beside it;
      * mixture8_64d: 8 Gaussians (std 0.5, centres at radius 5, weights ∝ 1..8) in 64 dimensions.
    Reported per budget: the mode-mass error (total variation between the share of samples nearest each mode and
    the true weights), the off-mode share (samples further from every mode than 4 standard deviations in 1-D, or the
    0.9999 quantile of the true distance in 64-d), and the denoiser's squared x0 error over the optimal linear
    (Wiener) denoiser's, mean over t in {50, 100, 200, 400, 700} (< 1: it knows more than mean and covariance).
    The Gaussian fitted to the data and fresh true samples are the reference rows. One run per dataset is trained
    for the largest budget; the smaller budgets are its EMA weights when that much time had passed (the step count
    is calibrated on the first 60 steps), so each budget's learning rate had not yet decayed.
(b) toy: the prior stage on the default's autoencoder `--ckpt` (RUN/checkpoints/last of `dmlp train prior=none`,
    trained when not given), per option and budget, each a real `dmlp train prior.init=...` run for its budget, its 500
    samples drawn by each of SAMPLERS (`dmlp sample`) and scored by `dmlp score` (grammar- and syntax-valid rates,
    self-BLEU, distinct samples), next to `dmlp diagnose`'s references: held-out posterior samples (the decoder's
    ceiling), a Gaussian fitted to the training latents and the joint DDPM. Then the latent space as a lever (LEVERS):
    a joint phase with a larger posterior variance, its references and reconstruction BLEU, and its prior stage.
"""

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.table import Table

from bench_sampling import console, dmlp, train_toy_default
from dmlp_cli.data.jsonl import read_texts
from dmlp_cli.diffusion.samplers import AncestralSampler
from dmlp_cli.diffusion.schedules import CosineSchedule
from dmlp_cli.evaluation.linear_denoiser import denoising_errors
from dmlp_cli.models.denoisers import MLPSkipNet
from dmlp_cli.models.latent_prior import LatentPrior
from dmlp_cli.training.distributed import DistributedContext
from dmlp_cli.training.latent_cache import CachedLatents
from dmlp_cli.tracking.run_history import read_curves
from dmlp_cli.training.loop import Trainer

TIMESTEPS = (50, 100, 200, 400, 700)
TOY_OPTIONS = {  # name -> overrides of `dmlp train prior.init=...` (the default's prior stage)
    "prior stage (frozen_autoencoder)": [],
    "+ min-SNR-5 weighting": ["+prior.model.loss_weighting=min_snr"],
    "+ self-conditioning": ["prior.denoiser.self_conditioning=true"],
    "+ log-SNR shift −1": ["prior.schedule.logsnr_shift=-1.0"],
    "+ loss-aware timesteps": ["+prior.model.timestep_sampling=loss_aware"],
    "global normalisation": ["prior.normalization=global"],
}
SAMPLERS = {"ancestral-250": ["sampler=ddpm", "steps=250"], "DDIM-50": ["sampler=ddim", "steps=50"],
            "DDIM-50, top_p 1.5": ["sampler=ddim", "steps=50", "top_p=1.5"]}  # top_p: truncated initial noise
LEVERS = {f"posterior variance {v:g} (default 0.008)": [f"model.fixed_logvar={math.log(v)}"] for v in (0.02, 0.05)}
TRAINING = {"global_batch_size": 256, "lr": 1e-3, "warmup_steps": 100, "lr_end_ratio": 0.0, "ema_decay": 0.999,
            "ema_warmup": True, "log_every": 10**9, "save_every": 0, "best_metric": None, "device": "cpu"}


class Synthetic:
    """A known distribution: samples, and which mode a point is nearest to (or that it is near none)."""

    def __init__(self, name: str, *, dim: int, centres: torch.Tensor, std: float, weights: torch.Tensor, coords: int):
        self.name, self.dim, self.centres, self.std, self.weights, self.coords = name, dim, centres, std, weights, coords
        if coords == 1:  # further than 4 standard deviations from both modes
            self.threshold = 4 * std
        else:  # the 0.9999 quantile of the true samples' distance to their nearest mode
            distance, _ = self.nearest(self.sample(200_000, torch.Generator().manual_seed(2)))
            self.threshold = torch.quantile(distance, 0.9999).item()

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        x = torch.randn(n, self.dim, generator=generator)
        x[:, : self.coords] = self.centres[component] + self.std * x[:, : self.coords]
        return x

    def nearest(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        distance = torch.cdist(x[:, : self.coords], self.centres)
        return distance.min(dim=1)

    def scores(self, x: torch.Tensor) -> dict:
        distance, mode = self.nearest(x)
        share = torch.bincount(mode, minlength=len(self.weights)).float() / len(x)
        result = {"mode_mass_error": 0.5 * (share - self.weights).abs().sum().item(),
                  "off_mode_share": (distance > self.threshold).float().mean().item()}
        if self.dim > self.coords:  # the plain normal coordinates beside the modes
            result["normal_coords_variance_error"] = (x[:, self.coords:].var(0) - 1).abs().mean().item()
        return result


def synthetic_datasets() -> list[Synthetic]:
    two = torch.tensor([[-2.0], [2.0]]), torch.tensor([0.3, 0.7])
    g = torch.Generator().manual_seed(1)
    directions = torch.randn(8, 64, generator=g)
    return [Synthetic("two_modes_1d", dim=1, centres=two[0], std=0.25, weights=two[1], coords=1),
            Synthetic("bimodal_coord_64d", dim=64, centres=two[0], std=0.25, weights=two[1], coords=1),
            Synthetic("mixture8_64d", dim=64, centres=5 * directions / directions.norm(dim=1, keepdim=True), std=0.5,
                      weights=torch.arange(1.0, 9.0) / 36, coords=64)]


def wiener_gap(prior: LatentPrior, *, x0: torch.Tensor, generator: torch.Generator) -> float:
    """Mean over TIMESTEPS of E‖x̂0 − x0‖² (denoiser) / E‖x̂0 − x0‖² (Wiener), in the normalised space."""
    errors = denoising_errors(prior, x0=prior.normalization.normalize(x0), timesteps=TIMESTEPS, generator=generator)
    return sum(row["learned"] / row["wiener"] for row in errors.values()) / len(errors)


def bench_synthetic(data: Synthetic, *, budgets: list[float], n_eval: int, work: Path) -> dict:
    generator = torch.Generator().manual_seed(0)
    train = data.sample(200_000, generator)
    held_out = data.sample(n_eval, generator)
    gaussian = train.mean(0) + torch.randn(n_eval, data.dim, generator=generator) @ torch.linalg.cholesky(
        torch.atleast_2d(torch.cov(train.T))).T
    cached = CachedLatents(means=train, logvars=torch.full_like(train, -math.inf))  # no posterior noise: z = x

    def fresh_prior() -> LatentPrior:
        torch.manual_seed(0)
        prior = LatentPrior(denoiser=MLPSkipNet(latent_dim=data.dim, hidden_dim=512, num_layers=6),
                            schedule=CosineSchedule(num_timesteps=1000, prediction_type="v_prediction"),
                            latent_dim=data.dim)
        prior.normalization.fit(means=train, logvars=torch.full_like(train, -math.inf), kind="per_dimension")
        return prior

    def fit(prior: LatentPrior, *, steps: int, eval_every: int, validate) -> float:
        started = time.perf_counter()
        Trainer(max_steps=steps, eval_every=eval_every, **TRAINING).fit(
            model=prior, train_set=cached, collator=CachedLatents.collate, run_dir=work, validate=validate,
            save=lambda **_: work, context=DistributedContext())
        return time.perf_counter() - started

    steps_per_s = 60 / fit(fresh_prior(), steps=60, eval_every=10**9, validate=lambda m: ({}, []))
    unit = max(1, round(min(budgets) * 60 * steps_per_s))
    rows = {"true samples": data.scores(held_out), "Gaussian fit": data.scores(gaussian)}
    calls = {"count": 0}

    def validate(model: LatentPrior):
        calls["count"] += 1
        minutes = calls["count"] * min(budgets)
        if any(abs(minutes - budget) < 1e-9 for budget in budgets):
            samples = AncestralSampler(steps=250).sample(denoiser=model.denoiser, schedule=model.schedule,
                                                         shape=(n_eval, data.dim), generator=torch.Generator().manual_seed(3))
            rows[f"prior, {minutes:g} min ({calls['count'] * unit} steps)"] = {
                **data.scores(model.normalization.denormalize(samples)),
                "wiener_gap": wiener_gap(model, x0=held_out, generator=torch.Generator().manual_seed(4))}
            console.print(f"{data.name}: {minutes:g} min {rows[list(rows)[-1]]}")
        return {}, []

    fit(fresh_prior(), steps=unit * round(max(budgets) / min(budgets)), eval_every=unit, validate=validate)
    return {"steps_per_s": steps_per_s, "rows": rows}


def sample_scores(ckpt: Path, *, n: int, work: Path, name: str) -> dict:
    """{sampler: grammar/syntax-valid rate, self-BLEU, distinct samples} of `dmlp sample` + `dmlp score` per SAMPLERS."""
    rows = {}
    for sampler, overrides in SAMPLERS.items():
        output = work / f"{name}-{len(rows)}.jsonl"
        dmlp("sample", f"ckpt={ckpt}", f"n={n}", "seed=0", *overrides, f"output={output}",
             f"hydra.run.dir={work / 'hydra'}", cwd=work)
        scores = output.with_suffix(".scores.json")
        dmlp("score", f"samples={output}", f"output={scores}", f"hydra.run.dir={work / 'hydra'}", cwd=work)
        result = json.loads(scores.read_text())
        rows[sampler] = {**{key: result[key] for key in ("grammar_valid_rate", "syntax_valid_rate", "self_bleu")},
                         "distinct_samples": len(set(read_texts(output)))}
    return rows


def references(ckpt: Path, *, n: int, work: Path, name: str) -> dict:
    """`dmlp diagnose`'s rows of an autoencoder: held-out posterior samples (the decoder's ceiling), the Gaussian fit
    and the joint DDPM (ancestral-250), with the run's final reconstruction BLEU."""
    output = work / f"{name}-diagnosis.json"
    dmlp("diagnose", f"ckpt={ckpt}", f"n={n}", "sampler=ddpm", "steps=250", f"output={output}",
         f"hydra.run.dir={work / 'hydra'}", cwd=work)
    rates = json.loads(output.read_text())["valid_rates"]
    curves = read_curves(ckpt.parent.parent / "metrics.jsonl")
    bleu = {"reconstruction_bleu": curves["valid/reconstruction_bleu"].final()[1]}
    return {f"{name}: posterior samples (held out)": {**rates["posterior_samples"], **bleu},
            f"{name}: Gaussian fit to the training latents": rates["gaussian_fit"],
            f"{name}: joint DDPM · ancestral-250": rates["prior_samples"]}


def prior_rows(ckpt: Path, *, options: dict, budgets: list[float], n: int, work: Path) -> dict:
    """Per option and budget, a real `dmlp train prior=frozen_autoencoder prior.init=ckpt` run of as many steps as
    the budget's CPU minutes at the option's calibrated speed, and its sample_scores."""
    rows = {}
    for option, overrides in options.items():
        calibration = work / f"calibrate-{option}"
        dmlp("train", f"prior.init={ckpt}", "logger=none", "prior.trainer.max_steps=200", "prior.trainer.log_every=100",
             "prior.trainer.eval_every=1000", "validation.num_generate=0", *overrides,
             f"hydra.run.dir={calibration}", cwd=work)
        steps_per_s = read_curves(calibration / "metrics.jsonl")["train/samples_per_s"].final()[1] / 256
        for budget in budgets:
            steps = max(1, round(budget * 60 * steps_per_s))
            run = work / f"{option}-{budget:g}min"
            seconds = dmlp("train", f"prior.init={ckpt}", "logger=none", f"prior.trainer.max_steps={steps}",
                           f"prior.trainer.eval_every={steps}", f"prior.trainer.save_every={steps}", *overrides,
                           f"hydra.run.dir={run}", cwd=work)
            name = f"{option}, {budget:g} min ({steps} steps)"
            for sampler, row in sample_scores(run / "checkpoints" / "last", n=n, work=work, name=run.name).items():
                rows[f"{name} · {sampler}"] = {**row, "command_seconds": seconds}
                console.print(f"toy: {name} · {sampler}: {row}")
    return rows


def bench_toy(ckpt: Path, *, budgets: list[float], n: int, work: Path) -> dict:
    """The default autoencoder's references and prior rows per option and budget; then each latent-space lever:
    a joint phase with that setting, its references, and the prior stage at the smallest budget."""
    rows = {**references(ckpt, n=n, work=work, name="default autoencoder"),
            **prior_rows(ckpt, options=TOY_OPTIONS, budgets=budgets, n=n, work=work)}
    for lever, overrides in LEVERS.items():
        run = work / lever.split(" (")[0].replace(" ", "_")
        dmlp("train", "logger=none", "prior=none", *overrides, f"hydra.run.dir={run}", cwd=work)
        lever_ckpt = run / "checkpoints" / "last"
        rows |= references(lever_ckpt, n=n, work=work, name=lever)
        rows |= prior_rows(lever_ckpt, options={f"{lever}, prior stage": []}, budgets=budgets[:1], n=n, work=work)
    return {"checkpoint": str(ckpt), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("synthetic", "toy", "all"), default="all")
    parser.add_argument("--budgets", type=float, nargs="+", default=[1, 4, 16], help="CPU minutes, multiples of the first")
    parser.add_argument("--ckpt", type=Path, help="the toy default checkpoint (trained when not given)")
    parser.add_argument("--n", type=int, default=500, help="toy samples per row")
    parser.add_argument("--n-synthetic", type=int, default=2000, help="synthetic samples per row")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    budgets = sorted(args.budgets)
    if any(abs(b / budgets[0] - round(b / budgets[0])) > 1e-9 for b in budgets):
        raise SystemExit(f"--budgets {budgets}: each must be a multiple of the smallest")
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-prior-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    report = {"budgets_min": budgets}
    if args.part in ("synthetic", "all"):
        report["synthetic"] = {data.name: bench_synthetic(data, budgets=budgets, n_eval=args.n_synthetic, work=work)
                               for data in synthetic_datasets()}
    if args.part in ("toy", "all"):
        ckpt = args.ckpt.resolve() if args.ckpt else train_toy_default(work, "prior=none") / "checkpoints" / "last"
        report["toy"] = bench_toy(ckpt, budgets=budgets, n=args.n, work=work)
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    show(report)


def show(report: dict) -> None:
    """The rows of each part as tables: one per synthetic dataset, one for the toy corpus."""
    parts = {f"synthetic: {name}": result["rows"] for name, result in report.get("synthetic", {}).items()}
    if "toy" in report:
        parts["toy default: decoded prior samples"] = report["toy"]["rows"]
    for title, rows in parts.items():
        columns = sorted({key for row in rows.values() for key in row})
        table = Table("prior", *columns, title=title)
        for name, row in rows.items():
            table.add_row(name, *(f"{row[key]:.3f}" if key in row else "" for key in columns))
        console.print(table)


if __name__ == "__main__":
    sys.exit(main())

"""The prior stage of the latent family: the denoiser alone, on the latents of a frozen autoencoder.

A latent DDPM trained jointly for a few thousand steps learns little more than the latents'
mean and covariance (diffusion denoisers learn the optimal linear denoiser first; Li et al.,
2024, arXiv 2410.24060); the references that get a good latent prior train it far longer than
the autoencoder, on normalised latents (diffae, LD4LG, STAR-LDM). Here:

1. the checkpoint `init` is loaded (its EMA weights, as sampling would use them); with
   `prior.denoiser` / `prior.schedule` set, a fresh denoiser and schedule replace its own;
2. every training sentence's posterior (μ, σ) is encoded once (training/latent_cache.py), and
   the latent normalisation is fitted to them (`prior.normalization`);
3. the same Trainer trains the denoiser alone (`prior.trainer`; encoder, connector and decoder
   frozen) on z = μ + σε drawn anew each step, evaluating with the run's validator.

Its checkpoints are ordinary ones of the whole model, whose config.yaml names the prior's
denoiser and schedule, so `dmlp sample` uses them unchanged.
"""

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file

from dmlp_cli.data.collate import collated_batches
from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.data.encoding import encode_corpus
from dmlp_cli.data.layouts import collator_for, layout_rows
from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.console import console, metrics_table
from dmlp_cli.training.checkpoint import (
    config_differences,
    load_checkpoint,
    load_trainer_state,
    resume_source,
)
from dmlp_cli.training.checkpoint_saver import CheckpointSaver
from dmlp_cli.training.latent_cache import CachedLatents, encode_posteriors
from dmlp_cli.training.loop import resolve_device
from dmlp_cli.training.validation import build_validator

# What a prior-stage checkpoint depends on beyond its autoencoder: resuming with any of these changed is another run.
PRIOR_DEFINING_KEYS = ("prior.init", "prior.denoiser", "prior.schedule", "prior.model", "prior.normalization",
                       "prior.trainer.global_batch_size", "prior.trainer.seed", "prior.trainer.optimizer")


OBJECTIVE_KEYS = ("loss_weighting", "min_snr_gamma", "sigmoid_bias", "timestep_sampling")  # what prior.model may set


def planned_prior(cfg: DictConfig, *, announce: bool) -> DictConfig | None:
    """The run's prior stage, or None. A recipe that tunes the stage (toy_prior, yelp_cpu set `prior.trainer...`)
    merges its keys into `prior=none`'s null, leaving a node without the stage's denoiser: the user chose no stage,
    so the node is dropped from the run's config (checkpoints, resume checks), and, with `announce` (rank 0), its
    unused keys are named."""
    prior = cfg.get("prior")
    if prior is None or "denoiser" in prior:
        return prior
    if prior.get("init") is not None:
        raise DmlpError(f"prior.init={prior.init} trains the prior of that checkpoint, but prior=none runs no prior "
                        "stage; drop prior=none")
    if announce:
        console.print(f"prior=none: no prior stage; the recipe's prior.{', prior.'.join(prior)} settings are not used")
    cfg.prior = None
    return None


class OffsetLogger:
    """The run's logger with the prior stage's steps counted after the joint phase's (one monotone axis)."""

    def __init__(self, logger, *, offset: int):
        self.logger, self.offset = logger, offset

    def log(self, metrics: dict, *, step: int) -> None:
        self.logger.log(metrics, step=step + self.offset)


def stage_config(cfg: DictConfig, *, base: DictConfig) -> DictConfig:
    """The config the prior stage's checkpoints carry: the autoencoder's (`base`) with the prior's denoiser,
    schedule, sampling and model settings in place, and the prior node itself. The denoiser and schedule resolve
    against `base` (their latent_dim is the checkpoint's); the prior's trainer against this command."""
    prior = OmegaConf.to_container(cfg.prior, resolve=False)
    prior["trainer"] = OmegaConf.to_container(cfg.prior.trainer, resolve=True)
    prior["init"] = str(Path(cfg.prior.init).resolve()) if cfg.prior.get("init") else None
    merged = OmegaConf.merge(base, {"prior": prior})
    for part in ("denoiser", "schedule", "sampling"):
        if merged.prior.get(part) is not None:
            merged[part] = merged.prior[part]
    if merged.prior.get("model"):
        fixed = sorted(set(merged.prior.model) - set(OBJECTIVE_KEYS))
        if fixed:
            raise DmlpError(f"prior.model.{fixed[0]} cannot change in the prior stage (the autoencoder is frozen); "
                            f"prior.model sets only {', '.join(OBJECTIVE_KEYS)}")
        merged.model = OmegaConf.merge(merged.model, merged.prior.model)
    return OmegaConf.create(OmegaConf.to_container(merged, resolve=True))


def fit_prior(cfg: DictConfig, *, init: Path, run_dir: Path, context, logger, step_offset: int = 0) -> dict:
    """Train the prior of checkpoint `init` into run_dir/checkpoints; the final evaluation."""
    trainer = instantiate(cfg.prior.trainer)
    checkpoints = run_dir / "checkpoints"
    source = resume_source(trainer.resume, checkpoints=checkpoints)
    if not init.exists():
        raise DmlpError(f"prior.init '{init}' does not exist; pass prior.init=<run folder>/checkpoints/last of a "
                        "latent-family run")
    checkpoint = load_checkpoint(source or init, use_ema=source is None)
    model = checkpoint.model
    if getattr(model, "family", None) != "latent":
        raise DmlpError(f"the prior stage trains a latent prior, but '{init}' is a {model.family}-family checkpoint; "
                        "give prior.init a checkpoint of the latent family (model=joint_latent)")
    config = stage_config(cfg, base=checkpoint.config if source is None else OmegaConf.load(init / "config.yaml"))
    if source is not None:
        differences = config_differences(checkpoint.config, config, keys=PRIOR_DEFINING_KEYS)
        if differences:
            raise DmlpError(f"checkpoint '{source}' was trained with another prior stage ({'; '.join(differences[:3])}); "
                            "resume with the same settings, or start a new run without trainer.resume")
    else:
        for part in ("denoiser", "schedule", "sampling"):
            if config.prior.get(part) is not None:
                setattr(model, part, instantiate(config[part]))
        model.set_objective(**{key: config.model[key] for key in OBJECTIVE_KEYS})
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.startswith("denoiser."))

    corpus = instantiate(config.dataset)
    encoded, report = encode_corpus(corpus.load(), encoder_tokenizer=checkpoint.encoder_tokenizer,
                                    decoder_tokenizer=checkpoint.decoder_tokenizer, max_length=config.max_length)
    rows = layout_rows(encoded, family="latent", max_length=config.max_length, packing=config.packing,
                       tokenizer=checkpoint.decoder_tokenizer)
    collator = collator_for(family="latent", encoder_tokenizer=checkpoint.encoder_tokenizer,
                            decoder_tokenizer=checkpoint.decoder_tokenizer)
    device = resolve_device(trainer.device_name, local_rank=context.local_rank)
    latents = encode_posteriors(model.to(device), collated_batches(rows["train"], collator=collator, batch_size=512),
                                device=device)
    if context.is_main:
        console.print(f"prior stage: cached the posteriors of {len(latents)} training sentences")
    resume_state = None
    if source is None:
        model.normalization.fit(means=latents.means, logvars=latents.logvars, kind=config.prior.normalization)
    else:
        resume_state = load_trainer_state(source)
        if (source / "ema.safetensors").is_file():
            resume_state["ema"] = load_file(str(source / "ema.safetensors"))
    if context.is_main:
        console.print(f"[bold]prior stage[/bold] of {init}: denoiser {type(model.denoiser).__name__} "
                      f"({sum(p.numel() for p in model.denoiser.parameters()) / 1e6:.2f}M parameters), "
                      f"{config.prior.normalization} normalisation, {report.summary()}")
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(config))

    validate = build_validator(
        config.validation, model=model, dataset=rows["valid"], collator=collator,
        decoder_tokenizer=checkpoint.decoder_tokenizer, toy_corpus=isinstance(corpus, ToyCorpus),
    ) if context.is_main or trainer.strategy == "fsdp" else None
    save = CheckpointSaver(checkpoints=checkpoints, config=config, encoder_tokenizer=checkpoint.encoder_tokenizer,
                           decoder_tokenizer=checkpoint.decoder_tokenizer, keep_last=trainer.keep_last,
                           trainable_only=False, meta={"stage": "prior"})
    final = trainer.fit(
        model=model, train_set=latents, collator=CachedLatents.collate, run_dir=run_dir, validate=validate, save=save,
        logger=OffsetLogger(logger, offset=step_offset) if logger is not None else None, context=context,
        resume_state=resume_state,
    )
    if context.is_main:
        console.print(metrics_table(final, title="final evaluation (prior stage)"))
        console.print(f"run folder: {run_dir}")
        console.print(f"next: dmlp sample ckpt={checkpoints / 'last'} n=500")
    return final

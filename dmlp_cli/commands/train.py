"""`dmlp train`: config → corpus, tokenizers, model → training loop → checkpoints in the run folder.

Under torchrun every rank runs this; rank 0 alone trains tokenizers and writes
files, the others read what it wrote. `trainer.resume=auto` continues from the
newest good checkpoint in the run folder (a fresh start when there is none),
`trainer.resume=<checkpoint folder>` from that one.

With a `prior` (the latent family's prior stage, commands/prior_stage.py) the run
goes on, after the joint phase, to train the denoiser alone into <run>/prior/;
with `prior.init=<checkpoint>` it trains only that checkpoint's prior.
"""

import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_file

from dmlp_cli.commands.prior_stage import fit_prior, planned_prior
from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.data.encoding import encode_corpus
from dmlp_cli.data.layouts import collator_for, layout_rows
from dmlp_cli.data.tokenizers import PretrainedTokenizer
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.build import PARTS, build_model, check_family
from dmlp_cli.tracking.console import console, metrics_table
from dmlp_cli.tracking.run_status import clear_markers, mark_finished
from dmlp_cli.training import distributed
from dmlp_cli.training.checkpoint import (
    check_folder,
    config_differences,
    find_resumable,
    load_trainer_state,
    load_weights,
    resume_source,
)
from dmlp_cli.training.checkpoint_saver import CheckpointSaver
from dmlp_cli.training.rng import seed_everything
from dmlp_cli.training.validation import build_validator


def _tokenizer_specs(cfg: DictConfig) -> dict[str, DictConfig]:
    """Each role's tokenizer spec. The decoder's is the text the model writes (a plain language model's own);
    a model without an encoder reads with the decoder's."""
    decoder = cfg.decoder.tokenizer if cfg.get("decoder") is not None else cfg.model.tokenizer
    return {"encoder": cfg.encoder.tokenizer if cfg.get("encoder") is not None else decoder, "decoder": decoder}


def _tokenizers(cfg: DictConfig, *, texts, run_dir: Path, source: Path | None, context) -> tuple:
    """From the checkpoint when resuming; otherwise built (trained) by rank 0, saved, and read by the others.
    Roles with the same spec share one tokenizer (the embedding family's encoder and rounding decoder must)."""
    if source is not None:
        return tuple(PretrainedTokenizer(name_or_path=str(source / role)).build() for role in ("encoder", "decoder"))
    specs = _tokenizer_specs(cfg)
    built = {}
    if context.is_main:
        for role, spec in specs.items():
            shared = next((built[other] for other in built if specs[other] == spec), None)
            built[role] = shared or instantiate(spec).build(texts=texts, save_dir=str(run_dir / "tokenizers" / role))
            if shared is not None:
                shared.save_pretrained(str(run_dir / "tokenizers" / role))
    context.barrier()
    if not context.is_main:
        built = {role: PretrainedTokenizer(name_or_path=str(run_dir / "tokenizers" / role)).build() for role in specs}
    return built["encoder"], built["decoder"]


def _check_trainable_only(cfg: DictConfig, model) -> None:
    """Trainable-only checkpoints rebuild frozen weights from their pretrained source: there must be one."""
    for role in ("encoder", "decoder"):
        frozen = [name for name, p in model.named_parameters() if name.startswith(f"{role}.") and not p.requires_grad]
        if frozen and not (cfg.get(role) and cfg[role].get("pretrained") and cfg[role].get("name_or_path")):
            raise DmlpError(
                f"trainer.save_trainable_only=true, but the frozen {role} weights ({frozen[0]}, ...) are not loaded "
                f"from a pretrained model, so a checkpoint without them could not be rebuilt; set trainer.save_trainable_only=false"
            )


def start_logger(cfg: DictConfig, *, run_dir: Path, resume: bool):
    """The configured logger, started under the run's (or sweep job's) name; rank 0 only."""
    logger = instantiate(cfg.logger)
    hydra = HydraConfig.get()
    sweep = str(hydra.sweep.dir) if hydra.mode == RunMode.MULTIRUN else None
    name = f"{Path(sweep).name}-{hydra.job.num}" if sweep else run_dir.name
    logger.start(run_dir=run_dir, config=OmegaConf.to_container(cfg, resolve=True), name=name, sweep=sweep,
                 resume=resume)
    return logger


def train(cfg: DictConfig) -> dict:
    started = time.perf_counter()
    context = distributed.current()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    if context.is_main:
        clear_markers(run_dir)  # a resumed run is running again, whatever it did before
    prior = planned_prior(cfg, announce=context.is_main)
    standalone_prior = prior is not None and prior.get("init") is not None
    trainer = instantiate(cfg.trainer)
    source = None if standalone_prior else resume_source(trainer.resume, checkpoints=run_dir / "checkpoints")
    prior_started = prior is not None and not standalone_prior and trainer.resume == "auto" \
        and find_resumable(run_dir / "prior" / "checkpoints") is not None
    joint_finished = prior is not None and source is not None and check_folder(source)["step"] >= trainer.max_steps
    if source is not None:
        differences = config_differences(OmegaConf.load(source / "config.yaml"), cfg)
        if differences:
            raise DmlpError(
                f"checkpoint '{source}' was trained with another config ({'; '.join(differences[:3])}); "
                "resume with the same settings, or start a new run without trainer.resume"
            )
    family = check_family(model=cfg.model, parts={part: cfg.get(part) for part in PARTS})  # before any data
    if prior is not None and not standalone_prior and family != "latent":
        raise DmlpError(f"the prior stage (prior=...) trains a latent prior, but {cfg.model._target_.rsplit('.', 1)[-1]} "
                        f"is of the {family} family, which has none; add prior=none")
    logger = start_logger(cfg, run_dir=run_dir, resume=source is not None or prior_started) if context.is_main else None
    try:
        if standalone_prior:
            final = fit_prior(cfg, init=Path(prior.init), run_dir=run_dir, context=context, logger=logger)
        else:
            final = {}
            if joint_finished:
                console.print(f"joint phase: finished at {source}; going on to the prior stage")
            elif not prior_started:
                final = fit_joint(cfg, family=family, trainer=trainer, source=source, run_dir=run_dir, context=context,
                                  logger=logger)
            if prior is not None:
                final = fit_prior(cfg, init=run_dir / "checkpoints" / "last", run_dir=run_dir / "prior",
                                  context=context, logger=logger, step_offset=cfg.trainer.max_steps)
    finally:
        if logger is not None:
            logger.finish()
    if context.is_main:
        mark_finished(run_dir, wall_time_s=time.perf_counter() - started, final=final)
    return final


def fit_joint(cfg: DictConfig, *, family: str, trainer, source: Path | None, run_dir: Path, context, logger) -> dict:
    """The run the config describes (a model of `family`), from `source` when resuming; its final evaluation."""
    checkpoints = run_dir / "checkpoints"
    seed_everything(cfg.trainer.seed)
    corpus = instantiate(cfg.dataset)
    splits = corpus.load()
    encoder_tokenizer, decoder_tokenizer = _tokenizers(
        cfg, texts=splits["train"]["text"], run_dir=run_dir, source=source, context=context
    )
    encoded, report = encode_corpus(
        splits, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer, max_length=cfg.max_length
    )
    if context.is_main:
        console.print(f"[bold]data[/bold] {report.summary()}")
    rows = layout_rows(encoded, family=family, max_length=cfg.max_length, packing=cfg.packing,
                       tokenizer=decoder_tokenizer)

    model = build_model(
        model=cfg.model, encoder=cfg.get("encoder"), decoder=cfg.get("decoder"), denoiser=cfg.get("denoiser"),
        schedule=cfg.get("schedule"), encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
    )
    if trainer.save_trainable_only:
        _check_trainable_only(cfg, model)
    resume_state = None
    if source is not None:
        load_weights(model, source, trainable_only=check_folder(source).get("weights") == "trainable", device="cpu")
        resume_state = load_trainer_state(source)
        if (source / "ema.safetensors").is_file():
            resume_state["ema"] = load_file(str(source / "ema.safetensors"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if context.is_main:
        console.print(f"[bold]model[/bold] {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
                      f"{trainable / 1e6:.2f}M trainable" + (f"; {context.world_size} processes" if context.enabled else ""))
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    collator = collator_for(family=family, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer)
    validate = build_validator(
        cfg.validation, model=model, dataset=rows["valid"], collator=collator, decoder_tokenizer=decoder_tokenizer,
        toy_corpus=isinstance(corpus, ToyCorpus),
    ) if context.is_main or trainer.strategy == "fsdp" else None
    save = CheckpointSaver(checkpoints=checkpoints, config=cfg, encoder_tokenizer=encoder_tokenizer,
                           decoder_tokenizer=decoder_tokenizer, keep_last=trainer.keep_last,
                           trainable_only=trainer.save_trainable_only)
    final = trainer.fit(
        model=model, train_set=rows["train"], collator=collator, run_dir=run_dir, validate=validate,
        save=save, logger=logger, context=context, resume_state=resume_state,
    )
    if context.is_main:
        console.print(metrics_table(final, title="final evaluation"))
        console.print(f"run folder: {run_dir}")
        if hasattr(model, "save_pretrained"):  # a scorer language model: its from_pretrained folder
            console.print(f"next: dmlp score samples=<samples.jsonl> scorer=local "
                          f"scorer.name_or_path={checkpoints / 'best' / 'pretrained'} references=<held-out file>")
        elif cfg.get("prior") is None:
            console.print(f"next: dmlp sample ckpt={checkpoints / 'last'} n=500")
    return final

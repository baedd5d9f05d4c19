"""`dmlp train`: config → corpus, tokenizers, model → training loop → checkpoints in the run folder."""

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dmlp_cli.data.collate import PairCollator
from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.data.encoding import encode_corpus
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate
from dmlp_cli.models.build import build_joint_model
from dmlp_cli.tracking.console import console, metrics_table
from dmlp_cli.training.checkpoint import point_to, save_checkpoint
from dmlp_cli.training.loop import seed_everything


def train(cfg: DictConfig) -> dict:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    seed_everything(cfg.trainer.seed)
    corpus = instantiate(cfg.dataset)
    splits = corpus.load()
    train_texts = splits["train"]["text"]
    encoder_tokenizer = instantiate(cfg.encoder.tokenizer).build(texts=train_texts, save_dir=str(run_dir / "tokenizers/encoder"))
    decoder_tokenizer = instantiate(cfg.decoder.tokenizer).build(texts=train_texts, save_dir=str(run_dir / "tokenizers/decoder"))
    encoded, report = encode_corpus(
        splits, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer, max_length=cfg.max_length
    )
    console.print(f"[bold]data[/bold] {report.summary()}")

    model = build_joint_model(
        model=cfg.model, encoder=cfg.encoder, decoder=cfg.decoder, denoiser=cfg.denoiser, schedule=cfg.schedule,
        encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    console.print(f"[bold]model[/bold] {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
                  f"{trainable / 1e6:.2f}M trainable")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    collator = PairCollator(encoder_pad_id=encoder_tokenizer.pad_token_id, decoder_pad_id=decoder_tokenizer.pad_token_id)
    validate = instantiate(
        cfg.validation, dataset=encoded["valid"], collator=collator, decoder_tokenizer=decoder_tokenizer,
        oracle=grammar_valid_rate if isinstance(corpus, ToyCorpus) else None,
    )
    checkpoints = run_dir / "checkpoints"

    def save(trained_model, step: int, metrics: dict) -> Path:
        folder = save_checkpoint(
            directory=checkpoints / f"step-{step}", model=trained_model, config=cfg,
            encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
            meta={"step": step, "metrics": metrics},
        )
        point_to(checkpoints / "last", folder)
        return folder

    trainer = instantiate(cfg.trainer)
    logger = instantiate(cfg.logger)
    logger.start(run_dir=run_dir, config=resolved, name=run_dir.name)
    try:
        final = trainer.fit(
            model=model, train_set=encoded["train"], collator=collator, run_dir=run_dir, validate=validate,
            save=save, logger=logger,
        )
    finally:
        logger.finish()
    console.print(metrics_table(final, title="final evaluation"))
    console.print(f"run folder: {run_dir}")
    console.print(f"next: dmlp sample ckpt={checkpoints / 'last'} n=500")
    return final

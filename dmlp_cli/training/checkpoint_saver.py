"""What the training loop calls to save: a step folder of a run's checkpoints, then `last`, `best` and pruning."""

from pathlib import Path

from omegaconf import DictConfig

from dmlp_cli.training.checkpoint import point_to, prune, save_checkpoint


class CheckpointSaver:
    """`save(model=, weights=, step=, metrics=, trainer_state=, ema=, is_best=)` → checkpoints/step-N.

    `meta` goes into every meta.json beside the step and metrics (the prior stage marks its
    checkpoints `stage: prior`, which `trainer.resume=auto` of a two-stage run reads).
    """

    def __init__(self, *, checkpoints: Path, config: DictConfig, encoder_tokenizer, decoder_tokenizer,
                 keep_last: int, trainable_only: bool, meta: dict | None = None):
        self.checkpoints, self.config, self.keep_last, self.trainable_only = checkpoints, config, keep_last, trainable_only
        self.tokenizers = {"encoder_tokenizer": encoder_tokenizer, "decoder_tokenizer": decoder_tokenizer}
        self.meta = meta or {}

    def __call__(self, *, model, weights, step: int, metrics: dict, trainer_state: dict, ema, is_best: bool) -> Path:
        folder = save_checkpoint(
            directory=self.checkpoints / f"step-{step}", model=model, config=self.config, **self.tokenizers,
            meta={**self.meta, "step": step, "metrics": metrics}, trainer_state=trainer_state, ema=ema,
            trainable_only=self.trainable_only, weights=weights,
        )
        point_to(self.checkpoints / "last", folder)
        if is_best:
            point_to(self.checkpoints / "best", folder)
        prune(self.checkpoints, keep=self.keep_last)
        return folder

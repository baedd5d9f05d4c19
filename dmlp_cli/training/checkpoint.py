"""Checkpoints: safetensors weights + resolved config + tokenizer files + trainer state, written atomically.

A checkpoint folder is self-contained: `dmlp sample ckpt=<folder>` rebuilds the
model from its config.yaml and the backbone configs saved beside the tokenizers,
with no hub access. Folders are written under a temporary name and renamed, and
meta.json (which records every file's size) is written last, so a crash
mid-write never leaves a folder that looks complete, and a file truncated later
is caught before it is used.

    <run>/checkpoints/
      step-N/
        model.safetensors   weights (tied weights stored once); only the trainable ones with save_trainable_only
        ema.safetensors     the EMA of the trainable weights (trainer.ema_decay), preferred for sampling
        trainer_state.pt    optimizer, LR schedule, loss scaler, step, data position, every rank's RNG
        config.yaml         the resolved run config
        encoder/ decoder/   tokenizer files + the backbone's config.json
        meta.json           format, step, metrics, file sizes (written last)
      last -> step-N        the newest checkpoint
      best -> step-M        the best by trainer.best_metric
"""

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import (
    _remove_duplicate_names,
    load_file,
    load_model,
    save_file,
    save_model,
)

from dmlp_cli import __version__
from dmlp_cli.data.tokenizers import PretrainedTokenizer
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.build import build_model
from dmlp_cli.tracking.console import console

FORMAT = "dmlp-checkpoint-v1"
REQUIRED_FILES = ("model.safetensors", "config.yaml", "meta.json")
STEP_FOLDER = re.compile(r"^step-(\d+)$")


@dataclass
class Checkpoint:
    model: torch.nn.Module
    config: DictConfig
    encoder_tokenizer: object
    decoder_tokenizer: object
    meta: dict
    path: Path


def _replace_dir(source: Path, target: Path) -> None:
    """Move `source` to `target`; an existing `target` is set aside first and only deleted after."""
    stale = None
    if target.exists():
        stale = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(stale)
    source.rename(target)
    if stale is not None:
        shutil.rmtree(stale)


def point_to(link: Path, target: Path) -> None:
    """Atomically make `link` (e.g. checkpoints/last) a relative symlink to `target`."""
    temporary = link.with_name(f".{link.name}.{uuid.uuid4().hex[:8]}")
    os.symlink(os.path.relpath(target, link.parent), temporary)
    os.replace(temporary, link)


def _as_save_model_writes(model: torch.nn.Module, weights: dict[str, torch.Tensor], *,
                          trainable_only: bool) -> dict[str, torch.Tensor]:
    """A gathered state dict with the names save_model(model) would write: tied weights once (GPT-2's lm_head
    and wte), only the trainable ones if asked."""
    storage = {}  # one small stand-in tensor per parameter object: tied names share it (works on FSDP shards too)
    stand_ins = {name: storage.setdefault(id(p), torch.empty(1))
                 for name, p in model.named_parameters(remove_duplicate=False)}
    tied = _remove_duplicate_names(stand_ins)  # kept name -> names dropped as its aliases
    dropped = {alias for aliases in tied.values() for alias in aliases}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    return {name: tensor.contiguous() for name, tensor in weights.items()
            if name not in dropped and (not trainable_only or name in trainable)}


def save_checkpoint(
    *, directory: Path, model: torch.nn.Module, config: DictConfig, encoder_tokenizer, decoder_tokenizer,
    meta: dict, trainer_state: dict | None = None, ema: dict[str, torch.Tensor] | None = None,
    trainable_only: bool = False, weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write the folder; `weights` (a full state dict, gathered from FSDP shards) stands in for the model's own."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would hide the checkpoint from the rest of a shared group
    try:
        if weights is None and not trainable_only:
            save_model(model, str(staging / "model.safetensors"))
        else:
            weights = model.state_dict() if weights is None else weights
            save_file(_as_save_model_writes(model, weights, trainable_only=trainable_only),
                      str(staging / "model.safetensors"))
        if ema is not None:
            save_file({name: tensor.contiguous() for name, tensor in ema.items()}, str(staging / "ema.safetensors"))
        if trainer_state is not None:
            torch.save(trainer_state, staging / "trainer_state.pt")
        (staging / "config.yaml").write_text(OmegaConf.to_yaml(config, resolve=True))
        for role, tokenizer in (("encoder", encoder_tokenizer), ("decoder", decoder_tokenizer)):
            tokenizer.save_pretrained(str(staging / role))
            backbone = getattr(getattr(model, role, None), "backbone", None)  # transformers parts: their config
            if backbone is not None:
                backbone.config.save_pretrained(str(staging / role))
        if hasattr(model, "save_pretrained"):  # a scorer LM: also in from_pretrained format (dmlp score scorer=local)
            model.save_pretrained(staging / "pretrained", tokenizer=decoder_tokenizer)
        sizes = {str(f.relative_to(staging)): f.stat().st_size for f in sorted(staging.rglob("*")) if f.is_file()}
        record = {"format": FORMAT, "dmlp_version": __version__, "weights": "trainable" if trainable_only else "full",
                  **meta, "files": sizes}
        (staging / "meta.json").write_text(json.dumps(record, indent=2))
        _replace_dir(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def check_folder(path: Path) -> dict:
    """The folder's meta.json, once every file it lists is present at its recorded size."""
    if not path.exists():
        raise DmlpError(f"checkpoint '{path}' does not exist; pass ckpt=<run folder>/checkpoints/last")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise DmlpError(
            f"'{path}' is not a complete dmlp checkpoint (missing {', '.join(missing)}); "
            "pass ckpt=<run folder>/checkpoints/last or a checkpoints/step-N folder"
        )
    try:
        meta = json.loads((path / "meta.json").read_text())
    except json.JSONDecodeError as error:
        raise DmlpError(f"'{path}/meta.json' is not valid JSON ({error}); the checkpoint is damaged, use another") from error
    if meta.get("format") != FORMAT:
        raise DmlpError(f"'{path}' has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    for name, size in meta.get("files", {}).items():
        actual = (path / name).stat().st_size if (path / name).is_file() else None
        if actual != size:
            state = "missing" if actual is None else f"{actual} bytes, written as {size}"
            raise DmlpError(
                f"'{path}' is damaged: {name} is {state} (truncated or half-copied); "
                "use another checkpoint (checkpoints/step-N) or copy the folder again"
            )
    return meta


def step_folders(checkpoints: Path) -> list[Path]:
    """checkpoints/step-N folders, newest first."""
    if not checkpoints.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in checkpoints.iterdir() if (m := STEP_FOLDER.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found, reverse=True)]


def find_resumable(checkpoints: Path) -> Path | None:
    """The newest complete checkpoint with trainer state: `last`, or else the newest good step-N before it."""
    candidates = ([checkpoints / "last"] if (checkpoints / "last").exists() else []) + step_folders(checkpoints)
    for candidate in candidates:
        try:
            check_folder(candidate)
        except DmlpError as error:
            console.print(f"[yellow]skipping {candidate.name}: {error}[/yellow]")
            continue
        if (candidate / "trainer_state.pt").is_file():
            return candidate.resolve()
        console.print(f"[yellow]skipping {candidate.name}: it has no trainer_state.pt[/yellow]")
    return None


def prune(checkpoints: Path, *, keep: int) -> None:
    """Delete all but the newest `keep` step folders; never the targets of `last` or `best`."""
    if keep < 1:
        return
    pinned = {(checkpoints / link).resolve() for link in ("last", "best") if (checkpoints / link).exists()}
    for folder in step_folders(checkpoints)[keep:]:
        if folder.resolve() not in pinned:
            shutil.rmtree(folder)


def load_trainer_state(path: Path) -> dict:
    return torch.load(path / "trainer_state.pt", map_location="cpu", weights_only=True)


def load_weights(model: torch.nn.Module, path: Path, *, trainable_only: bool, device: str) -> None:
    if not trainable_only:
        load_model(model, str(path / "model.safetensors"), strict=True, device=device)
        return
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    state = load_file(str(path / "model.safetensors"), device=device)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = {name for name in missing if name in dict(model.named_parameters())}
    if unexpected or missing != frozen:
        raise RuntimeError(f"trainable-only weights do not cover the trainable parameters "
                           f"(missing {sorted(missing - frozen)[:3]}, unexpected {sorted(unexpected)[:3]})")


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", use_ema: bool = True) -> Checkpoint:
    """Rebuild the model from the folder (no hub access unless the weights are trainable-only) and load them
    strictly; the EMA weights replace the raw ones when saved and `use_ema`."""
    path = Path(path).resolve()
    meta = check_folder(path)
    config = OmegaConf.load(path / "config.yaml")
    encoder_tokenizer = PretrainedTokenizer(name_or_path=str(path / "encoder")).build()
    decoder_tokenizer = PretrainedTokenizer(name_or_path=str(path / "decoder")).build()
    trainable_only = meta.get("weights") == "trainable"
    parts = {role: config.get(role) for role in ("encoder", "decoder")}
    if not trainable_only:  # transformers parts rebuild from the backbone config saved beside their tokenizer
        parts = {role: OmegaConf.merge(node, {"name_or_path": str(path / role), "pretrained": False})
                 if node is not None and "name_or_path" in node else node for role, node in parts.items()}
    model = build_model(
        model=config.model, encoder=parts["encoder"], decoder=parts["decoder"], denoiser=config.get("denoiser"),
        schedule=config.get("schedule"), encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
    )
    try:
        load_weights(model, path, trainable_only=trainable_only, device=str(device))
        if use_ema and (path / "ema.safetensors").is_file():
            unexpected = model.load_state_dict(load_file(str(path / "ema.safetensors"), device=str(device)),
                                               strict=False).unexpected_keys
            if unexpected:
                raise RuntimeError(f"ema.safetensors has parameters the model lacks: {unexpected[:3]}")
    except RuntimeError as error:
        raise DmlpError(
            f"weights in '{path}' do not match its config.yaml ({str(error).splitlines()[0][:200]}); "
            "the folder was edited or mixed from two runs: use a checkpoint folder as dmlp wrote it"
        ) from error
    return Checkpoint(
        model=model.to(device).eval(), config=config, encoder_tokenizer=encoder_tokenizer,
        decoder_tokenizer=decoder_tokenizer, meta=meta, path=path,
    )


# What a checkpoint's weights and trainer state depend on: resuming with any of these changed is another run.
RUN_DEFINING_KEYS = ("model", "encoder", "decoder", "denoiser", "schedule", "dataset", "max_length", "packing",
                     "trainer.global_batch_size", "trainer.seed", "trainer.optimizer", "trainer.save_trainable_only",
                     "trainer.strategy")


def _flatten(node, prefix: str = "") -> dict:
    if not isinstance(node, dict):
        return {prefix: node}
    flat = {}
    for key, value in node.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(saved: DictConfig, current: DictConfig, *, keys: tuple[str, ...] = RUN_DEFINING_KEYS) -> list[str]:
    """'key: saved → current' for every run-defining key (or key under one) that differs."""
    old = _flatten(OmegaConf.to_container(saved, resolve=True))
    new = _flatten(OmegaConf.to_container(current, resolve=True))
    return [
        f"{key}: {old.get(key)} → {new.get(key)}" for key in sorted(set(old) | set(new))
        if any(key == prefix or key.startswith(prefix + ".") for prefix in keys) and old.get(key) != new.get(key)
    ]


def resume_source(resume: str | None, *, checkpoints: Path) -> Path | None:
    """The checkpoint `trainer.resume` names: none, the newest good one of `checkpoints` (auto), or a folder."""
    if resume in (None, "", "none"):
        return None
    if resume == "auto":
        found = find_resumable(checkpoints)
        console.print(f"resume: {'from ' + str(found) if found else 'no checkpoint in ' + str(checkpoints) + ', starting fresh'}")
        return found
    path = Path(resume).resolve()
    check_folder(path)
    if not (path / "trainer_state.pt").is_file():
        raise DmlpError(f"'{path}' has no trainer_state.pt (written by an older dmlp or not by `dmlp train`); "
                        "resume from a checkpoint written by `dmlp train`, or train anew")
    return path

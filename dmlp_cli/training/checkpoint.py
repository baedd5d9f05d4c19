"""Checkpoints: safetensors weights + resolved config + tokenizer files, written atomically.

A checkpoint folder is self-contained: `dmlp sample ckpt=<folder>` rebuilds the
model from its config.yaml and the backbone configs saved beside the tokenizers,
with no hub access. Folders are written under a temporary name and renamed, and
meta.json is written last, so a crash mid-write never leaves a folder that
looks complete.

    <step folder>/
      model.safetensors   weights (tied weights stored once)
      config.yaml         the resolved run config
      encoder/ decoder/   tokenizer files + the backbone's config.json
      meta.json           format, step, metrics (written last)
"""

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from safetensors.torch import load_model, save_model

from dmlp_cli import __version__
from dmlp_cli.data.tokenizers import PretrainedTokenizer
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.build import build_joint_model
from dmlp_cli.models.joint import JointLatentDiffusion

FORMAT = "dmlp-checkpoint-v1"
REQUIRED_FILES = ("model.safetensors", "config.yaml", "meta.json")


@dataclass
class Checkpoint:
    model: JointLatentDiffusion
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


def save_checkpoint(
    *, directory: Path, model: JointLatentDiffusion, config: DictConfig, encoder_tokenizer, decoder_tokenizer,
    meta: dict,
) -> Path:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        save_model(model, str(staging / "model.safetensors"))
        (staging / "config.yaml").write_text(OmegaConf.to_yaml(config, resolve=True))
        for role, tokenizer, backbone in (
            ("encoder", encoder_tokenizer, model.encoder.backbone),
            ("decoder", decoder_tokenizer, model.decoder.backbone),
        ):
            tokenizer.save_pretrained(str(staging / role))
            backbone.config.save_pretrained(str(staging / role))
        record = {"format": FORMAT, "dmlp_version": __version__, **meta}
        (staging / "meta.json").write_text(json.dumps(record, indent=2))
        _replace_dir(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _check_folder(path: Path) -> None:
    if not path.exists():
        raise DmlpError(f"checkpoint '{path}' does not exist; pass ckpt=<run folder>/checkpoints/last")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise DmlpError(
            f"'{path}' is not a complete dmlp checkpoint (missing {', '.join(missing)}); "
            "pass ckpt=<run folder>/checkpoints/last or a checkpoints/step-N folder"
        )
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise DmlpError(f"'{path}' has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from the folder alone (no hub access) and load its weights strictly."""
    path = Path(path).resolve()
    _check_folder(path)
    config = OmegaConf.load(path / "config.yaml")
    encoder_tokenizer = PretrainedTokenizer(name_or_path=str(path / "encoder")).build()
    decoder_tokenizer = PretrainedTokenizer(name_or_path=str(path / "decoder")).build()
    local = {"pretrained": False}
    model = build_joint_model(
        model=config.model,
        encoder=OmegaConf.merge(config.encoder, {"name_or_path": str(path / "encoder"), **local}),
        decoder=OmegaConf.merge(config.decoder, {"name_or_path": str(path / "decoder"), **local}),
        denoiser=config.denoiser,
        schedule=config.schedule,
        encoder_tokenizer=encoder_tokenizer,
        decoder_tokenizer=decoder_tokenizer,
    )
    try:
        load_model(model, str(path / "model.safetensors"), strict=True, device=str(device))
    except RuntimeError as error:
        raise DmlpError(
            f"weights in '{path}' do not match its config.yaml ({str(error).splitlines()[0][:200]}); "
            "the folder was edited or mixed from two runs: use a checkpoint folder as dmlp wrote it"
        ) from error
    meta = json.loads((path / "meta.json").read_text())
    return Checkpoint(
        model=model.to(device).eval(), config=config, encoder_tokenizer=encoder_tokenizer,
        decoder_tokenizer=decoder_tokenizer, meta=meta, path=path,
    )

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import GPT2Config, GPT2LMHeadModel

from dmlp_cli.errors import DmlpError
from dmlp_cli.training.checkpoint import (
    find_resumable,
    load_checkpoint,
    point_to,
    prune,
    save_checkpoint,
    step_folders,
)
from tests.models.helpers import tiny_config, tiny_model


def _save(tokenizer, folder, step=1):
    model = tiny_model(tokenizer)
    path = save_checkpoint(
        directory=folder / f"step-{step}", model=model, config=tiny_config(), encoder_tokenizer=tokenizer,
        decoder_tokenizer=tokenizer, meta={"step": step},
    )
    point_to(folder / "last", path)
    return model, path


def test_checkpoint_round_trips_weights_tokenizers_and_config(tokenizer, tmp_path):
    model, _ = _save(tokenizer, tmp_path)
    loaded = load_checkpoint(tmp_path / "last")
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.model.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    assert loaded.decoder_tokenizer("the pasta was great")["input_ids"] == tokenizer("the pasta was great")["input_ids"]
    assert loaded.config.model.latent_dim == 8
    assert loaded.meta["step"] == 1


def test_saving_leaves_no_temporary_folders_and_moves_last(tokenizer, tmp_path):
    _save(tokenizer, tmp_path, step=1)
    _save(tokenizer, tmp_path, step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last", "step-1", "step-2"]
    assert os.readlink(tmp_path / "last") == "step-2"


def test_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(DmlpError, match="not a complete dmlp checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(DmlpError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")


def test_half_written_checkpoint_is_refused(tokenizer, tmp_path):
    _, path = _save(tokenizer, tmp_path)
    (path / "meta.json").unlink()
    with pytest.raises(DmlpError, match="missing meta.json"):
        load_checkpoint(path)


def test_weights_from_another_config_are_refused(tokenizer, tmp_path):
    _, path = _save(tokenizer, tmp_path)
    config = (path / "config.yaml").read_text().replace("latent_dim: 8", "latent_dim: 16")
    (path / "config.yaml").write_text(config)
    with pytest.raises(DmlpError, match="config.yaml is .* bytes, written as"):  # the recorded sizes catch the edit
        load_checkpoint(path)
    meta = json.loads((path / "meta.json").read_text())
    meta["files"]["config.yaml"] = len(config.encode())
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DmlpError, match="do not match its config.yaml"):  # and strict loading catches the rest
        load_checkpoint(path)


def test_truncated_weights_are_detected_before_loading(tokenizer, tmp_path):
    _, path = _save(tokenizer, tmp_path)
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(DmlpError, match="damaged: model.safetensors is 100 bytes"):
        load_checkpoint(path)


def test_find_resumable_falls_back_past_a_damaged_last(tokenizer, tmp_path):
    model = tiny_model(tokenizer)
    for step in (1, 2):
        path = save_checkpoint(directory=tmp_path / f"step-{step}", model=model, config=tiny_config(),
                               encoder_tokenizer=tokenizer, decoder_tokenizer=tokenizer, meta={"step": step},
                               trainer_state={"step": step})
        point_to(tmp_path / "last", path)
    (tmp_path / "step-2" / "trainer_state.pt").write_bytes(b"")
    (tmp_path / ".step-3.tmp-abc").mkdir()  # what a crash mid-write leaves: never a candidate
    assert find_resumable(tmp_path) == (tmp_path / "step-1").resolve()
    assert find_resumable(tmp_path / "empty") is None


def test_prune_keeps_the_newest_and_the_pinned(tokenizer, tmp_path):
    model = tiny_model(tokenizer)
    for step in (1, 2, 3, 4):
        save_checkpoint(directory=tmp_path / f"step-{step}", model=model, config=tiny_config(),
                        encoder_tokenizer=tokenizer, decoder_tokenizer=tokenizer, meta={"step": step})
    point_to(tmp_path / "best", tmp_path / "step-1")
    point_to(tmp_path / "last", tmp_path / "step-4")
    prune(tmp_path, keep=2)
    assert [p.name for p in step_folders(tmp_path)] == ["step-4", "step-3", "step-1"]


def test_ema_weights_are_preferred_for_sampling(tokenizer, tmp_path):
    model = tiny_model(tokenizer)
    ema = {name: torch.full_like(p, 0.5) for name, p in model.named_parameters() if name.startswith("denoiser.")}
    path = save_checkpoint(directory=tmp_path / "step-1", model=model, config=tiny_config(), encoder_tokenizer=tokenizer,
                           decoder_tokenizer=tokenizer, meta={"step": 1}, ema=ema)
    assert torch.all(load_checkpoint(path).model.denoiser.out.weight == 0.5)
    torch.testing.assert_close(load_checkpoint(path, use_ema=False).model.denoiser.out.weight, model.denoiser.out.weight)


def test_trainable_only_checkpoint_rebuilds_frozen_weights_from_their_pretrained_source(tokenizer, tmp_path):
    pretrained = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=4, n_positions=32)).save_pretrained(pretrained)
    tokenizer.save_pretrained(pretrained)
    config = tiny_config(freeze=["decoder.backbone.*"])
    config.decoder.name_or_path, config.decoder.pretrained = str(pretrained), True
    model = tiny_model(tokenizer, config)
    full = save_checkpoint(directory=tmp_path / "full", model=model, config=config, encoder_tokenizer=tokenizer,
                           decoder_tokenizer=tokenizer, meta={})
    slim = save_checkpoint(directory=tmp_path / "slim", model=model, config=config, encoder_tokenizer=tokenizer,
                           decoder_tokenizer=tokenizer, meta={}, trainable_only=True)
    assert not [k for k in load_file(str(slim / "model.safetensors")) if k.startswith("decoder.backbone.")]
    assert (slim / "model.safetensors").stat().st_size < (full / "model.safetensors").stat().st_size
    loaded = load_checkpoint(slim).model
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value, msg=name)

import os

import pytest
import torch

from dmlp_cli.errors import DmlpError
from dmlp_cli.training.checkpoint import load_checkpoint, point_to, save_checkpoint
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
    with pytest.raises(DmlpError, match="do not match its config.yaml"):
        load_checkpoint(path)

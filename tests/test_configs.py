"""Every option of every config group composes, validates against its schema and instantiates."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from dmlp_cli.cli import config_dir
from dmlp_cli.config_schema import register_schemas
from dmlp_cli.diffusion.clamping import NormClip
from dmlp_cli.models.build import build_joint_model
from dmlp_cli.models.decoding import Decoding

register_schemas()


def _options(group: str) -> list[str]:
    return sorted(path.stem for path in (config_dir() / group).glob("*.yaml"))


def _compose(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory, tokenizer):
    """A tiny BERT and GPT-2 with a tokenizer in one folder: what a hub id resolves to, offline."""
    folder = tmp_path_factory.mktemp("pretrained")
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=64)).save_pretrained(folder / "bert")
    GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=4)).save_pretrained(folder / "gpt2")
    for name in ("bert", "gpt2"):
        tokenizer.save_pretrained(folder / name)
    return folder


def test_every_group_has_its_options():
    assert _options("encoder") == ["bert_scratch", "bert_small"]
    assert _options("decoder") == ["gpt2", "gpt2_scratch", "gpt2_xl"]
    assert _options("denoiser") == ["mlp_skip", "transformer"]
    assert _options("schedule") == ["constant", "cosine", "linear", "sqrt"]
    assert _options("dataset") == ["local", "toy", "yelp"]
    assert set(_options("trainer")) >= {"default", "cpu"} and set(_options("logger")) == {"none", "wandb"}
    assert set(_options("experiment")) >= {"yelp", "yelp_cpu"}


@pytest.mark.parametrize("encoder", _options("encoder"))
@pytest.mark.parametrize("decoder", _options("decoder"))
def test_encoder_and_decoder_options_build_a_joint_model(encoder, decoder, pretrained_dir, tokenizer):
    overrides = [f"encoder={encoder}", f"decoder={decoder}"]
    if encoder != "bert_scratch":
        overrides.append(f"encoder.name_or_path={pretrained_dir / 'bert'}")
    if decoder != "gpt2_scratch":
        overrides.append(f"decoder.name_or_path={pretrained_dir / 'gpt2'}")
    cfg = _compose("train", overrides)
    encoder_tokenizer = instantiate(cfg.encoder.tokenizer).build(texts=["the pasta was great ."])
    decoder_tokenizer = instantiate(cfg.decoder.tokenizer).build(texts=["the pasta was great ."])
    model = build_joint_model(
        model=cfg.model, encoder=cfg.encoder, decoder=cfg.decoder, denoiser=cfg.denoiser, schedule=cfg.schedule,
        encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
    )
    assert model.latent_dim == cfg.model.latent_dim
    if decoder != "gpt2_scratch":  # the pretrained weights arrived through the hub-id path
        reference = GPT2LMHeadModel.from_pretrained(pretrained_dir / "gpt2")
        torch.testing.assert_close(model.decoder.backbone.transformer.wte.weight, reference.transformer.wte.weight)


@pytest.mark.parametrize("group", ["denoiser", "schedule", "dataset", "trainer", "logger"])
def test_other_train_groups_instantiate(group):
    for option in _options(group):
        overrides = [f"{group}={option}"] + (["dataset.path=/some/folder"] if option == "local" else [])
        cfg = _compose("train", overrides)
        assert instantiate(cfg[group]) is not None


def test_sampler_and_scorer_options_instantiate(pretrained_dir):
    assert _options("sampler") == ["ddim", "ddpm", "dpm_solver"] and _options("sampler/clamp") == ["norm_clip"]
    for option in _options("sampler"):
        cfg = _compose("sample", [f"sampler={option}", "ckpt=x", "steps=10", "top_p=0.9", "sampler.truncate_initial=true",
                                  "sampler/clamp=norm_clip", "sampler.clamp.max_norm=3"])
        sampler = instantiate(cfg.sampler)
        assert sampler.steps == 10 and sampler.noise.top_p == sampler.initial_noise.top_p == 0.9
        assert isinstance(sampler.clamp, NormClip) and sampler.clamp.max_norm == 3
        assert instantiate(_compose("sample", [f"sampler={option}", "ckpt=x"]).sampler).clamp is None
    assert _compose("score", ["samples=x"]).scorer is None
    for option in ("gpt2_large", "local"):
        cfg = _compose("score", ["samples=x", f"scorer={option}", f"scorer.name_or_path={pretrained_dir / 'gpt2'}"])
        assert instantiate(cfg.scorer).perplexity(["the pasta was great ."]).total_tokens > 0


def test_decoding_options_instantiate():
    assert _options("decoding") == ["beam", "greedy", "sampling"]
    for option in _options("decoding"):
        decoding = instantiate(_compose("sample", ["ckpt=x", f"decoding={option}", "decoding.use_cache=false"]).decoding)
        assert isinstance(decoding, Decoding) and not decoding.use_cache
    nucleus = instantiate(_compose("sample", ["ckpt=x", "decoding=sampling", "decoding.top_p=0.9"]).decoding)
    assert nucleus.top_p == 0.9


@pytest.mark.parametrize("experiment", ["yelp", "yelp_cpu"])
def test_experiments_compose_and_resolve(experiment):
    cfg = OmegaConf.to_container(_compose("train", [f"+experiment={experiment}"]), resolve=True)
    assert cfg["model"]["latent_dim"] == cfg["decoder"]["latent_dim"] == cfg["denoiser"]["latent_dim"]
    if experiment == "yelp":
        assert cfg["encoder"]["name_or_path"] == "prajjwal1/bert-small"
        assert cfg["decoder"]["name_or_path"] == "gpt2-xl" and cfg["decoder"]["inject"] == ["embedding", "memory"]
        assert cfg["model"]["latent_dim"] == 128 and cfg["model"]["ddpm_weight"] == 10
        assert (cfg["denoiser"]["num_layers"], cfg["denoiser"]["hidden_dim"]) == (20, 2048)
        assert cfg["schedule"]["num_timesteps"] == 2000 and cfg["schedule"]["beta"] == 0.008
        assert (cfg["trainer"]["lr"], cfg["trainer"]["adam_eps"], cfg["trainer"]["lr_power"]) == (9e-5, 1e-5, 3.0)


def test_typo_in_a_key_fails_at_composition(tmp_path):
    with pytest.raises(ConfigCompositionException):
        _compose("train", ["trainer.lrr=1"])
    # a user's own experiment file with a typo'd key, found through hydra.searchpath
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nencoder:\n  hiden_size: 3\n")
    with pytest.raises(ConfigCompositionException, match="hiden_size"):
        _compose("train", [f"hydra.searchpath=[file://{tmp_path}]", "+experiment=mine"])


@pytest.mark.parametrize("command, groups", [
    ("train", ["encoder", "decoder", "denoiser", "schedule", "dataset", "trainer", "logger", "experiment"]),
    ("sample", ["sampler", "sampler/clamp", "decoding"]),
    ("score", ["scorer"]),
])
def test_help_lists_exactly_the_command_groups_and_their_options(command, groups):
    template = OmegaConf.load(config_dir() / f"{command}.yaml").hydra.help.template
    listed = [line for line in template.splitlines() if ": " in line and not line.startswith("usage")]
    expected = [f"{'+experiment' if g == 'experiment' else g}: {', '.join(_options(g))}" for g in groups]
    assert listed == expected

"""Every option of every config group composes, validates against its schema and instantiates."""

import dataclasses
import inspect
import typing
from typing import Any, Optional

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from dmlp_cli.cli import config_dir
from dmlp_cli.config_schema import REQUIRED, SCHEMAS, Parameters, build_schema, register_schemas, source_parameters
from dmlp_cli.diffusion.clamping import NormClip
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.build import build_model, check_family
from dmlp_cli.models.decoding import Decoding
from dmlp_cli.sweeps import PLUGINS, installed

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


LATENT_ENCODERS, LATENT_DECODERS = ["bert_scratch", "bert_small"], ["gpt2", "gpt2_scratch", "gpt2_xl"]


def test_every_group_has_its_options():
    assert _options("model") == ["causal_lm", "embedding_diffusion", "joint_latent"]
    assert _options("encoder") == [*LATENT_ENCODERS, "embedding"]
    assert _options("decoder") == [*LATENT_DECODERS, "rounding"]
    assert _options("denoiser") == ["mlp_skip", "sequence_transformer", "transformer"]
    assert _options("validation/sampler") == ["ddim", "ddpm", "dpm_solver"]
    assert _options("schedule") == ["constant", "cosine", "linear", "sqrt"]
    assert _options("dataset") == ["local", "toy", "yelp"]
    assert set(_options("trainer")) >= {"default", "cpu"} and set(_options("logger")) == {"none", "wandb"}
    assert set(_options("experiment")) >= {"yelp", "yelp_cpu", "diffusion_lm", "e2e", "e2e_cpu", "e2e_scorer", "roc", "toy_prior",
                                            "scorer"}


@pytest.mark.parametrize("encoder", LATENT_ENCODERS)
@pytest.mark.parametrize("decoder", LATENT_DECODERS)
def test_encoder_and_decoder_options_build_a_joint_model(encoder, decoder, pretrained_dir, tokenizer):
    overrides = [f"encoder={encoder}", f"decoder={decoder}"]
    if encoder != "bert_scratch":
        overrides.append(f"encoder.name_or_path={pretrained_dir / 'bert'}")
    if decoder != "gpt2_scratch":
        overrides.append(f"decoder.name_or_path={pretrained_dir / 'gpt2'}")
    cfg = _compose("train", overrides)
    encoder_tokenizer = instantiate(cfg.encoder.tokenizer).build(texts=["the pasta was great ."])
    decoder_tokenizer = instantiate(cfg.decoder.tokenizer).build(texts=["the pasta was great ."])
    model = build_model(
        model=cfg.model, encoder=cfg.encoder, decoder=cfg.decoder, denoiser=cfg.denoiser, schedule=cfg.schedule,
        encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer,
    )
    assert model.latent_dim == cfg.model.latent_dim
    if decoder != "gpt2_scratch":  # the pretrained weights arrived through the hub-id path
        reference = GPT2LMHeadModel.from_pretrained(pretrained_dir / "gpt2")
        torch.testing.assert_close(model.decoder.backbone.transformer.wte.weight, reference.transformer.wte.weight)


def test_embedding_family_parts_build_a_diffusion_lm_and_mixing_families_is_one_line(tokenizer):
    cfg = _compose("train", ["+experiment=diffusion_lm", "denoiser.num_layers=1", "denoiser.hidden_size=32"])
    parts = {part: cfg[part] for part in ("encoder", "decoder", "denoiser", "schedule")}
    model = build_model(model=cfg.model, **parts, encoder_tokenizer=tokenizer, decoder_tokenizer=tokenizer)
    assert model.family == "embedding" and model.x0_shape(2) == (2, cfg.max_length, cfg.encoder.embedding_dim)
    assert check_family(model=cfg.model, parts=parts) == "embedding"
    with pytest.raises(DmlpError, match="encoder PooledEncoder belongs to the latent family but model "
                                        "EmbeddingDiffusion to the embedding family"):
        check_family(model=cfg.model, parts={**parts, "encoder": _compose("train", []).encoder})
    scorer = _compose("train", ["+experiment=e2e_scorer", "dataset.path=/some/folder"])
    assert scorer.get("encoder") is None and scorer.get("denoiser") is None
    assert check_family(model=scorer.model, parts={}) == "causal_lm"


@pytest.mark.parametrize("group", ["denoiser", "schedule", "dataset", "trainer", "logger"])
def test_other_train_groups_instantiate(group):
    for option in _options(group):
        if option == "sequence_transformer":  # its sizes come from the embedding family's encoder
            continue
        overrides = [f"{group}={option}"] + (["dataset.path=/some/folder"] if option == "local" else [])
        cfg = _compose("train", overrides)
        assert instantiate(cfg[group]) is not None


def test_sampler_and_scorer_options_instantiate(pretrained_dir):
    assert _options("sampler") == ["ddim", "ddpm", "dpm_solver"]
    assert _options("sampler/clamp") == ["nearest_embedding", "norm_clip"]
    for option in _options("sampler"):
        cfg = _compose("sample", [f"sampler={option}", "ckpt=x", "steps=10", "top_p=0.9", "sampler.truncate_initial=true",
                                  "sampler/clamp=norm_clip", "sampler.clamp.max_norm=3"])
        sampler = instantiate(cfg.sampler)
        assert sampler.steps == 10 and sampler.noise.top_p == sampler.initial_noise.top_p == 0.9
        assert isinstance(sampler.clamp, NormClip) and sampler.clamp.max_norm == 3
        assert instantiate(_compose("sample", [f"sampler={option}", "ckpt=x"]).sampler).clamp is None
    diagnose = instantiate(_compose("diagnose", ["ckpt=x", "sampler=ddim", "steps=50", "top_p=0.9"]).sampler)
    assert diagnose.steps == 50 and diagnose.noise.top_p == 0.9
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


@pytest.mark.parametrize("experiment, overrides", [
    ("e2e", ["dataset.path=/data/e2e"]), ("e2e_cpu", []), ("roc", ["dataset.path=/data/roc"]),
])
def test_diffusion_lm_recipes_carry_the_authors_settings(experiment, overrides):
    cfg = OmegaConf.to_container(_compose("train", [f"+experiment={experiment}", *overrides]), resolve=True)
    assert cfg["model"]["_target_"].endswith("EmbeddingDiffusion") and cfg["schedule"]["_target_"].endswith("SqrtSchedule")
    assert cfg["schedule"]["prediction_type"] == "sample" and cfg["schedule"]["num_timesteps"] == 2000
    assert cfg["encoder"]["tokenizer"]["min_frequency"] == 11 and not cfg["encoder"]["tokenizer"]["lowercase"]
    assert cfg["denoiser"]["embedding_dim"] == cfg["encoder"]["embedding_dim"] == (128 if experiment == "roc" else 16)
    assert cfg["denoiser"]["seq_length"] == cfg["model"]["seq_length"] == cfg["max_length"]
    if experiment == "e2e":
        assert (cfg["max_length"], cfg["packing"]) == (64, "block")
        assert (cfg["denoiser"]["num_layers"], cfg["denoiser"]["hidden_size"], cfg["denoiser"]["num_heads"]) == (12, 768, 12)
        trainer = cfg["trainer"]
        assert (trainer["lr"], trainer["weight_decay"], trainer["warmup_steps"], trainer["lr_end_ratio"]) == (1e-4, 0, 0, 0)
        assert (trainer["global_batch_size"], trainer["ema_decay"], trainer["max_steps"]) == (64, 0.9999, 200000)
        assert cfg["denoiser"]["dropout"] == 0.1
    if experiment == "e2e_cpu":
        assert cfg["dataset"]["path"] == "../shared/data/e2e" and cfg["trainer"]["device"] == "cpu"


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


@pytest.mark.parametrize("overrides, prior_steps", [
    ([], 1000), (["+experiment=toy_prior"], 12000), (["+experiment=yelp_cpu"], 10000), (["+experiment=yelp"], None),
    (["+experiment=diffusion_lm"], None), (["+experiment=e2e_cpu"], None), (["+experiment=e2e_scorer", "dataset.path=x"], None),
    (["+experiment=scorer"], None),
])
def test_latent_recipes_but_dmlps_own_add_a_prior_stage(overrides, prior_steps):
    cfg = _compose("train", overrides)
    assert (cfg.get("prior") and cfg.prior.trainer.max_steps) == prior_steps


def test_the_scorer_recipe_takes_any_corpus_and_e2e_scorer_is_it_with_e2es_vocabulary():
    toy = OmegaConf.to_container(_compose("train", ["+experiment=scorer"]), resolve=True)
    assert toy["model"]["_target_"].endswith("CausalLM") and toy["dataset"]["_target_"].endswith("ToyCorpus")
    assert toy["model"]["tokenizer"] | {"_target_": None} == {"_target_": None, "model": "bpe", "vocab_size": 8000,
                                                              "min_frequency": 2, "lowercase": False}
    local = _compose("train", ["+experiment=scorer", "dataset=local", "dataset.path=/data/x", "dataset.text_field=review"])
    assert (local.dataset.path, local.dataset.text_field) == ("/data/x", "review")
    e2e = OmegaConf.to_container(_compose("train", ["+experiment=e2e_scorer", "dataset.path=/data/e2e"]), resolve=True)
    assert e2e["dataset"]["_target_"].endswith("LocalCorpus") and e2e["max_length"] == 64
    assert (e2e["model"]["tokenizer"]["model"], e2e["model"]["tokenizer"]["min_frequency"]) == ("wordlevel", 11)
    trainer = e2e["trainer"]
    assert (trainer["lr"], trainer["global_batch_size"], trainer["max_steps"], trainer["best_metric"]) == \
        (1e-3, 64, 3000, "valid/token_ppl")


@pytest.mark.parametrize("recipe", [[], ["+experiment=yelp"], ["+experiment=yelp_cpu"], ["+experiment=toy_prior"]])
def test_the_optuna_search_space_names_keys_every_latent_recipe_has(recipe):
    search = OmegaConf.load(config_dir() / "hparams_search" / "optuna.yaml")
    cfg = _compose("train", recipe)
    assert cfg.optimized_metric is None
    for key in search.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key, default="absent") != "absent", key
    if not installed(PLUGINS["hparams_search", "optuna"]):
        pytest.skip("the sweep extra is not installed: pip install 'dmlp[sweep]'")
    assert _compose("train", ["hparams_search=optuna", *recipe]).optimized_metric == search.optimized_metric


def test_typo_in_a_key_fails_at_composition(tmp_path):
    with pytest.raises(ConfigCompositionException):
        _compose("train", ["trainer.lrr=1"])
    # a user's own experiment file with a typo'd key, found through hydra.searchpath
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text("# @package _global_\nencoder:\n  hiden_size: 3\n")
    with pytest.raises(ConfigCompositionException, match="hiden_size"):
        _compose("train", [f"hydra.searchpath=[file://{tmp_path}]", "+experiment=mine"])


@pytest.mark.parametrize("command, groups", [
    ("train", ["model", "encoder", "decoder", "denoiser", "schedule", "dataset", "trainer", "logger",
               "validation/sampler", "prior", "hparams_search", "experiment"]),
    ("sample", ["sampler", "sampler/clamp", "decoding"]),
    ("score", ["scorer"]),
    ("diagnose", ["sampler", "sampler/clamp"]),
])
def test_help_lists_exactly_the_command_groups_and_their_options(command, groups):
    template = OmegaConf.load(config_dir() / f"{command}.yaml").hydra.help.template
    listed = [line for line in template.splitlines() if ": " in line and not line.startswith("usage")]
    expected = [f"{'+experiment' if g == 'experiment' else g}: {', '.join(_options(g))}" for g in groups]
    assert listed == expected


def _inspected_parameters(cls: type) -> Parameters:
    """The reference reading: `inspect` on the imported class, keyword-only parameters up the MRO through
    **kwargs, types from `cls.__init__`'s hints (what the schemas were generated from before the ast reader)."""
    hints = typing.get_type_hints(cls.__init__)
    parameters: Parameters = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        signature = inspect.signature(klass.__init__)
        for name, parameter in signature.parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY:
                default = REQUIRED if parameter.default is parameter.empty else parameter.default
                parameters.setdefault(name, (hints.get(name, Any), default))
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return parameters


def _fields(schema: type) -> list[tuple]:
    return [(f.name, f.type, f.default_factory() if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(schema)]


@pytest.mark.parametrize("target", sorted({target for options in SCHEMAS.values() for target in options.values()}))
def test_schemas_read_from_source_equal_what_inspect_gives_on_the_imported_class(target):
    cls = get_class(target)
    assert f"{cls.__module__}.{cls.__qualname__}" == target  # the `_target_` the configs get is the class's own path
    from_source = source_parameters(target)
    assert list(from_source) == list(_inspected_parameters(cls))
    assert _fields(build_schema(target, from_source)) == _fields(build_schema(target, _inspected_parameters(cls)))


def test_the_source_reader_follows_kwargs_into_imported_bases_and_refuses_computed_defaults(tmp_path, monkeypatch):
    package = tmp_path / "schema_probe"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('the reader must not run packages')\n")
    (package / "base.py").write_text(
        "class Base:\n    def __init__(self, *, a: int = 1, tags: list[str] = ('x',), **kwargs):\n        pass\n")
    (package / "child.py").write_text(
        "import math\nfrom schema_probe.base import Base as Parent\n\n"
        "class Child(Parent):\n    def __init__(self, *, b: 'str | None' = None, **kwargs):\n        pass\n\n"
        "class Computed:\n    def __init__(self, *, limit: float = math.inf):\n        pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert source_parameters("schema_probe.child.Child") == {"b": (Optional[str], None), "a": (Any, 1),
                                                              "tags": (Any, ("x",))}
    with pytest.raises(ValueError, match="`limit` must be a literal"):
        source_parameters("schema_probe.child.Computed")
    with pytest.raises(ValueError, match="no such class"):
        source_parameters("schema_probe.child.Missing")

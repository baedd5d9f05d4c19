"""Structured-config schemas, generated from the constructors that the configs instantiate.

Every group option YAML starts with `defaults: [/schema/<group>/<name>@_here_, _self_]`,
so Hydra checks it against its target's signature: a typo'd key or a wrong type
fails at composition with Hydra's error, not deep inside training. Generating the
schema from `__init__` keeps one source of truth for names, types and defaults.
"""

import dataclasses
import inspect
import typing
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from dmlp_cli.data.corpora import HubCorpus, LocalCorpus, ToyCorpus
from dmlp_cli.data.tokenizers import PretrainedTokenizer, TrainedTokenizer
from dmlp_cli.diffusion.clamping import NormClip
from dmlp_cli.diffusion.samplers import AncestralSampler, DDIMSampler, DPMSolverSampler
from dmlp_cli.diffusion.schedules import ConstantSchedule, CosineSchedule, LinearSchedule, SqrtSchedule
from dmlp_cli.evaluation.perplexity import ScorerLM
from dmlp_cli.models.decoding import BeamSearch, Greedy, Sampling
from dmlp_cli.models.denoisers import LatentTransformer, MLPSkipNet
from dmlp_cli.models.encoders import PooledEncoder
from dmlp_cli.models.joint import JointLatentDiffusion
from dmlp_cli.models.latent_decoder import LatentDecoder
from dmlp_cli.tracking.loggers import NullLogger, WandbLogger
from dmlp_cli.training.loop import Trainer
from dmlp_cli.training.validation import Validator

SCHEMAS: dict[str, dict[str, type]] = {
    "encoder": {"pooled": PooledEncoder},
    "decoder": {"latent": LatentDecoder},
    "tokenizer": {"pretrained": PretrainedTokenizer, "trained": TrainedTokenizer},
    "denoiser": {"mlp_skip": MLPSkipNet, "transformer": LatentTransformer},
    "schedule": {"linear": LinearSchedule, "cosine": CosineSchedule, "sqrt": SqrtSchedule, "constant": ConstantSchedule},
    "dataset": {"toy": ToyCorpus, "local": LocalCorpus, "hub": HubCorpus},
    "model": {"joint": JointLatentDiffusion},
    "trainer": {"trainer": Trainer},
    "validation": {"validator": Validator},
    "logger": {"wandb": WandbLogger, "none": NullLogger},
    "sampler": {"ancestral": AncestralSampler, "ddim": DDIMSampler, "dpm_solver": DPMSolverSampler},
    "clamp": {"norm_clip": NormClip},
    "decoding": {"greedy": Greedy, "sampling": Sampling, "beam": BeamSearch},
    "scorer": {"causal_lm": ScorerLM},
}

# Arguments the commands pass at instantiate time (objects, not config values).
RUNTIME_ARGUMENTS = {"encoder", "decoder", "denoiser", "schedule"}


def _config_type(annotation: Any) -> Any:
    """The nearest type OmegaConf can validate: X | None → Optional[X], list[X] → List[X], else Any."""
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if type(None) in typing.get_args(annotation):
        return Optional[_config_type(args[0])] if len(args) == 1 else Any
    if typing.get_origin(annotation) in (list, tuple) and args:
        return list[args[0]] if args[0] in (str, int, float, bool) else Any
    if annotation in (str, int, float, bool):
        return annotation
    return Any


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Keyword parameters of `cls.__init__`, following **kwargs up to the base classes."""
    parameters: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        signature = inspect.signature(klass.__init__)
        for name, parameter in signature.parameters.items():
            if name != "self" and parameter.kind is parameter.KEYWORD_ONLY:
                parameters.setdefault(name, parameter)
        if not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            break
    return parameters


def schema_for(cls: type) -> type:
    hints = typing.get_type_hints(cls.__init__)
    fields = [("_target_", str, dataclasses.field(default=f"{cls.__module__}.{cls.__qualname__}"))]
    for name, parameter in _parameters(cls).items():
        if name in RUNTIME_ARGUMENTS:
            continue
        kind = _config_type(hints.get(name, Any))
        default = parameter.default
        if default is inspect.Parameter.empty:
            fields.append((name, Any, dataclasses.field(default=None)))
        elif isinstance(default, (list, tuple)):
            fields.append((name, kind, dataclasses.field(default_factory=lambda value=list(default): list(value))))
        else:
            fields.append((name, kind, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Config", fields)


def register_schemas() -> None:
    store = ConfigStore.instance()
    for group, options in SCHEMAS.items():
        for name, cls in options.items():
            store.store(group=f"schema/{group}", name=name, node=schema_for(cls))

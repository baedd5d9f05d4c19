"""The sampler a checkpoint's recipe asks for, as command-line defaults of `dmlp sample` and `dmlp diagnose`.

A run's config may carry `sampling: {sampler: ddim, steps: 50, top_p: 1.5}`: the settings its recipe was measured
with (the latent default's prior samples are 65.6% grammar-valid with those, 54.6% with plain ancestral sampling).
When the command line names none of `sampler`, `steps`, `top_p`, they are prepended as overrides; when it names
any of them, the recipe's sampling is not used at all, so a user's choice never mixes with the recipe's.
Read here, before Hydra composes, from the checkpoint's config.yaml (OmegaConf only; torch is not imported).
"""

from pathlib import Path

SAMPLING_COMMANDS = ("sample", "diagnose")
SAMPLING_KEYS = ("sampler", "steps", "top_p")


def _value(overrides: list[str], key: str) -> str | None:
    for override in overrides:
        name, _, value = override.partition("=")
        if name.lstrip("+~") == key:
            return value
    return None


def recipe_sampling(command: str, overrides: list[str]) -> list[str]:
    """The overrides the checkpoint's recipe adds (empty when the command line or the checkpoint picks none)."""
    from omegaconf import OmegaConf

    ckpt = _value(overrides, "ckpt")
    if command not in SAMPLING_COMMANDS or ckpt is None or any(_value(overrides, key) for key in SAMPLING_KEYS):
        return []
    config_file = Path(ckpt) / "config.yaml"
    if not config_file.is_file():  # the command itself says what is wrong with ckpt=
        return []
    sampling = OmegaConf.load(config_file).get("sampling")
    if not sampling:
        return []
    return [f"{key}={'null' if value is None else value}" for key, value in sampling.items()]

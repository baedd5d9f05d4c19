"""Config nodes → the joint model: the one place encoder, decoder, denoiser and schedule are wired together."""

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from dmlp_cli.models.joint import JointLatentDiffusion


def _with_tokenizer(node: DictConfig, tokenizer) -> object:
    """Instantiate an encoder/decoder node with the built tokenizer in place of its tokenizer spec."""
    spec = OmegaConf.to_container(node, resolve=True)
    spec.pop("tokenizer", None)
    return instantiate(spec, tokenizer=tokenizer)


def build_joint_model(
    *, model: DictConfig, encoder: DictConfig, decoder: DictConfig, denoiser: DictConfig, schedule: DictConfig,
    encoder_tokenizer, decoder_tokenizer,
) -> JointLatentDiffusion:
    return instantiate(
        model,
        encoder=_with_tokenizer(encoder, encoder_tokenizer),
        decoder=_with_tokenizer(decoder, decoder_tokenizer),
        denoiser=instantiate(denoiser),
        schedule=instantiate(schedule),
    )

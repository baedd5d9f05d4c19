"""Per-timestep weights of the denoising loss, one definition for every prediction target.

A weighting is stated as w(t) on the ε-prediction loss ‖ε̂ − ε‖². The three targets differ
only by a factor of the x0 error, with SNR = ᾱ / (1 − ᾱ):

    ‖ε̂ − ε‖² = SNR · ‖x̂0 − x0‖²,    ‖v̂ − v‖² = (1 + SNR) · ‖x̂0 − x0‖²,    ‖x̂0 − x0‖²,

so the loss in the denoiser's own target is multiplied by w(t) · SNR / native(t), with
native(t) the factor of that target. "uniform" keeps the plain loss of the target.

* min_snr (Hang et al., 2023, "Efficient Diffusion Training via Min-SNR Weighting"):
  w = min(SNR, γ) / SNR, γ = 5: low-noise steps, which are easy and many, stop dominating.
* sigmoid (Kingma & Gao, 2023, "Understanding Diffusion Objectives"; STAR-LDM's latent prior):
  w = sigmoid(b − log SNR): ≈ 1 where the noise dominates, falling off above log SNR = b (the bias,
  0 by default: the weight halves at SNR 1), a monotone weighting and so an ELBO under noise augmentation.
"""

import torch

from dmlp_cli.errors import DmlpError

LOSS_WEIGHTINGS = ("uniform", "min_snr", "sigmoid")


def native_factor(snr: torch.Tensor, *, prediction_type: str) -> torch.Tensor:
    """How the target's squared error scales the x0 error: SNR (ε), 1 + SNR (v), 1 (x0)."""
    if prediction_type == "epsilon":
        return snr
    if prediction_type == "v_prediction":
        return 1 + snr
    return torch.ones_like(snr)


def loss_weight(
    snr: torch.Tensor, *, kind: str, prediction_type: str, gamma: float = 5.0, bias: float = 0.0
) -> torch.Tensor:
    """The factor [B] that turns the denoiser's own per-sample loss into the `kind`-weighted loss."""
    if kind == "uniform":
        return torch.ones_like(snr)
    snr = snr.clamp_min(1e-20)  # ᾱ_T rounds to 0 in float32 on some schedules
    if kind == "min_snr":
        epsilon_weight = snr.clamp(max=gamma) / snr
    elif kind == "sigmoid":
        epsilon_weight = torch.sigmoid(bias - snr.log())
    else:
        raise DmlpError(f"loss weighting '{kind}' is not one of {list(LOSS_WEIGHTINGS)}")
    return epsilon_weight * snr / native_factor(snr, prediction_type=prediction_type)

"""The optimal linear denoiser of a Gaussian fit, the yardstick of a learned latent prior.

For x0 ~ N(m, C) and x_t = sqrt(ᾱ) x0 + sqrt(1 − ᾱ) ε the posterior mean is linear (the Wiener filter):

    x̂0 = m + sqrt(ᾱ) C (ᾱ C + (1 − ᾱ) I)⁻¹ (x_t − sqrt(ᾱ) m).

Diffusion denoisers learn this first and the data's non-Gaussian structure only later (Li et al., 2024,
arXiv 2410.24060), so a learned denoiser whose error on real latents matches this one's has learned their
mean and covariance and nothing else.
"""

import torch


def wiener_x0(x_t: torch.Tensor, *, alpha_bar: float, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """x̂0 [B, d] of the optimal linear denoiser of N(mean, cov) at noise level ᾱ."""
    eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    gain = alpha_bar**0.5 * cov @ torch.linalg.inv(alpha_bar * cov + (1 - alpha_bar) * eye)
    return mean + (x_t - alpha_bar**0.5 * mean) @ gain.T


@torch.no_grad()
def denoising_errors(prior, *, x0: torch.Tensor, timesteps: tuple[int, ...], generator: torch.Generator) -> dict:
    """{t: {"learned": E‖x̂0 − x0‖², "wiener": the same for the Gaussian fit of x0}} on held-out x0 [N, d] of the
    prior's diffusion space, on the prior's device (the noise is drawn on the CPU with `generator`); `prior` has
    `schedule` and `denoiser`."""
    mean, cov = x0.mean(0), torch.atleast_2d(torch.cov(x0.T))
    errors = {}
    for step in timesteps:
        alpha_bar = float(prior.schedule.alphas_cumprod[step])
        t = torch.full((x0.shape[0],), step, dtype=torch.long, device=x0.device)
        x_t = prior.schedule.add_noise(x0, torch.randn(x0.shape, generator=generator).to(x0.device), t)
        estimates = {"learned": prior.schedule.predict_x0(x_t, t, prior.denoiser(x_t, t)),
                     "wiener": wiener_x0(x_t, alpha_bar=alpha_bar, mean=mean, cov=cov)}
        errors[step] = {name: (x0_hat - x0).pow(2).sum(-1).mean().item() for name, x0_hat in estimates.items()}
    return errors

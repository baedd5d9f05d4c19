import pytest
import torch
from hydra.errors import InstantiationException

from dmlp_cli.data.collate import PairCollator
from dmlp_cli.errors import DmlpError
from tests.conftest import TEXTS
from tests.models.helpers import tiny_config, tiny_model


def _batch(tokenizer):
    rows = [
        {"encoder_ids": tokenizer(t)["input_ids"],
         "decoder_ids": [tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id],
         "label": -1, "text": t}
        for t in TEXTS
    ]
    batch = PairCollator(encoder_pad_id=tokenizer.pad_token_id, decoder_pad_id=tokenizer.pad_token_id)(rows)
    return {k: v for k, v in batch.items() if torch.is_tensor(v)}


def test_joint_loss_is_per_sample_weighted_then_averaged(tokenizer):
    model = tiny_model(tokenizer, tiny_config(reconstruction_weighting="alpha_bar", kl_weight=0.5))
    torch.manual_seed(0)
    out = model(_batch(tokenizer))
    batch_size = len(TEXTS)
    for part in (out["reconstruction"], out["diffusion"], out["kl"], out["weight"]):
        assert part.shape == (batch_size,)
    expected = (out["weight"] * out["reconstruction"]).mean() + 10.0 * out["diffusion"].mean() + 0.5 * out["kl"].mean()
    torch.testing.assert_close(out.loss, expected)
    # per token: the reconstruction of each sample is its summed NLL over its own tokens
    torch.testing.assert_close(out["reconstruction"], out.nll_sum / out.num_tokens)


def test_fixed_logvar_is_dmlps_log_0_008(tokenizer):
    model = tiny_model(tokenizer)
    batch = _batch(tokenizer)
    _, logvar = model.encode(batch["encoder_ids"], batch["encoder_mask"])
    assert torch.allclose(logvar, torch.full_like(logvar, torch.log(torch.tensor(0.008)).item()))


def test_learned_logvar_has_its_own_output(tokenizer):
    model = tiny_model(tokenizer, tiny_config(fixed_logvar=None, kl_weight=1.0))
    batch = _batch(tokenizer)
    mu, logvar = model.encode(batch["encoder_ids"], batch["encoder_mask"])
    assert mu.shape == logvar.shape == (len(TEXTS), 8)
    assert not torch.allclose(logvar, logvar[0, 0].expand_as(logvar))


def test_frozen_parameters_get_no_gradient(tokenizer):
    model = tiny_model(tokenizer, tiny_config(freeze=["decoder.backbone.*", "encoder.*"]))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(("decoder.backbone.", "encoder.")) for n in frozen)
    model(_batch(tokenizer)).loss.backward()
    assert all(p.grad is None for p in model.parameters() if not p.requires_grad)
    assert model.decoder.memory_proj.weight.grad is not None
    assert model.denoiser.out.weight.grad is not None


@pytest.mark.parametrize("override, message", [
    ({"freeze": ["decodr.*"]}, "matches no parameter"),
    ({"reconstruction_weighting": "snr"}, "reconstruction_weighting"),
])
def test_bad_model_settings_are_user_errors(tokenizer, override, message):
    with pytest.raises(InstantiationException) as error:  # Hydra wraps; the CLI prints the DmlpError inside
        tiny_model(tokenizer, tiny_config(**override))
    assert isinstance(error.value.__cause__, DmlpError)
    assert message in str(error.value.__cause__)


def test_diffusion_repeats_average_k_timesteps_per_latent(tokenizer):
    model = tiny_model(tokenizer, tiny_config(diffusion_repeats=4))
    z = torch.randn(3, 8)
    noise = model.draw_noise(batch_size=3, generator=torch.Generator().manual_seed(0))
    per_latent, t = model.diffusion_loss(z, noise)
    assert per_latent.shape == (3,) and t.shape == (12,)
    # by hand: latent b is noised at t[4b:4b+4] and its loss is the mean of those four MSEs
    repeated = z.repeat_interleave(4, dim=0)
    prediction = model.denoiser(model.schedule.add_noise(repeated, noise["diffusion"], t), t)
    by_hand = (prediction - noise["diffusion"]).pow(2).mean(-1).view(3, 4).mean(-1)
    torch.testing.assert_close(per_latent, by_hand)


def test_loss_noise_rows_follow_the_examples_whatever_the_split(tokenizer):
    """Two halves of a batch, each given its rows of the global draw, lose exactly what the whole batch does."""
    model = tiny_model(tokenizer, tiny_config(diffusion_repeats=2)).eval()
    batch = _batch(tokenizer)
    size = len(TEXTS)
    noise = model.draw_noise(batch_size=size, generator=torch.Generator().manual_seed(3))
    whole = model(batch, noise.rows(torch.arange(size), device="cpu"))
    for part in (torch.arange(0, size, 2), torch.arange(1, size, 2)):
        half = {key: value[part] for key, value in batch.items() if torch.is_tensor(value)}
        out = model(half, noise.rows(part, device="cpu"))
        torch.testing.assert_close(out["reconstruction"], whole["reconstruction"][part])
        torch.testing.assert_close(out["diffusion"], whole["diffusion"][part])


def test_normalized_latents_have_unit_scale_whatever_the_encoder_does(tokenizer):
    model = tiny_model(tokenizer, tiny_config(normalize_latent=True))
    batch = _batch(tokenizer)
    with torch.no_grad():
        model.connector.proj.weight.mul_(100.0)  # an encoder trying to escape the fixed noise by inflating μ
    mu, _ = model.encode(batch["encoder_ids"], batch["encoder_mask"])
    torch.testing.assert_close(mu.mean(-1), torch.zeros(len(TEXTS)), atol=1e-4, rtol=0)
    torch.testing.assert_close(mu.var(-1, unbiased=False), torch.ones(len(TEXTS)), atol=1e-3, rtol=0)


def test_bf16_autocast_noises_the_latent_in_float32(tokenizer):
    """Under bf16 autocast the denoiser still sees x_t = sqrt(ᾱ_t) z + sqrt(1 − ᾱ_t) ε computed in float32."""
    model = tiny_model(tokenizer).eval()
    seen = []
    model.denoiser.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    noise = model.draw_noise(batch_size=len(TEXTS), generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(_batch(tokenizer), noise)
    assert seen[0].dtype == torch.float32
    assert out.loss.dtype == torch.float32


def test_a_batch_of_cached_posteriors_trains_the_denoiser_alone(tokenizer):
    model = tiny_model(tokenizer)
    mu, logvar = torch.randn(4, 8), torch.full((4, 8), -4.8)
    noise = model.draw_noise(batch_size=4, generator=torch.Generator().manual_seed(0))
    out = model({"latent_mean": mu, "latent_logvar": logvar}, noise.rows(torch.arange(4), device="cpu"))
    assert set(out.parts) == {"diffusion"} and out["diffusion"].shape == (4,)
    z = mu + (0.5 * logvar).exp() * noise["latent"]  # the posterior sample of each cached (μ, σ)
    torch.testing.assert_close(out["diffusion"], model.diffusion_loss(z, noise)[0])
    out.loss.backward()
    touched = {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None}
    assert touched == {"denoiser"}


def test_latent_normalization_is_undone_before_decoding(tokenizer):
    """The diffusion space is (μ − m) / s; the decoder is always given the autoencoder's own z."""
    model = tiny_model(tokenizer).eval()
    batch = _batch(tokenizer)
    with torch.no_grad():
        mu, _ = model.encode(batch["encoder_ids"], batch["encoder_mask"])
        model.normalization.fit(means=mu, logvars=torch.zeros_like(mu), kind="per_dimension")
        x0 = model.encode_x0(batch)
    torch.testing.assert_close(x0, (mu - model.normalization.shift) / model.normalization.scale)

    class Recording:
        def decode(self, decoder, z, *, max_length, generator):
            seen.append(z)
            return [[]] * z.shape[0]

    seen = []
    model.decode(x0, max_length=8, decoding=Recording())
    torch.testing.assert_close(seen[0], mu)


def test_loss_aware_timesteps_learn_from_training_losses_only(tokenizer):
    model = tiny_model(tokenizer, tiny_config(timestep_sampling="loss_aware"))
    batch = {"latent_mean": torch.randn(64, 8), "latent_logvar": torch.full((64, 8), -4.8)}
    model.eval()
    model(batch)
    assert not model.timesteps.seen.any()  # evaluation does not move the sampling distribution
    model.train()
    for _ in range(10):
        model(batch)
    assert model.timesteps.seen.sum() > 0

"""The training loop on one process: accumulation, resume, non-finite steps, EMA, precision, settings."""

import io
import json

import pytest
import torch

from dmlp_cli.errors import DmlpError
from dmlp_cli.training.distributed import DistributedContext
from dmlp_cli.training.ema import ExponentialMovingAverage
from dmlp_cli.training.loop import Trainer

SINGLE = DistributedContext()


def _fit(model, trainer, train_set, collator, tmp_path, resume_state=None):
    saved = {}

    def save(*, model, weights, step, metrics, trainer_state, ema, is_best):
        buffer = io.BytesIO()  # as a checkpoint does: a snapshot, loadable without pickled code
        torch.save(trainer_state, buffer)
        buffer.seek(0)
        saved[step] = {"weights": {k: v.clone() for k, v in model.state_dict().items()},
                       "state": torch.load(buffer, weights_only=True), "ema": ema and {k: v.clone() for k, v in ema.items()}}
        return tmp_path / f"step-{step}"

    trainer.fit(model=model, train_set=train_set, collator=collator, run_dir=tmp_path, validate=lambda m: ({}, []),
                save=save, context=SINGLE, resume_state=resume_state)
    return saved


def _trainer(**settings) -> Trainer:
    base = {"max_steps": 4, "global_batch_size": 16, "lr": 1e-3, "warmup_steps": 1, "log_every": 2, "eval_every": 100,
            "device": "cpu", "seed": 3}
    return Trainer(**{**base, **settings})


def _assert_same_weights(a: torch.nn.Module | dict, b: torch.nn.Module | dict, **tolerance):
    a = a if isinstance(a, dict) else a.state_dict()
    b = b if isinstance(b, dict) else b.state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=name, **tolerance)


def test_accumulating_two_micro_batches_of_8_equals_one_batch_of_16(make_model, train_set, collator, tmp_path):
    whole, accumulated = make_model(), make_model()
    _fit(whole, _trainer(), train_set, collator, tmp_path)
    _fit(accumulated, _trainer(micro_batch_size=8), train_set, collator, tmp_path)
    _assert_same_weights(whole, accumulated, atol=2e-6, rtol=1e-5)
    assert not torch.equal(whole.denoiser.out.weight, make_model().denoiser.out.weight)  # it did train


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(make_model, train_set, collator, tmp_path):
    uninterrupted = make_model()
    saved = _fit(uninterrupted, _trainer(max_steps=6, save_every=3), train_set, collator, tmp_path)
    resumed = make_model()
    resumed.load_state_dict(saved[3]["weights"])
    torch.manual_seed(1234)  # a new process: whatever the global RNG holds, the checkpoint's state wins
    _fit(resumed, _trainer(max_steps=6, save_every=3), train_set, collator, tmp_path, resume_state=saved[3]["state"])
    _assert_same_weights(uninterrupted, resumed, atol=0, rtol=0)


def test_trainer_state_records_position_schedule_and_every_rank_rng(make_model, train_set, collator, tmp_path):
    saved = _fit(make_model(), _trainer(max_steps=5, save_every=5), train_set, collator, tmp_path)
    state = saved[5]["state"]
    assert state["step"] == 5 and state["epoch"] == 0 and state["step_in_epoch"] == 5  # 96 examples = 6 steps of 16
    assert state["lr_schedule"]["last_epoch"] == 5 and len(state["rng"]) == 1 and state["world_size"] == 1


def _nan_on_second_step(model) -> None:
    """The model's loss is NaN on its second forward pass (a non-finite step), finite otherwise."""
    forward, calls = model.forward, []

    def nan_on_second_step(batch, noise=None):
        out = forward(batch, noise)
        calls.append(1)
        if len(calls) == 2:
            out.loss = out.loss * float("nan")
        return out

    model.forward = nan_on_second_step


def test_a_non_finite_step_is_skipped_and_training_goes_on(make_model, train_set, collator, tmp_path):
    model = make_model()
    _nan_on_second_step(model)
    saved = _fit(model, _trainer(max_steps=3, save_every=1), train_set, collator, tmp_path)
    # the skipped step 2 changed nothing; steps 1 and 3 trained
    _assert_same_weights(saved[1]["weights"], saved[2]["weights"], atol=0, rtol=0)
    assert not torch.equal(saved[2]["weights"]["denoiser.out.weight"], saved[3]["weights"]["denoiser.out.weight"])
    assert saved[3]["state"]["nonfinite_in_a_row"] == 0
    lines = (tmp_path / "metrics.jsonl").read_text()
    assert '"train/skipped_steps": 1' in lines


def test_logged_grad_norm_averages_only_the_steps_that_were_not_skipped(make_model, train_set, collator, tmp_path):
    """Steps 1-2 share one log window; step 2 is non-finite, so train/grad_norm is step 1's norm, not half of it."""
    model = make_model()
    norms = []
    _nan_on_second_step(model)
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, max_norm):
        norms.append(clip(parameters, max_norm))
        return norms[-1]

    torch.nn.utils.clip_grad_norm_ = recording_clip
    try:
        _fit(model, _trainer(max_steps=2, log_every=2), train_set, collator, tmp_path)
    finally:
        torch.nn.utils.clip_grad_norm_ = clip
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert not torch.isfinite(norms[1]) and logged["train/skipped_steps"] == 1
    assert logged["train/grad_norm"] == pytest.approx(float(norms[0]))


def test_non_finite_steps_in_a_row_stop_with_a_clear_error(make_model, train_set, collator, tmp_path):
    model = make_model(ddpm_weight=float("nan"))
    with pytest.raises(DmlpError, match="3 steps in a row had a non-finite loss"):
        _fit(model, _trainer(max_nonfinite_steps=3), train_set, collator, tmp_path)


def test_ema_is_saved_and_follows_the_weights(make_model, train_set, collator, tmp_path):
    saved = _fit(make_model(), _trainer(max_steps=2, save_every=1, ema_decay=0.5), train_set, collator, tmp_path)
    start = make_model().state_dict()
    name = "denoiser.out.weight"
    # ema_1 = 0.5·θ_0 + 0.5·θ_1, ema_2 = 0.5·ema_1 + 0.5·θ_2
    ema_1 = 0.5 * start[name] + 0.5 * saved[1]["weights"][name]
    torch.testing.assert_close(saved[1]["ema"][name], ema_1)
    torch.testing.assert_close(saved[2]["ema"][name], 0.5 * ema_1 + 0.5 * saved[2]["weights"][name])


def test_bf16_autocast_trains_on_cpu_and_fp16_asks_for_a_gpu(make_model, train_set, collator, tmp_path):
    model = make_model()
    _fit(model, _trainer(max_steps=2, precision="bf16"), train_set, collator, tmp_path)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
    with pytest.raises(DmlpError, match="fp16 needs a CUDA GPU"):
        _fit(make_model(), _trainer(max_steps=2, precision="fp16"), train_set, collator, tmp_path)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 with a loss scaler needs CUDA")
def test_fp16_with_loss_scaler_trains_on_cuda(make_model, train_set, collator, tmp_path):
    model = make_model()
    saved = _fit(model, _trainer(max_steps=3, save_every=3, precision="fp16", device="cuda"), train_set, collator, tmp_path)
    assert saved[3]["state"]["scaler"]["scale"] > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("settings, message", [
    ({"global_batch_size": 16, "micro_batch_size": 5}, "do not divide"),
    ({"global_batch_size": 200}, "fewer than one global batch"),
    ({"best_mode": "up"}, "best_mode"),
    ({"precision": "fp8"}, "trainer.precision"),
])
def test_bad_trainer_settings_are_one_line_errors(make_model, train_set, collator, tmp_path, settings, message):
    with pytest.raises(DmlpError, match=message):
        _fit(make_model(), _trainer(**settings), train_set, collator, tmp_path)


def test_batch_that_does_not_split_over_the_processes_is_refused():
    with pytest.raises(DmlpError, match="does not split over 3 processes"):
        _trainer(global_batch_size=16).layout(3)


def test_ema_warmup_averages_with_decay_one_plus_n_over_ten_plus_n():
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ExponentialMovingAverage(model, decay=0.999, warmup=True)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model)  # n = 1: decay 2 / 11, shadow = 0 + (1 − 2/11) · (1 − 0)
    assert ema.shadow["weight"].item() == pytest.approx(9 / 11)
    ema.update(model)  # n = 2: decay 3 / 12
    assert ema.shadow["weight"].item() == pytest.approx(9 / 11 + (1 - 3 / 12) * (1 - 9 / 11))
    ema.num_updates = 10**6
    assert ema.current_decay() == 0.999  # warm-up ends at the configured decay


def test_resumed_ema_warmup_goes_on_from_the_saved_update_count(make_model, train_set, collator, tmp_path):
    uninterrupted = _fit(make_model(), _trainer(max_steps=6, save_every=3, ema_decay=0.99, ema_warmup=True),
                         train_set, collator, tmp_path)
    assert uninterrupted[3]["state"]["ema_updates"] == 3
    resumed_model = make_model()
    resumed_model.load_state_dict(uninterrupted[3]["weights"])
    state = {**uninterrupted[3]["state"], "ema": uninterrupted[3]["ema"]}
    resumed = _fit(resumed_model, _trainer(max_steps=6, save_every=3, ema_decay=0.99, ema_warmup=True),
                   train_set, collator, tmp_path, resume_state=state)
    _assert_same_weights(uninterrupted[6]["ema"], resumed[6]["ema"], atol=0, rtol=0)

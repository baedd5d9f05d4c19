"""A checkpoint's recipe sampler becomes `dmlp sample`'s defaults only when the command line names none."""

from pathlib import Path

from dmlp_cli.recipe_sampling import recipe_sampling


def _checkpoint(tmp_path: Path, sampling: str) -> Path:
    (tmp_path / "config.yaml").write_text(f"max_length: 32\nsampling: {sampling}\n")
    return tmp_path


def test_the_recipe_sampling_is_prepended_as_overrides(tmp_path):
    ckpt = _checkpoint(tmp_path, "{sampler: ddim, steps: 50, top_p: 1.5}")
    assert recipe_sampling("sample", [f"ckpt={ckpt}", "n=500"]) == ["sampler=ddim", "steps=50", "top_p=1.5"]
    assert recipe_sampling("diagnose", [f"ckpt={ckpt}"]) == ["sampler=ddim", "steps=50", "top_p=1.5"]


def test_any_sampler_key_on_the_command_line_turns_the_recipe_off(tmp_path):
    ckpt = _checkpoint(tmp_path, "{sampler: ddim, steps: 50, top_p: 1.5}")
    for chosen in ("sampler=ddpm", "steps=100", "top_p=2.0", "+top_p=2.0"):
        assert recipe_sampling("sample", [f"ckpt={ckpt}", chosen]) == []


def test_no_recipe_sampling_no_checkpoint_or_another_command_adds_nothing(tmp_path):
    assert recipe_sampling("sample", [f"ckpt={_checkpoint(tmp_path, 'null')}"]) == []
    assert recipe_sampling("sample", [f"ckpt={tmp_path / 'missing'}"]) == []
    assert recipe_sampling("sample", ["n=5"]) == []
    assert recipe_sampling("score", [f"ckpt={tmp_path}"]) == []

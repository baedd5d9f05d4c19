from dmlp_cli.tracking.plots import PANEL_PX
from dmlp_cli.tracking.run_report import write_run_report
from tests.tracking.synthetic_runs import make_run
from tests.tracking.test_plots import assert_png


def test_a_two_stage_run_gets_plots_per_stage_metrics_and_its_last_evaluations_samples(tmp_path):
    run = make_run(tmp_path / "run", overrides=["logger=none"], prior=True)
    written = write_run_report(run, output=run / "report", samples=None, text_field="text", gallery_size=2)
    assert [path.name for path in written] == ["README.md", "train.png", "valid.png", "prior_train.png",
                                               "prior_valid.png"]
    for image in written[1:]:
        panels = 7 if "train" in image.name else 4  # the synthetic logs' train/ and valid/ keys
        assert_png(image, width=3 * PANEL_PX[0], height=(3 if panels == 7 else 2) * PANEL_PX[1])
    readme = written[0].read_text()
    assert "- status: finished in 1 min 15 s" in readme and "- overrides: `logger=none`" in readme
    assert "## Joint phase" in readme and "## Prior stage" in readme
    assert "| valid/reconstruction_bleu | 97.5 | 40 | 97.5 | 40 |" in readme
    assert "| train/loss | 0.125 | 40 |  |  |" in readme
    assert "2 of 3 samples from `eval_samples/step-40.jsonl`:\n\n```text\nthe pasta was great .\ni loved | it *\n```" \
        in readme
    assert "No evaluation samples in this stage" in readme  # the prior stage kept none


def test_a_given_samples_file_replaces_the_evaluation_gallery(tmp_path):
    run = make_run(tmp_path / "run", finished=False)
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"sentence": "one ."}\n{"sentence": "two ."}\n')
    written = write_run_report(run, output=tmp_path / "out", samples=samples, text_field="sentence", gallery_size=5)
    readme = written[0].read_text()
    assert "## Training" in readme and "## Prior stage" not in readme
    assert f"2 of 2 samples from `{samples}`:\n\n```text\none .\ntwo .\n```" in readme
    assert "eval_samples/step-40.jsonl" not in readme
    assert "- status: running, or stopped without finishing (no FINISHED.json; last write" in readme

from dmlp_cli.tracking.sweep_jobs import Job, common_overrides, is_sweep, read_jobs, swept_keys
from dmlp_cli.tracking.run_status import Status
from tests.tracking.synthetic_runs import make_run, make_sweep


def test_jobs_come_in_job_order_with_their_status_and_curves(tmp_path):
    sweep = make_sweep(tmp_path / "sweep")
    make_run(sweep / "10", overrides=["logger=none", "trainer.max_steps=40", "trainer.lr=1"])
    (sweep / "notes").mkdir()  # not a job: no .hydra/overrides.yaml
    assert is_sweep(sweep) and not is_sweep(sweep / "0")
    jobs = read_jobs(sweep)
    assert [job.name for job in jobs] == ["0", "1", "2", "3", "10"]
    assert [job.status.state for job in jobs] == ["finished", "failed", "finished", "running", "finished"]
    assert jobs[1].curves == {} and "valid/reconstruction_bleu" in jobs[0].curves
    assert swept_keys(jobs) == ["trainer.lr"]
    assert common_overrides(jobs) == ["logger=none", "trainer.max_steps=40"]


def test_a_key_set_in_some_jobs_only_or_deleted_counts_as_swept():
    def job(*overrides: str) -> Job:
        return Job(name="0", folder=None, overrides=list(overrides), status=Status("running", "", None), curves={})

    jobs = [job("a=1", "~b"), job("a=1"), job("a=1", "+c=2")]
    assert swept_keys(jobs) == ["~b", "+c"]
    assert common_overrides(jobs) == ["a=1"]
    assert jobs[0].settings == {"a": "1", "~b": ""}

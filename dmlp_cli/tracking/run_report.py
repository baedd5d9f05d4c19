"""The report of one run folder: PNGs of its training and evaluation curves per stage, and a README.md
with its status, final and best metrics and a gallery of generated samples, in one output folder."""

from pathlib import Path

from dmlp_cli.data.jsonl import read_texts, write_atomically
from dmlp_cli.tracking.metrics_log import latest_eval_samples
from dmlp_cli.tracking.plots import plot_panels
from dmlp_cli.tracking.run_history import STAGES, Curve, higher_is_better, read_curves, stage_logs
from dmlp_cli.tracking.run_status import Status, read_status
from dmlp_cli.tracking.sweep_jobs import read_overrides
from dmlp_cli.tracking.tables import duration, markdown_table, number

STAGE_TITLES = {"": "Training", "prior/": "Prior stage"}
PARTS = {"train/": "training curves", "valid/": "evaluation curves"}


def status_line(status: Status) -> str:
    if status.state == "finished":
        return f"finished in {duration(status.wall_time_s)}"
    if status.state == "failed":
        return f"failed: {status.reason}"
    return f"running, or stopped without finishing (no FINISHED.json; {status.reason})"


def metrics_rows(curves: dict[str, Curve]) -> list[list[str]]:
    """metric, final value and step, and for evaluation metrics the best value and step."""
    rows = []
    for name, curve in curves.items():
        step, value = curve.final()
        best = curve.best(maximize=higher_is_better(name)) if name.startswith("valid/") else None
        rows.append([name, number(value), str(step), *((number(best[1]), str(best[0])) if best else ("", ""))])
    return rows


def gallery(texts: list[str], *, limit: int, source: str) -> str:
    """The first `limit` texts in a fenced block (markdown would read `*`, `_` or `|` in them as markup)."""
    shown = [text.replace("\n", " ") for text in texts[:limit]]
    return f"{len(shown)} of {len(texts)} samples from `{source}`:\n\n```text\n" + "\n".join(shown) + "\n```\n"


def _stage_section(run_dir: Path, *, prefix: str, curves: dict[str, Curve], output: Path, title: str,
                   gallery_size: int, with_samples: bool) -> tuple[str, list[Path]]:
    """A stage's plots (written to `output`) and its markdown section."""
    lines, written = [f"## {title}\n"], []
    for part, caption in PARTS.items():
        selected = {name: curve for name, curve in curves.items() if name.startswith(part)}
        if selected:
            image = plot_panels(output / f"{prefix.replace('/', '_')}{part.rstrip('/')}.png", curves=selected,
                                title=f"{title}: {caption} ({run_dir.name})")
            written.append(image)
            lines.append(f"![{caption}]({image.name})\n")
    lines.append(markdown_table(["metric", "final", "at step", "best", "at step"], metrics_rows(curves)))
    samples = latest_eval_samples(run_dir / STAGES[prefix]) if with_samples else None
    if samples is not None:
        lines.append("Samples of the last evaluation: " + gallery(read_texts(samples), limit=gallery_size,
                                                                   source=str(samples.relative_to(run_dir))))
    elif with_samples:
        lines.append("No evaluation samples in this stage (`eval_samples/`: validation.num_generate=0, or a run "
                     "trained before dmlp kept them); `samples=FILE` shows a file of your own.\n")
    return "\n".join(lines), written


def write_run_report(run_dir: Path, *, output: Path, samples: Path | None, text_field: str,
                     gallery_size: int) -> list[Path]:
    """The plots and README.md of `run_dir` (which has at least one metrics.jsonl) in `output`; the files written."""
    logs = stage_logs(run_dir)
    sections, written = [], []
    for prefix, log in logs.items():
        title = "Joint phase" if prefix == "" and len(logs) > 1 else STAGE_TITLES[prefix]
        section, images = _stage_section(run_dir, prefix=prefix, curves=read_curves(log), output=output, title=title,
                                         gallery_size=gallery_size, with_samples=samples is None)
        sections.append(section)
        written += images
    page = [f"# Run report: {run_dir}\n", f"- status: {status_line(read_status(run_dir))}",
            f"- overrides: `{' '.join(read_overrides(run_dir)) or '(none)'}`\n"]
    if samples is not None:
        page.append("## Samples\n\n" + gallery(read_texts(samples, field=text_field), limit=gallery_size,
                                               source=str(samples)))
    readme = write_atomically(output / "README.md", "\n".join(page + sections))
    return [readme, *written]

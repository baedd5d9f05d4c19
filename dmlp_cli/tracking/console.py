"""What the user sees in the terminal: rich progress bars, tables and one-line messages."""

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)  # soft wrap: printed commands and paths stay copy-pasteable


def progress_bar(*, fields: bool = False, disable: bool = False) -> Progress:
    """A bar with count, elapsed/remaining time and, with `fields`, a free text column (loss, speed);
    `disable` on ranks other than 0."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    if fields:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, console=console, transient=False, disable=disable)


def metrics_table(metrics: dict, *, title: str) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    return table

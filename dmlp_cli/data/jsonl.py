"""Reading and atomically writing the jsonl and json files the commands exchange (samples, scores' inputs, reports)."""

import json
import os
import tempfile
from pathlib import Path

from dmlp_cli.errors import DmlpError


def read_texts(path: str | Path, *, field: str = "text") -> list[str]:
    """Texts from a .jsonl file (one object per line, `field` holds the text) or a .txt file (one per line)."""
    path = Path(path)
    if not path.is_file():
        raise DmlpError(f"file '{path}' does not exist; pass the path of a .jsonl or .txt file")
    lines = path.read_text().splitlines()
    if path.suffix != ".jsonl":
        return lines
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DmlpError(f"{path}:{number} is not valid JSON ({error.msg}); each line must be one JSON object") from error
        if field not in record:
            raise DmlpError(f"{path}:{number} has no field '{field}' (fields: {', '.join(record)}); set text_field=<name>")
        texts.append(record[field])
    return texts


def write_atomically(path: str | Path, text: str | bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: readers never see half a file (text or, for images,
    bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "wb" if isinstance(text, bytes) else "w") as stream:
        stream.write(text)
    os.replace(temporary, path)
    return path


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    return write_atomically(path, "".join(json.dumps(record) + "\n" for record in records))


def write_json(path: str | Path, value: dict) -> Path:
    return write_atomically(path, json.dumps(value, indent=2))

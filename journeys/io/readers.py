"""Find out what a file is (format, compression, encoding, delimiter) and how DuckDB should read it.

Nothing here pulls a whole file into Python: the engine reads it; we only sniff the first megabyte.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from journeys.errors import InputError

Format = Literal["csv", "parquet", "jsonl"]
SNIFF_BYTES = 1 << 20
DELIMITERS = ",;\t|"
_EXT_FORMATS: dict[str, Format] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}


@dataclass(slots=True)
class SourceFile:
    """A readable file and how to read it. ``path`` may be a file extracted from a zip."""

    path: Path
    name: str
    format: Format
    compression: Literal["none", "gzip"] = "none"
    encoding: str = "utf-8"
    delimiter: str = ","
    warnings: list[str] = field(default_factory=list)

    def reader_sql(self) -> str:
        """A DuckDB table function reading the file; CSV columns stay text (ids keep leading zeros)."""
        p = _quote(str(self.path))
        if self.format == "parquet":
            return f"read_parquet({p})"
        if self.format == "jsonl":
            return f"read_json({p}, format='auto', compression='{'gzip' if self.compression == 'gzip' else 'auto'}')"
        opts = [
            "header=true", "all_varchar=true", f"delim={_quote(self.delimiter)}", "quote='\"'", "escape='\"'",
            f"encoding={_quote(self.encoding)}", "null_padding=false", "store_rejects=true",
        ]
        if self.compression == "gzip":
            opts.append("compression='gzip'")
        return f"read_csv({p}, {', '.join(opts)})"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _head(path: Path, compressed: bool) -> bytes:
    if compressed:
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(SNIFF_BYTES)
        except (OSError, EOFError) as err:
            raise InputError(f"'{path.name}' looks gzip-compressed but cannot be decompressed ({err}).") from err
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _extract_zip(path: Path, workdir: Path) -> Path:
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
        if any(n.startswith("xl/") for n in names) or "[Content_Types].xml" in names:
            raise InputError(
                f"'{path.name}' is an Excel workbook, not an event export.",
                hint="Save the sheet as CSV (File > Save as > CSV UTF-8) and load that.",
            )
        data = [n for n in names if Path(n).suffix.lower() in _EXT_FORMATS or n.lower().endswith(".gz")]
        if len(data) != 1:
            raise InputError(
                f"The zip archive '{path.name}' must hold exactly one CSV, Parquet or JSON Lines file; it holds {len(data)}.",
                hint=f"Files inside: {', '.join(names[:10]) or 'none'}.",
            )
        target = workdir / Path(data[0]).name
        with zf.open(data[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return target


def _sniff_encoding(head: bytes, name: str) -> tuple[str, list[str]]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", []
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", []
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "latin-1", [f"'{name}' is not valid UTF-8; it was read as Latin-1. Check accented characters."]
    return "utf-8", []


def _sniff_delimiter(text: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # the delimiter that appears the same number of times on most lines, else the most frequent
        counts = {d: [ln.count(d) for ln in lines] for d in DELIMITERS}
        return max(DELIMITERS, key=lambda d: (counts[d][0] > 0, sum(c == counts[d][0] for c in counts[d]), counts[d][0]))


def _misnamed(suffixes: list[str], read_as: str) -> list[str]:
    """A warning when text sits under a Parquet name (real Parquet starts with PAR1 and never gets here)."""
    return [f"file named {s} contains {read_as} text; read as {read_as}" for s in suffixes[-1:]
            if _EXT_FORMATS.get(s) == "parquet"]


def inspect_file(path: str | Path, *, workdir: Path | None = None, name: str | None = None) -> SourceFile:
    """Sniff a file and say how to read it, or raise :class:`InputError` with a clear sentence."""
    path = Path(path)
    name = name or path.name
    if not path.exists():
        raise InputError(f"File '{path}' does not exist.")
    if path.is_dir():
        raise InputError(f"'{path}' is a folder, not a file.")
    if path.stat().st_size == 0:
        raise InputError(f"The file '{name}' is empty.")
    with path.open("rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PK\x03\x04"):
        workdir = workdir or Path(tempfile.mkdtemp(prefix="journeys-"))
        inner = _extract_zip(path, workdir)
        return inspect_file(inner, workdir=workdir, name=f"{name}:{inner.name}")
    if magic.startswith(b"%PDF"):
        raise InputError(f"'{name}' is a PDF document, not an event export.", hint="Event exports are CSV, Parquet or JSON Lines files.")
    if magic.startswith(b"PAR1"):
        return SourceFile(path=path, name=name, format="parquet")
    compressed = magic.startswith(b"\x1f\x8b")
    head = _head(path, compressed)
    if not head.strip():
        raise InputError(f"The file '{name}' is empty.")
    encoding, warnings = _sniff_encoding(head, name)
    if encoding == "utf-16":
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode(encoding, errors="ignore")
    sample = text[:4096]
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    if "\x00" in sample or control > max(8, len(sample) // 50):
        raise InputError(
            f"'{name}' does not look like a text export (it contains binary data).",
            hint="Event exports are CSV, Parquet or JSON Lines files.",
        )
    suffixes = [s.lower() for s in Path(name.split(":")[-1]).suffixes]
    stripped = text.lstrip("\ufeff \r\n\t")
    is_json = stripped.startswith(("{", "[")) or any(s in (".jsonl", ".ndjson", ".json") for s in suffixes)
    if is_json:
        return SourceFile(path=path, name=name, format="jsonl", compression="gzip" if compressed else "none",
                          warnings=[*warnings, *_misnamed(suffixes, "JSON Lines")])
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 and len(head) < SNIFF_BYTES:
        raise InputError(f"The file '{name}' has a header but no data rows.")
    warnings += _misnamed(suffixes, "CSV")
    return SourceFile(path=path, name=name, format="csv", compression="gzip" if compressed else "none",
                      encoding=encoding, delimiter=_sniff_delimiter(text), warnings=warnings)


def relation(con: duckdb.DuckDBPyConnection, src: SourceFile) -> duckdb.DuckDBPyRelation:
    """The file as a DuckDB relation; a UTF-8 failure deep in the file falls back to Latin-1 with a warning."""
    try:
        rel = con.sql(f"SELECT * FROM {src.reader_sql()}")
        rel.limit(1).to_arrow_table()
        return rel
    except duckdb.InvalidInputException as err:
        if src.format == "csv" and "unicode" in str(err).lower() and src.encoding == "utf-8":
            src.encoding = "latin-1"
            src.warnings.append(f"'{src.name}' is not valid UTF-8; it was read as Latin-1. Check accented characters.")
            return relation(con, src)
        raise InputError(f"'{src.name}' cannot be read as {src.format.upper()}: {_first_line(err)}") from err
    except duckdb.Error as err:
        raise InputError(f"'{src.name}' cannot be read as {src.format.upper()}: {_first_line(err)}") from err


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:300]


def preview(path: str | Path, n: int = 20, *, name: str | None = None) -> tuple[SourceFile, pd.DataFrame]:
    """The first ``n`` rows as text (for the mapping step), and how the file will be read."""
    src = inspect_file(path, name=name)
    con = duckdb.connect()
    rel = relation(con, src)
    frame = rel.limit(n).to_arrow_table().to_pandas()
    if frame.empty and not frame.columns.empty:
        raise InputError(f"The file '{src.name}' has a header but no data rows.")
    return src, frame.astype("string")


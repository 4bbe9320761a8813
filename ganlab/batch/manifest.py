"""The record of a batch run: `labels.csv` in the output folder, one row per file written plus one summary
row per source image, committed per finished source; `manifest.parquet` is written from it at the end.

Resuming trusts only this record: a source is done when its summary row says 'ok' (it is written last,
in the same append as the source's other rows, and synced). Rows of a source whose summary never made it
(a process killed mid-append) are dropped on the next start, and that source runs again; its files,
written whole under fixed names, are simply replaced. A source that failed is tried again by the next run
(its old rows give way to the new ones). `job.json` records what the folder's run does, so a different
job is not resumed into it.

A source's blends toward other identities (the second phase of a run) are committed apart, as rows of
kind 'identity' ended by their own summary row (kind 'identities', naming the partners in `identity`):
the same rules hold for them, so each phase of each source is done, or not there at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from ganlab.errors import GanlabError
from ganlab.fileio import write_atomically

LABELS = "labels.csv"
PARQUET = "manifest.parquet"
JOB = "job.json"
FIELDS = ("source", "file", "kind", "label", "transform", "magnitude", "identity", "seed", "method", "psnr",
          "ssim", "distance", "status", "message")
SUMMARY = "source"  # the `kind` of a source's last row: status 'ok' or 'failed', with the reconstruction metrics
IDENTITY = "identity"      # a blend toward another source (named in `identity`, the fraction in `magnitude`)
IDENTITIES = "identities"  # the summary of a source's blends: its partners in `identity` (a JSON list)
SUMMARIES = (SUMMARY, IDENTITIES)


def _unit(row: dict) -> tuple[str, str]:
    """What a row is committed with: (its source, the summary kind of its phase)."""
    return row["source"], IDENTITIES if row["kind"] in (IDENTITY, IDENTITIES) else SUMMARY


class Manifest:
    """`labels.csv` of one output folder: what is done, and the append that commits a finished source."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = self.out / LABELS
        self.job: dict | None = None
        self.rows: list[dict[str, str]] = self._read()

    def _read(self) -> list[dict[str, str]]:
        if not self.path.is_file():
            return []
        text = self.path.read_text()
        complete = text[:text.rfind("\n") + 1]  # a torn last line (a kill mid-append) is not a row
        reader = csv.DictReader(io.StringIO(complete))
        rows = [{k: r.get(k) or "" for k in FIELDS} for r in reader]  # a manifest from before a new column
        finished = {_unit(r) for r in rows if r["kind"] in SUMMARIES}
        kept = [r for r in rows if _unit(r) in finished]
        if kept != rows or complete != text or tuple(reader.fieldnames or ()) != FIELDS:
            write_atomically(self.path, _csv(kept, header=True))
        return kept

    def claim(self, job: dict, defaults: dict | None = None) -> None:
        """Refuse when the folder holds another job's run; else `job` (plain data) is recorded as the
        folder's with the first finished source (a run that fails before any leaves no claim). An option
        the folder's record lacks (one newer than its run) counts as set to its value in `defaults`."""
        path = self.out / JOB
        job = json.loads(json.dumps(job, sort_keys=True))  # as it reads back (tuples become lists)
        if path.is_file():
            kept = {**json.loads(json.dumps(defaults or {})), **json.loads(path.read_text())}
            if kept != job:
                changed = sorted(k for k in set(kept) | set(job) if kept.get(k) != job.get(k))
                raise GanlabError(f"{self.out} holds a run of another job (it differs in {', '.join(changed)}): "
                                  "resume it with the same options, or give another --out")
        self.job = job

    def done(self) -> set[str]:
        """Sources finished well; failed ones are tried again."""
        return {r["source"] for r in self.rows if r["kind"] == SUMMARY and r["status"] == "ok"}

    def blended(self) -> dict[str, list[str]]:
        """Sources whose blends are done well, with the partners they were made toward."""
        return {r["source"]: json.loads(r["identity"]) for r in self.rows
                if r["kind"] == IDENTITIES and r["status"] == "ok"}

    def failed(self) -> list[dict[str, str]]:
        """Every failure on record: of an inversion, or of a source's blends."""
        return [r for r in self.rows if r["kind"] in SUMMARIES and r["status"] != "ok"]

    def commit(self, rows: list[dict]) -> None:
        """Append one finished source's rows of one phase (its summary last) in one synced write."""
        if not rows or rows[-1].get("kind") not in SUMMARIES:
            raise ValueError("a source's rows end with its summary row")
        clean = [{k: _cell(row.get(k)) for k in FIELDS} for row in rows]
        self.out.mkdir(parents=True, exist_ok=True)
        if self.job is not None and not (self.out / JOB).is_file():
            write_atomically(self.out / JOB, json.dumps(self.job, indent=1, sort_keys=True))
        again = _unit(clean[-1])
        if any(_unit(r) == again for r in self.rows):  # a retried failure or a redone blend: old rows go first
            self.rows = [r for r in self.rows if _unit(r) != again]
            write_atomically(self.path, _csv(self.rows, header=True))
        new = not self.path.is_file() or self.path.stat().st_size == 0
        with open(self.path, "a", newline="") as f:
            f.write(_csv(clean, header=new))
            f.flush()
            os.fsync(f.fileno())
        self.rows += clean

    def write_parquet(self) -> Path | None:
        """`manifest.parquet` from every row (written whole, then renamed); None without pyarrow."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return None
        columns = {k: [r[k] for r in self.rows] for k in FIELDS}
        for numeric in ("magnitude", "psnr", "ssim", "distance"):
            columns[numeric] = [float(v) if v != "" else None for v in columns[numeric]]
        columns["seed"] = [int(v) if v != "" else None for v in columns["seed"]]
        buffer = io.BytesIO()
        pq.write_table(pa.table(columns), buffer)
        return write_atomically(self.out / PARQUET, buffer.getvalue())


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _csv(rows: list[dict[str, str]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()

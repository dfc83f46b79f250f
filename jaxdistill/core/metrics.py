"""Metrics to CSV (always) and TensorBoard (when tensorboardX is installed)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path


def write_rows(out_dir: str | os.PathLike, stem: str, rows: list[dict], extra_json: dict | None = None) -> None:
    """Write result rows to ``<stem>.csv`` and ``<stem>.json`` (with ``extra_json`` beside the rows)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    payload = {"runs": rows, **extra_json} if extra_json else rows
    (out_dir / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n")


class MetricsLogger:
    """Appends one row per ``log`` call to ``metrics.csv`` and mirrors scalars to TensorBoard.

    On resume, pass ``resume_step``: rows logged after that step (by a run that died before its
    next checkpoint) are dropped so the CSV stays consistent with the restored state.
    """

    def __init__(self, run_dir: str | os.PathLike, tensorboard: bool = True, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / "metrics.csv"
        self._rows: list[dict] = []
        if resume_step is not None and self.csv_path.exists():
            with open(self.csv_path, newline="") as f:
                self._rows = [r for r in csv.DictReader(f) if float(r["step"]) <= resume_step]
        self._fields: list[str] = list(self._rows[0].keys()) if self._rows else []
        self._rewrite()
        self._writer = None
        if tensorboard:
            try:
                from tensorboardX import SummaryWriter

                self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                self._writer = None

    def _rewrite(self) -> None:
        with open(self.csv_path, "w", newline="") as f:
            if self._fields:
                writer = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
                writer.writeheader()
                writer.writerows(self._rows)

    def log(self, step: int, values: dict) -> None:
        row = {"step": step, **{k: float(v) for k, v in values.items()}}
        self._rows.append(row)
        if not self._fields or any(k not in self._fields for k in row):
            self._fields = list(dict.fromkeys([*self._fields, *row]))
            self._rewrite()
        else:
            with open(self.csv_path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore").writerow(row)
        if self._writer is not None:
            for k, v in row.items():
                if k != "step" and math.isfinite(v):
                    self._writer.add_scalar(k, v, step)

    @property
    def rows(self) -> list[dict]:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in self._rows]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

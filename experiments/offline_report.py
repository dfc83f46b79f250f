"""One table from several offline studies of the same games: every method row of every run directory, with its
share of the game's BC-100 % row.

    python -m experiments.offline_report experiments/results/offline_breakout-minatar_* \\
        experiments/results/offline_spaceinvaders-minatar_* --out experiments/results/offline_minatar.md

Rows are keyed by method name and, for the distilled sets and their starting states, by the run's variant
(``bm-pbc [bm_k500]``); the BC, expert and random rows, which every directory of a game holds alike, once.
Studies whose students act greedily (``--greedy``) and those whose students sample are two tables, each share
taken against the BC-100 % row of its own kind: a greedy student is never measured against a sampling one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import tyro


@dataclasses.dataclass
class Args:
    runs: tyro.conf.Positional[tuple[Path, ...]]
    """Run directories of ``experiments.offline`` (each with ``results.json``)."""
    out: Path | None = None
    """Write the markdown table here (also printed)."""
    split: str = "id"
    """Which split's rows: id (the data's levels) or ood (unseen levels)."""


def variant_of(run: Path, env_id: str) -> str:
    """A run directory's variant: its name without ``offline_<game>_`` and ``_s<seed>`` (the paper's study,
    ``offline_<game>_s0``, is ``gm``)."""
    name = Path(run).name
    prefix = f"offline_{env_id.lower()}"
    stem = name[len(prefix):] if name.startswith(prefix) else name
    stem = stem.rsplit("_s", 1)[0] if "_s" in stem else stem
    return stem.strip("_") or "gm"


SHARED = ("bc", "expert", "random")
"""Rows every run directory of a game holds alike (copied BC rows; the expert and random recomputed)."""


ACTING = ("sampled", "greedy")
"""How a study's students (and its expert) choose actions: ``config.greedy`` of its ``results.json``."""


def acting_of(result: dict) -> str:
    return "greedy" if result.get("config", {}).get("greedy") else "sampled"


def collect(runs: tuple[Path, ...], split: str, acting: str = "sampled") -> tuple[list[str], dict[str, dict[str, dict]]]:
    """``(games, {row label: {game: row}})`` of the studies whose students act by ``acting``, in first-seen order:
    shared rows by method, the others by method and the run's variant."""
    games: list[str] = []
    table: dict[str, dict[str, dict]] = {}
    for run in runs:
        path = Path(run) / "results.json"
        if not path.is_file():
            continue
        result = json.loads(path.read_text())
        if acting_of(result) != acting:
            continue
        game = result["env_id"]
        if game not in games:
            games.append(game)
        for row in result["methods"]:
            if row["split"] != split:
                continue
            label = row["method"]
            if not label.startswith(SHARED):
                label = f"{label} [{variant_of(run, game)}]"
            table.setdefault(label, {}).setdefault(game, {**row, "run": Path(run).name})
    return games, table


def format_table(games: list[str], table: dict[str, dict[str, dict]]) -> str:
    lines = ["| method | " + " | ".join(f"{g}: mean ± std (share of BC-100 %)" for g in games) + " |",
             "|---" * (len(games) + 1) + "|"]
    for label, cells in table.items():
        out = []
        for g in games:
            row, bc = cells.get(g), table.get("bc100", {}).get(g)
            if row is None:
                out.append("-")
                continue
            share = f" ({100 * row['mean'] / bc['mean']:.0f} %)" if bc and bc["mean"] > 0 else ""
            out.append(f"{row['mean']:.2f} ± {row['std']:.2f}{share}")
        lines.append(f"| {label} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(args: Args) -> str:
    sections = []
    for acting in ACTING:
        games, table = collect(args.runs, args.split, acting)
        if games:
            sections.append(f"Students {'acting greedily (argmax)' if acting == 'greedy' else 'sampling their actions'}"
                            f":\n\n{format_table(games, table)}")
    if not sections:
        raise SystemExit(f"experiments.offline_report: error: no results.json in {', '.join(map(str, args.runs))}")
    text = "\n\n".join(sections)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)
    return text


if __name__ == "__main__":
    from experiments.common import run_cli

    run_cli("experiments.offline_report", main, lambda argv: tyro.cli(Args, args=argv))

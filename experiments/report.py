"""The results tables of ``docs/`` generated from the committed ``results.json`` files, so that a number on a
page cannot drift from the run that measured it.

    python -m experiments.report            # rewrite every generated table in docs/*.md
    python -m experiments.report --check    # exit 1 naming each page whose tables are stale (tests run this)

A page marks a generated table with ``<!-- report:NAME -->`` ... ``<!-- /report:NAME -->``; everything between the
markers is replaced by ``TABLES[NAME]`` rendered from the results. The prose around the markers is the page's
own. Each row names its run directory under ``experiments/results``; the anchors that are not in a results file
(published numbers) sit in the row's spec beside the run, with their source.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Callable

import tyro

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
DOCS = ROOT / "docs"


class ReportError(ValueError):
    """A results file that cannot fill its row: names the file and what is missing."""


def load(run: str, results: Path = RESULTS) -> tuple[Path, dict]:
    path = results / run / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such results file")
    try:
        return path, json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not JSON ({e})") from None


def need(result: dict, key: str, path: Path):
    """``result[key]`` (dotted keys go down), or a :class:`ReportError` naming the file and the key."""
    value = result
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ReportError(f"{path}: missing key {key!r}")
        value = value[part]
    return value


def kshot(result: dict, path: Path, policy: str, learners: str | None = None) -> dict:
    """The k-shot row of ``policy`` (greedy or sampled) whose learners start with ``learners`` (default: the
    first row that is not the random policy's)."""
    for row in need(result, "kshot", path):
        for key in ("learners", "policy", "mean", "std", "n"):
            need(row, key, path)
        random = row["learners"].startswith("uniformly random")
        wanted = row["learners"].startswith(learners) if learners else not random
        if wanted and row["policy"] == policy:
            return row
    raise ReportError(f"{path}: missing key 'kshot' row with policy {policy!r}"
                      + (f" and learners {learners!r}" if learners else ""))


def mean_std(row: dict, digits: int = 1) -> str:
    return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"


def millions(steps: int) -> str:
    return f"{steps / 1e6:.2f} M"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


# --- the tables ----------------------------------------------------------------------------------------------

CARTPOLE = [  # (run, the paper's Table 1 Λ entry at the same k)
    ("cartpole1d_k2_ppmo_s0", "500 ± 0"), ("cartpole2d_k3_ppmo_s0", "364 ± 151"),
    ("cartpole3d_k4_ppmo_s0", "261 ± 118"), ("cartpole4d_k5_ppmo_s0", "128 ± 40.8"),
    ("cartpole5d_k6_ppmo_s0", "88.4 ± 29.5"),
]


def cartpole(results: Path) -> str:
    rows = []
    for run, paper in CARTPOLE:
        path, r = load(run, results)
        greedy = kshot(r, path, "greedy")
        rows.append([need(r, "env_id", path), str(need(r, "k", path)), f"**{mean_std(greedy)}** (n = {greedy['n']})",
                     paper, f"{need(r, 'meta_epochs', path)} meta-epochs, {millions(need(r, 'env_steps', path))} "
                     f"env steps, {need(r, 'wall_time_s', path):.0f} s", f"`{run}`"])
    return table(["task", "k", "k-shot return, fresh Λ learners (greedy)", "paper, Table 1 (Λ)", "training",
                  "run"], rows)


def table1(results: Path) -> str:
    """Table 1's k_min rows from ``experiments.kshot_table``'s cells (each carries the paper's mean beside it)."""
    path = results / "kshot_table" / "table1.json"
    if not path.is_file():
        raise ReportError(f"{path}: no such results file")
    cells = json.loads(path.read_text())
    labels: list[str] = []
    rows: dict[tuple[int, int], dict[str, str]] = {}
    for cell in cells:
        for key in ("n_dims", "k", "label", "mean", "paper_mean"):
            need(cell, key, path)
        if cell["label"] not in labels:
            labels.append(cell["label"])
        rows.setdefault((cell["n_dims"], cell["k"]), {})[cell["label"]] = (
            f"**{cell['mean']:.1f}** ({cell['paper_mean']:g})")
    return table(["experiment"] + labels, [[f"{n}D {k}-shot"] + [row.get(label, "-") for label in labels]
                                           for (n, k), row in sorted(rows.items())])


MINATAR = ["breakout", "spaceinvaders", "asterix", "freeway"]
GAME_NAMES = {"breakout": "Breakout-MinAtar", "spaceinvaders": "SpaceInvaders-MinAtar", "asterix": "Asterix-MinAtar",
              "freeway": "Freeway-MinAtar"}


def minatar_l4(results: Path) -> str:
    rows = []
    for game in MINATAR:
        path, r = load(f"minatar_{game}_k16_l4_ppmo_s0", results)
        ppo_path, ppo = load(f"minatar_{game}_ppo_s0", results)
        rows.append([GAME_NAMES[game], f"**{mean_std(kshot(r, path, 'sampled'))}**",
                     mean_std(kshot(ppo, ppo_path, "sampled")),
                     f"{kshot(ppo, ppo_path, 'sampled', 'uniformly random')['mean']:.1f}",
                     millions(need(r, "env_steps", path))])
    return table(["game", "PPMO k-shot, l = 4 (sampled)", "PPO actor, same env steps (sampled)", "random policy",
                  "env steps"], rows)


HADES_16 = {"Breakout-MinAtar": 8.8, "SpaceInvaders-MinAtar": 19.2, "Asterix-MinAtar": 3.9}
"""HaDES' published MinAtar returns with 16 pairs, full distillation (SNES, population 2048, 2000 generations,
MLP students trained by 32 Adam steps from scratch)."""

MINATAR_L0 = [  # (run, how it was distilled); every layer of a fresh learner trained on the 16 pairs
    ("minatar_breakout_k16_l0_ppmo_s0", "PPMO, one SGD step"),
    ("es_vs_ppmo/spaceinvaders_sgd1_ppmo", "PPMO, one SGD step"),
    ("es_vs_ppmo/spaceinvaders_sgd1_es", "ES, one SGD step"),
    ("issue25/breakout_ppmo_mlp", "PPMO on HaDES' MLP students (512x2 ReLU), one SGD step (15 min)"),
    ("issue25/asterix_ppmo_mlp", "PPMO on HaDES' MLP students (512x2 ReLU), one SGD step (15 min)"),
    ("issue25/breakout_es_snes_mlp_long", "HaDES' protocol (SNES, MLP 512x2, 32 Adam steps, one-hot labels), "
                                          "population 128, 740 generations (3.5 h, three sittings)"),
    ("issue25/spaceinvaders_es_snes_mlp_long",
     "HaDES' protocol, the same settings, 740 generations (4.5 h, three sittings)"),
]


def minatar_l0(results: Path) -> str:
    rows = []
    for run, how in MINATAR_L0:
        path, r = load(run, results)
        env_id = need(r, "env_id", path)
        rows.append([env_id, how, mean_std(kshot(r, path, "sampled"), 2), mean_std(kshot(r, path, "greedy"), 2),
                     millions(int(need(r, "env_steps", path))), str(HADES_16.get(env_id, "-"))])
    return table(["game", "ours, l = 0", "sampled", "greedy", "env steps", "HaDES, 16 pairs, full distillation"],
                 rows)


MINATAR_LEVERS = [  # (run, l, the lever); issue 25's 20-minute probes on Breakout, commands in docs/results.md
    ("minatar_breakout_k16_l0_ppmo_s0", "0", "none: PPMO, one SGD step, Gaussian X (the baseline, 10 min)"),
    ("issue25/breakout_l0_realx", "0", "(c) X from 16 of a random policy's states, labels learned"),
    ("issue25/breakout_l3_from_l4", "3", "(a) rollback: l = 3 from the l = 4 run's set and first 3 encoder layers"),
    ("issue25/breakout_l2_from_l3", "2", "(a) rollback: l = 2 from the l = 3 stage (15 min)"),
    ("issue25/breakout_l1_from_l2", "1", "(a) rollback: l = 1 from the l = 2 stage (15 min)"),
    ("issue25/breakout_l0_sgd5", "0", "(b) 5 inner SGD steps, a learned rate each (15 min)"),
    ("issue25/breakout_es_snes_mlp", "0", "(d) HaDES' protocol: SNES, MLP 512x2, constant statistics, 32 Adam steps on "
                                          "fixed one-hot labels; population 128, episodes cut at 200 steps (10 min)"),
    ("issue25/breakout_ppmo_mlp", "0", "PPMO on HaDES' MLP students (512x2 ReLU), running statistics, one SGD step "
                                       "(15 min)"),
    ("issue25/breakout_es_snes_mlp_long", "0", "(d) at length: the same SNES run on one core, 1 h in one sitting "
                                               "and resumed for 2.1 h and 0.35 h in the next two (740 generations)"),
]


def minatar_levers(results: Path) -> str:
    rows = []
    for run, layers, lever in MINATAR_LEVERS:
        path, r = load(run, results)
        iterations = r.get("meta_epochs", r.get("generations"))
        if iterations is None:
            raise ReportError(f"{path}: missing key 'meta_epochs' (or 'generations')")
        unit = "meta-epochs" if "meta_epochs" in r else "generations"
        rows.append([lever, layers, mean_std(kshot(r, path, "sampled"), 2), mean_std(kshot(r, path, "greedy"), 2),
                     f"{millions(int(need(r, 'env_steps', path)))}, {iterations} {unit}",
                     f"{need(r, 'wall_time_s', path) / 60:.0f} min", f"`{run}`"])
    return table(["lever", "l", "sampled (1000 learners)", "greedy", "env steps", "wall", "run"], rows)


GYMNAX = ["gymnax_acrobot_k3_ppmo_s0", "gymnax_acrobot_ppo_s0", "gymnax_pendulum_ppo_s0"]


def gymnax(results: Path) -> str:
    rows = []
    for run in GYMNAX:
        path, r = load(run, results)
        method = need(r, "method", path)
        who = f"PPMO, k = {need(r, 'k', path)}, fresh Λ learners" if method == "ppmo" else "PPO, its actor"
        rows.append([need(r, "env_id", path), who, f"**{mean_std(kshot(r, path, 'greedy'))}**",
                     f"{millions(need(r, 'env_steps', path))}, {need(r, 'wall_time_s', path):.1f} s", f"`{run}`"])
    return table(["env", "method", "greedy return", "env steps, wall time", "run"], rows)


BRAX = [  # (run, label)
    ("mujoco_hopper_anneal2700_k64_ppmo_s0", "hopper (positional), --anneal-lr, 2700 meta-epochs"),
    ("mujoco_hopper_anneal_k64_ppmo_s0", "hopper (positional), --anneal-lr, 1800 meta-epochs"),
    ("mujoco_hopper_k64_ppmo_s0", "hopper (positional)"),
    ("mujoco_hopper_generalized_k64_ppmo_s0", "hopper (generalized)"),
    ("mujoco_inverted_double_pendulum_k64_ppmo_s0", "inverted_double_pendulum (positional)"),
]


def brax(results: Path) -> str:
    rows = []
    for run, label in BRAX:
        path, r = load(run, results)
        anchor = need(r, "reference.hades_64", path)
        greedy, sampled = kshot(r, path, "greedy"), kshot(r, path, "sampled")
        rows.append([label, f"{mean_std(greedy)} / {mean_std(sampled)} (n = {greedy['n']})",
                     f"{anchor} ({need(r, 'reference.source', path)})", millions(need(r, "env_steps", path)),
                     f"`{run}`"])
    return table(["robot (backend)", "k = 64 distilled, greedy / sampled (fresh Λ learners)",
                  "anchor, same setting", "env steps", "run"], rows)


def table3(results: Path) -> str:
    """The paper's Table 3, one row per MuJoCo-v4 task: our k = 64 run (``experiments.table3.PPMO_RUNS``)
    beside the paper's two columns and our PPO, where one was run, each with its steps and wall time."""
    from experiments.table3 import PPMO_RUNS, ppo_run

    rows = []
    for task in sorted(PPMO_RUNS):
        run = PPMO_RUNS[task]
        path, r = load(run, results)
        paper_rl = need(r, "reference.ppo", path)
        bar = need(r, "reference.full_distillation", path)
        greedy, sampled = kshot(r, path, "greedy"), kshot(r, path, "sampled")
        verdict = ("above both" if greedy["mean"] >= paper_rl else "above the bar" if greedy["mean"] >= bar
                   else "**below the bar**")
        ppo = "not run"
        if (results / ppo_run(task) / "results.json").is_file():
            ppo_path, p = load(ppo_run(task), results)
            ppo = (f"{mean_std(kshot(p, ppo_path, 'greedy'))} ({millions(need(p, 'env_steps', ppo_path))}, "
                   f"{need(p, 'wall_time_s', ppo_path) / 60:.0f} min)")
        rows.append([task, f"{mean_std(greedy)} / {mean_std(sampled)} (n = {greedy['n']})",
                     f"{millions(need(r, 'env_steps', path))}, {need(r, 'wall_time_s', path) / 60:.0f} min",
                     str(bar), str(paper_rl), verdict, ppo, f"`{run}`"])
    return table(["task", "ours: k = 64, greedy / sampled (fresh Λ learners)", "env steps, wall",
                  "paper: full distillation (the bar)", "paper: RL", "ours against the paper",
                  "our PPO, greedy (env steps, wall)", "run"], rows)


OFFLINE_RUNS = [f"offline_{game}-minatar_{variant}_s0" for variant in ("bmg_T100d", "bmg_T50d", "bmg_T100", "bmg", "gmg")
                for game in ("breakout", "spaceinvaders") if (game, variant) != ("spaceinvaders", "bmg_T50d")]


def offline(results: Path) -> str:
    """The greedy MinAtar table of ``experiments.offline_report`` (every row beside its game's BC-100 %)."""
    from experiments import offline_report

    runs = []
    for run in OFFLINE_RUNS:
        path, r = load(run, results)
        for key in ("env_id", "methods", "config"):
            need(r, key, path)
        runs.append(results / run)
    games, rows = offline_report.collect(tuple(runs), "id", acting="greedy")
    return offline_report.format_table(games, rows)


TABLES: dict[str, Callable[[Path], str]] = {"cartpole": cartpole, "table1": table1, "minatar_l4": minatar_l4,
                                              "minatar_l0": minatar_l0, "minatar_levers": minatar_levers,
                                              "gymnax": gymnax, "table3": table3, "brax": brax,
                                              "offline": offline}
"""Every generated table by the name its page's markers use."""

MARKER = re.compile(r"(<!-- report:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /report:(?P=name) -->)", re.S)


def render(text: str, results: Path = RESULTS, page: str = "?") -> str:
    """``text`` with every marked table regenerated."""
    def fill(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise ReportError(f"{page}: unknown table {name!r} (known: {', '.join(TABLES)})")
        return f"{m.group(1)}{TABLES[name](results)}\n{m.group(4)}"

    return MARKER.sub(fill, text)


@dataclasses.dataclass
class Args:
    check: bool = False
    """Write nothing; exit 1 naming each page whose generated tables differ from the results."""
    docs: Path = DOCS
    """The pages to fill (every ``*.md`` under it)."""
    results: Path = RESULTS
    """The committed run directories."""


def main(args: Args) -> list[Path]:
    """The pages that were (or, with ``check``, would be) rewritten."""
    stale = []
    for page in sorted(args.docs.glob("*.md")):
        text = page.read_text()
        new = render(text, args.results, str(page))
        if new != text:
            stale.append(page)
            if not args.check:
                page.write_text(new)
    return stale


if __name__ == "__main__":
    args = tyro.cli(Args)
    try:
        pages = main(args)
    except ReportError as e:
        raise SystemExit(f"experiments.report: error: {e}") from None
    for page in pages:
        print(f"{'stale' if args.check else 'rewrote'}: {page}")
    if args.check and pages:
        raise SystemExit("experiments.report: the pages above are stale: run python -m experiments.report")

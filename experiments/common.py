"""Small pieces the experiment scripts share: k-shot result rows and their Markdown table."""

from __future__ import annotations


def summarize(returns, learners: str, policy: str) -> dict:
    """One row of a k-shot table from per-learner (or per-episode) returns."""
    import numpy as np

    r = np.asarray(returns)
    return {"learners": learners, "policy": policy, "n": int(r.size), "mean": float(r.mean()),
            "std": float(r.std()), "min": float(r.min()), "max": float(r.max())}


def format_table(rows: list[dict]) -> str:
    lines = ["| learners | policy | episodes | mean ± std | min | max |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['learners']} | {r['policy']} | {r['n']} | {r['mean']:.1f} ± {r['std']:.1f} "
            f"| {r['min']:.0f} | {r['max']:.0f} |"
        )
    return "\n".join(lines)


def check_positive(args, names: tuple[str, ...], errors: list[str], minimum: float = 1) -> None:
    """Append an error for every ``args.<name>`` below ``minimum``."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < minimum:
            errors.append(f"--{name.replace('_', '-')} must be >= {minimum} (got {value})")

"""Learning curves and pictures of distilled datasets (after the paper's Figure 4)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_learning_curve(rows: list[dict], path: str | os.PathLike, x_key: str = "env_steps", title: str = "",
                        kshot_label: str = "k-shot return (greedy)") -> None:
    """k-shot return (mean ± std) and rollout return against ``x_key``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs = np.array([r.get(x_key, np.nan) for r in rows])
    for key, label in (("kshot_mean", kshot_label), ("rollout_return", "rollout return (sampled)")):
        ys = np.array([r.get(key, np.nan) for r in rows])
        if np.all(np.isnan(ys)):
            continue
        ax.plot(xs, ys, label=label, marker="o" if len(xs) == 1 else None)
        std = np.array([r.get(key.replace("mean", "std"), np.nan) for r in rows]) if key.endswith("mean") else None
        if std is not None and not np.all(np.isnan(std)):
            ax.fill_between(xs, ys - std, ys + std, alpha=0.2)
    ax.set_xlabel(x_key.replace("_", " "))
    ax.set_ylabel("episodic return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # an empty run has nothing to label
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_dataset(
    x: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    feature_names: list[str] | None = None,
    action_names: list[str] | None = None,
    title: str = "",
) -> None:
    """Each synthetic instance (row) with its features and its softmaxed soft label."""
    x = np.asarray(x).reshape(x.shape[0], -1)
    y = np.asarray(y)
    probs = np.exp(y - y.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    k = x.shape[0]
    fig, (ax_x, ax_y) = plt.subplots(
        1, 2, figsize=(3 + 0.5 * (x.shape[1] + y.shape[1]), 1.2 + 0.45 * k),
        gridspec_kw={"width_ratios": [max(x.shape[1], 2), max(y.shape[1], 2)]},
    )
    lim = np.abs(x).max() or 1.0
    im = ax_x.imshow(x, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
    fig.colorbar(im, ax=ax_x, fraction=0.05)
    ax_x.set_title("instances X")
    im = ax_y.imshow(probs, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(im, ax=ax_y, fraction=0.05)
    ax_y.set_title("softmax(Y)")
    for ax, names, n in ((ax_x, feature_names, x.shape[1]), (ax_y, action_names, y.shape[1])):
        ax.set_yticks(range(k), [f"#{i}" for i in range(k)])
        if names and n <= 40:
            ax.set_xticks(range(n), names, rotation=90 if n > 8 else 0)
    if k * y.shape[1] <= 64:
        for i in range(k):
            for j in range(y.shape[1]):
                ax_y.text(j, i, f"{probs[i, j]:.2f}", ha="center", va="center", color="w", fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_image_dataset(
    x: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike,
    action_names: list[str] | None = None,
    channels_first: bool = False,
    title: str = "",
    max_channels: int = 4,
) -> None:
    """Each synthetic image (a row: its first ``max_channels`` channels) beside its softmaxed label."""
    x = np.asarray(x)
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    y = np.asarray(y)
    probs = np.exp(y - y.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    k, channels = x.shape[0], min(x.shape[-1], max_channels)
    fig, axes = plt.subplots(k, channels + 1, figsize=(1.6 * (channels + 1) + 1.5, 1.5 * k + 0.6), squeeze=False)
    names = action_names or [str(a) for a in range(y.shape[1])]
    for i in range(k):
        for c in range(channels):
            ax = axes[i, c]
            ax.imshow(x[i, ..., c], cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"channel {c}", fontsize=8)
        ax = axes[i, channels]
        ax.barh(range(y.shape[1]), probs[i], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_yticks(range(y.shape[1]), names, fontsize=6)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=6)
        axes[i, 0].set_ylabel(f"#{i}", rotation=0, labelpad=12)
        if i == 0:
            ax.set_title("softmax(Y)", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title above the headings
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_continuous_dataset(x, y, log_std, path: str | os.PathLike, action_names=None, title: str = "") -> None:
    """A continuous-action dataset: the mean targets Y per action dimension over the k instances (with
    the learned exp(log_std) as a band), and X projected on its two principal axes, coloured by the
    first action dimension's target."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y, std = np.asarray(y, np.float64), np.exp(np.asarray(log_std, np.float64))
    k, dims = y.shape
    names = list(action_names) if action_names else [f"a{i}" for i in range(dims)]
    fig, (ax_y, ax_x) = plt.subplots(1, 2, figsize=(12, 4.5))
    order = np.arange(k)
    for i in range(dims):
        line, = ax_y.plot(order, y[:, i], marker=".", lw=0.8, label=f"{names[i]} (std {std[i]:.2f})")
        ax_y.fill_between(order, y[:, i] - std[i], y[:, i] + std[i], color=line.get_color(), alpha=0.12)
    ax_y.axhline(-1, color="grey", lw=0.5, ls=":")
    ax_y.axhline(1, color="grey", lw=0.5, ls=":")
    ax_y.set_xlabel("instance")
    ax_y.set_ylabel("mean target Y (band: ± exp(log_std))")
    ax_y.legend(fontsize=7, ncol=2)
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:2].T if vt.shape[0] >= 2 else np.c_[centred @ vt[:1].T, np.zeros(k)]
    explained = s**2 / max((s**2).sum(), 1e-12)
    sc = ax_x.scatter(proj[:, 0], proj[:, 1], c=y[:, 0], cmap="coolwarm", s=25)
    fig.colorbar(sc, ax=ax_x, label=f"Y[{names[0]}]")
    ax_x.set_xlabel(f"PC1 of X ({explained[0]:.0%})")
    ax_x.set_ylabel(f"PC2 of X ({explained[1]:.0%})" if len(explained) > 1 else "PC2")
    ax_x.set_title("instances X on their principal axes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

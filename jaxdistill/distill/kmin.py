"""The minimum distillation size of the paper's Equation 3."""

import math


def k_min(num_actions: int) -> int:
    """``ceil(c / 2) + 1`` synthetic instances distinguish ``c`` actions with soft labels."""
    if num_actions < 1:
        raise ValueError(f"num_actions must be >= 1, got {num_actions}")
    return math.ceil(num_actions / 2) + 1

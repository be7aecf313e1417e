"""Per-block metrics as series over env steps, shared by the CSV export and the TensorBoard writer.

The loop records two kinds of metric per evaluation block: one value per block (`eval_return`,
`healthy`: `[..., K]`) and one value per update inside the block (the algorithm's training metrics:
`[..., K, U]` with `U = eval_every`). Block `b` ends at env step `(b + 1) * steps_per_block`; update `u`
of block `b` ends at `b * steps_per_block + (u + 1) * steps_per_block / U`. Metrics of any other shape
have no single env step per value and are left out.
"""

from __future__ import annotations

import numpy as np


def block_series(
    values: np.ndarray, num_leading: int, first_block: int, steps_per_block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Flatten one metric's blocks (and updates) into a series.

    Args:
        values: `[*lead, K]` or `[*lead, K, U]`, with `num_leading` leading axes (e.g. `[H, S]`).
        num_leading: how many leading (setting, seed) axes `values` has.
        first_block: index of the first of the `K` blocks.
        steps_per_block: env steps per seed in one block.

    Returns:
        `(blocks [N], env_steps [N], values [*lead, N])` with `N = K` or `K * U`, or None for a metric of
        another shape.
    """
    values = np.asarray(values)
    trailing = values.ndim - num_leading
    if trailing < 1 or trailing > 2:
        return None
    num_blocks = values.shape[num_leading]
    blocks = first_block + np.arange(num_blocks)
    if trailing == 1:
        return blocks, (blocks + 1) * steps_per_block, values
    num_updates = values.shape[-1]
    if num_updates < 1 or steps_per_block % num_updates:
        return None
    update_steps = (np.arange(num_updates) + 1) * (steps_per_block // num_updates)
    steps = (blocks[:, None] * steps_per_block + update_steps[None, :]).reshape(-1)
    flat = values.reshape((*values.shape[:num_leading], num_blocks * num_updates))
    return np.repeat(blocks, num_updates), steps, flat

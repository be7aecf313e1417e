"""bsuite's DeepSea scoring (Osband et al., 2020, "Behaviour Suite for Reinforcement Learning"),
re-implemented on arrays: bsuite's own analysis code does not run on current pandas (DESIGN.md).

bsuite logs, per episode, the running count of *bad* episodes (the agent left the optimal path). For one
run of size `N`:

- the **solve episode** is the first episode `e` (1-based) at which the running fraction of bad
  episodes `bad(e) / e` is below `threshold = 0.8` (bsuite's `find_solution`), looking only at the
  first `num_episodes = 10_000` episodes (bsuite's budget); a run that never gets there is unsolved;
- the run **beats dithering** if it is solved at an episode `< 2^N + forgiveness` (`forgiveness = 100`);
  undirected exploration needs about `2^N` episodes to find the reward once;
- the **score** of an agent is the fraction of its runs (one per size in bsuite's sweep, which has
  sizes 5-10, 12, 14, 17, 20, 25, 30, ..., 50) that beat dithering.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BSUITE_SIZES = (5, 6, 7, 8, 9, 10, 12, 14, 17, 20, 25, 30, 35, 40, 45, 50)
NUM_EPISODES = 10_000
THRESHOLD = 0.8
FORGIVENESS = 100.0


class Solution(NamedTuple):
    """Where runs were solved (arrays broadcast over leading run axes).

    Attributes:
        solved: bool, the running bad fraction dropped below the threshold within the budget.
        episode: int, the solve episode (1-based) if solved, else the number of episodes looked at.
    """

    solved: np.ndarray
    episode: np.ndarray


def find_solution(
    bad_episodes: np.ndarray, threshold: float = THRESHOLD, num_episodes: int = NUM_EPISODES
) -> Solution:
    """The first episode at which the running fraction of bad episodes is below `threshold`.

    Args:
        bad_episodes: `[..., E]` bool or 0/1, episode `e` (0-based) was bad.
        threshold: bsuite's 0.8.
        num_episodes: only the first `num_episodes` episodes count (bsuite's 10,000).

    Returns:
        `Solution` with shapes `[...]`.
    """
    bad = np.asarray(bad_episodes, np.float64)[..., :num_episodes]
    episodes = np.arange(1, bad.shape[-1] + 1)
    below = np.cumsum(bad, axis=-1) / episodes < threshold
    solved = below.any(axis=-1)
    first = np.argmax(below, axis=-1) + 1
    return Solution(solved, np.where(solved, first, bad.shape[-1]))


def beats_dithering(solution: Solution, sizes: np.ndarray, forgiveness: float = FORGIVENESS) -> np.ndarray:
    """bsuite's per-run success: solved before episode `2^N + forgiveness`.

    Args:
        solution: from `find_solution`, shapes `[...]`.
        sizes: the runs' sizes `N`, broadcastable to them.
    """
    return solution.solved & (solution.episode < 2.0 ** np.asarray(sizes, np.float64) + forgiveness)


def deep_sea_score(bad_episodes_by_size: dict[int, np.ndarray], **kwargs) -> np.ndarray:
    """bsuite's DeepSea score per seed: the fraction of sizes whose run beats dithering.

    Args:
        bad_episodes_by_size: `{N: [S, E_N]}` bad-episode flags of `S` seeds at each size (each seed's
            runs at the sizes make up one bsuite sweep).
        **kwargs: `threshold`, `num_episodes` for `find_solution`.

    Returns:
        `[S]` scores in `[0, 1]`.
    """
    wins = [beats_dithering(find_solution(bad, **kwargs), size) for size, bad in bad_episodes_by_size.items()]
    return np.mean(np.stack(wins, axis=0), axis=0)


def episode_flags(episodes: np.ndarray, events: np.ndarray, flagged_first: bool) -> np.ndarray:
    """Per-episode 0/1 flags from per-update counts (for runs whose updates end several episodes).

    A run logs per update how many episodes ended (`episodes`) and how many of them had an event
    (`events`, e.g. DeepSea's `event_bad_episode`). Within one update the order is unknown, so choose the
    conservative one: bad episodes first (`flagged_first=True`: the running bad fraction is then highest,
    so `find_solution` can only report a later solve episode), rewarded episodes last
    (`flagged_first=False`: the first reward can only come later). Runs that end at most one episode per
    update are unaffected.

    Args:
        episodes: `[..., U]` episodes ended per update.
        events: `[..., U]` of them flagged.
        flagged_first: put an update's flagged episodes before its others.

    Returns:
        `[..., E]` float flags, `E` = the largest total of episodes over the leading axes; runs with
        fewer episodes are padded with NaN.
    """
    episodes = np.rint(np.asarray(episodes)).astype(np.int64)
    events = np.rint(np.asarray(events)).astype(np.int64)
    lead = episodes.shape[:-1]
    flat_e, flat_f = episodes.reshape(-1, episodes.shape[-1]), events.reshape(-1, events.shape[-1])
    total = int(flat_e.sum(axis=-1).max(initial=0))
    out = np.full((flat_e.shape[0], total), np.nan)
    pattern = np.tile([1.0, 0.0] if flagged_first else [0.0, 1.0], flat_e.shape[-1])
    for row, (counts, flagged) in enumerate(zip(flat_e, flat_f, strict=True)):
        pairs = [flagged, counts - flagged] if flagged_first else [counts - flagged, flagged]
        seq = np.repeat(pattern, np.stack(pairs, axis=-1).ravel())
        out[row, : seq.size] = seq
    return out.reshape((*lead, total))

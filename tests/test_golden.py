"""Every algorithm reproduces its recorded tiny runs bit for bit (see `tests/golden_runs.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from tests import golden_runs


@pytest.mark.parametrize("case", golden_runs.case_names())
def test_matches_recorded_run(case):
    recorded = dict(np.load(golden_runs.GOLDEN_DIR / f"{case}.npz"))
    now = golden_runs.run_case(case)
    assert set(recorded) <= set(now), f"missing: {sorted(set(recorded) - set(now))}"
    for name, value in recorded.items():
        np.testing.assert_array_equal(now[name], value, err_msg=f"{case}: {name}")

"""Test-session setup.

Tests check correctness, not speed, and compiling training programs dominates their time on a 2-core
machine. XLA's cheapest CPU pipeline (no backend optimisation, no fusion emitters) cut the CPU time of
tests/test_ppo.py from 110 s to 33 s here. The flags must be set before JAX creates its CPU client, which
is why this happens at import time of the conftest, before any test module imports jax.
"""

import os

_FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE_FLAGS}".strip()

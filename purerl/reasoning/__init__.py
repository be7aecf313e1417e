"""Sequence tasks with verifiable rewards: word problems, a tiny transformer, SFT, GRPO and a reward model."""

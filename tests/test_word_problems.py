"""Word problems: exact texts, the teacher's slips, the verifier, splits, shapes, jit and vmap."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purerl.reasoning import word_problems as wp

SPEC = wp.WordProblemSpec()
LENGTH = SPEC.completion_length
NO_SLIPS = wp.TeacherSlips.none()


def _one(start, steps, spec=SPEC, name=0, noun=0, verbs=None):
    """A single hand-made problem from `steps = [(sign, amount), ...]`."""
    signs = [[s for s, _ in steps]]
    amounts = [[a for _, a in steps]]
    verbs = [verbs or [0] * len(steps)]
    return wp.make_problems(spec, [start], signs, amounts, [name], [noun], verbs)


def _text(tokens):
    return wp.decode(tokens[0])


def _tokens(text, length=LENGTH):
    ids = wp.encode(text)
    return jnp.asarray(np.pad(ids, (0, length - len(ids)), constant_values=wp.PAD_ID))[None]


def test_vocabulary_and_lengths():
    assert wp.VOCAB_SIZE == len(wp.VOCAB) == len(set(wp.VOCAB)) == 42
    assert (wp.PAD_ID, wp.EOS_ID) == (0, 1)
    assert (SPEC.prompt_length, SPEC.completion_length) == (31, 45)
    ood = SPEC.ood()
    assert (ood.min_steps, ood.max_steps) == (4, 4)
    assert (ood.prompt_length, ood.completion_length) == (SPEC.prompt_length, SPEC.completion_length)


def test_hand_checked_prompt_and_correct_chain():
    problem = _one(47, [(1, 8), (-1, 5)])
    assert (
        _text(problem.prompt)
        == "ann has 47 apples . she gets 8 more . she gives 5 away . how many apples now ?"
    )
    assert problem.prompt.shape == (1, SPEC.prompt_length) and int(problem.prompt[0, 0]) == wp.PAD_ID
    assert _text(wp.correct_completions(problem, LENGTH)) == "47 + 8 = 55 . 55 - 5 = 50 . answer 50 <eos>"
    assert int(problem.answer[0]) == 50 and int(problem.num_steps[0]) == 2
    other = _one(50, [(-1, 5), (1, 12)], wp.WordProblemSpec(operand_digits=2), name=4, noun=3, verbs=[2, 1])
    assert _text(other.prompt) == "dan has 50 books . he sells 5 . he finds 12 more . how many books now ?"


@pytest.mark.parametrize(
    "start, steps, slips, spec, expected",
    [
        # 7 + 8 = 15 >= 15: the carry is dropped.
        (47, [(1, 8)], {}, SPEC, "47 + 8 = 45 . answer 45 <eos>"),
        (47, [(1, 8)], {"carry_slip_from": 16}, SPEC, "47 + 8 = 55 . answer 55 <eos>"),
        # Units 6 + 9 = 15 drop their carry, tens 5 + 6 = 11 < 15 keep theirs: 115, not 125.
        (56, [(1, 69)], {}, wp.WordProblemSpec(operand_digits=2), "56 + 69 = 115 . answer 115 <eos>"),
        # 3 - 8 needs a borrow and 8 - 3 = 5 >= 5: the borrow is forgotten, 13 - 8 = 5 under a 4.
        (43, [(-1, 8)], {}, SPEC, "43 - 8 = 45 . answer 45 <eos>"),
        (43, [(-1, 7)], {}, SPEC, "43 - 7 = 36 . answer 36 <eos>"),  # 7 - 3 = 4 < 5: no slip
        # Three steps: amounts below 3 are overlooked, the total carries on without them.
        (20, [(1, 2), (1, 5), (-1, 1)], {}, SPEC, "20 + 5 = 25 . answer 25 <eos>"),
        (20, [(1, 2), (1, 5)], {}, SPEC, "20 + 2 = 22 . 22 + 5 = 27 . answer 27 <eos>"),  # two steps
        # The slip propagates: the second step starts from the teacher's wrong 45.
        (47, [(1, 8), (-1, 5)], {}, SPEC, "47 + 8 = 45 . 45 - 5 = 40 . answer 40 <eos>"),
        # 0 - 9 forgets its borrow: 11, not 1.
        (10, [(1, 2), (-1, 9), (-1, 3)], {}, SPEC, "10 - 9 = 11 . 11 - 3 = 8 . answer 8 <eos>"),
        # Without the overlooked 2 the teacher's 6 is below 7 (true total 8): it writes 0.
        (15, [(1, 2), (-1, 9), (-1, 7)], {}, SPEC, "15 - 9 = 6 . 6 - 7 = 0 . answer 0 <eos>"),
    ],
)
def test_teacher_slips_hand_checked(start, steps, slips, spec, expected):
    problem = _one(start, steps, spec)
    completions = wp.teacher_completions(jax.random.key(0), problem, wp.TeacherSlips(**slips), LENGTH)
    assert _text(completions) == expected


def test_teacher_trace_flags():
    problem = _one(47, [(1, 8), (-1, 8), (1, 1)])
    trace = wp.teacher_trace(jax.random.key(0), problem, wp.TeacherSlips())
    # 47 + 8 = 45 (dropped carry), 45 - 8 = 37 (8 - 5 = 3 < 5: no slip), the 1 is overlooked.
    assert trace.result[0, :2].tolist() == [45, 37] and int(trace.answer[0]) == 37
    assert trace.carry_slip[0].tolist() == [True, False, False, False]
    assert trace.borrow_slip[0].tolist() == [False] * 4
    assert trace.skipped[0].tolist() == [False, False, True, False]
    assert trace.written[0].tolist() == [True, True, False, False]


def test_verify_hand_written():
    problem = _one(47, [(1, 8), (-1, 5)])  # answer 50
    cases = {
        "47 + 8 = 55 . 55 - 5 = 50 . answer 50 <eos>": 1.0,
        "answer 50 <eos>": 1.0,
        "47 + 8 = 45 . 45 - 5 = 40 . answer 50 <eos>": 1.0,  # only the final answer counts
        "answer 50 <eos> answer 7 answer": 1.0,  # everything after the first EOS is ignored
        "answer 40 <eos>": 0.0,
        "answer 5 <eos>": 0.0,
        "answer 500 <eos>": 0.0,
        "answer 050 <eos>": 0.0,  # leading zero
        "answer 50 . <eos>": 0.0,  # garbage after the digits
        "answer 50 answer 50 <eos>": 0.0,
        "50 <eos>": 0.0,  # no "answer"
        "<eos> answer 50 <eos>": 0.0,  # "answer" only after EOS
        "answer <eos>": 0.0,
        "answer 50": 0.0,  # followed by PAD, not EOS nor the end of the buffer
        "": 0.0,
    }
    completions = jnp.concatenate([_tokens(text) for text in cases])
    problems = jax.tree.map(lambda x: jnp.repeat(x, len(cases), axis=0), problem)
    np.testing.assert_array_equal(
        wp.verify(problems, completions), np.array(list(cases.values()), np.float32)
    )
    # The answer may fill the buffer to its end without an EOS.
    assert float(wp.verify(problem, jnp.asarray(wp.encode("47 answer 50"))[None])[0]) == 1.0


def test_format_bonus_and_parse_answer():
    problem = jax.tree.map(lambda x: jnp.repeat(x, 4, axis=0), _one(47, [(1, 8), (-1, 5)]))
    texts = ["answer 50 <eos>", "answer 49 <eos>", "answer 049 <eos>", "49 <eos>"]
    completions = jnp.concatenate([_tokens(t) for t in texts])
    np.testing.assert_allclose(wp.verify(problem, completions, format_bonus=0.1), [1.0, 0.1, 0.0, 0.0])
    value, well_formed = wp.parse_answer(completions)
    assert value.tolist() == [50, 49, -1, -1] and well_formed.tolist() == [True, True, False, False]
    value, well_formed = wp.parse_answer(_tokens("answer 0 <eos>"))
    assert value.tolist() == [0] and well_formed.tolist() == [True]
    value, well_formed = wp.parse_answer(jnp.asarray(wp.encode("answer 123456789"))[None])  # fills the buffer
    assert value.tolist() == [123456789] and well_formed.tolist() == [True]


def test_samples_shapes_round_trip_and_correct_chains():
    key = jax.random.key(1)
    splits = {split: wp.sample_problems(key, SPEC, 256, split) for split in wp.SPLITS}
    splits["ood"] = wp.sample_problems(key, SPEC.ood(), 256, "test")
    shapes = {name: jax.tree.map(jnp.shape, p) for name, p in splits.items()}
    assert all(s == shapes["train"] for s in shapes.values())
    for name, problems in splits.items():
        assert problems.prompt.shape == (256, SPEC.prompt_length) and problems.signs.shape == (256, 4)
        expected_split = wp.SPLITS.index(name if name in wp.SPLITS else "test")
        assert (np.asarray(wp.problem_split(problems)) == expected_split).all()
        steps = np.asarray(problems.num_steps)
        if name == "ood":
            assert (steps == 4).all()
        else:
            assert steps.min() == 1 and steps.max() == 3
        # Running totals are never negative; unused steps are zero.
        totals = problems.start[:, None] + jnp.cumsum(problems.signs * problems.amounts, axis=1)
        assert int(totals.min()) >= 0 and (np.asarray(totals[:, -1]) == np.asarray(problems.answer)).all()
        used = np.arange(4) < steps[:, None]
        assert ((np.asarray(problems.signs) != 0) == used).all()
        assert ((np.asarray(problems.amounts) > 0) == used).all()
        assert (np.asarray(problems.start) >= 10).all() and (np.asarray(problems.start) <= 99).all()
        correct = wp.correct_completions(problems, LENGTH)
        teacher = wp.teacher_completions(jax.random.key(2), problems, wp.TeacherSlips(noise_rate=0.3), LENGTH)
        assert (np.asarray(wp.verify(problems, correct)) == 1.0).all()
        # No chain overflows its buffer: each ends with EOS inside it.
        assert (np.asarray(correct == wp.EOS_ID).sum(1) == 1).all()
        assert (np.asarray(teacher == wp.EOS_ID).sum(1) == 1).all()
        for tokens in (problems.prompt, correct, teacher):
            for row in np.asarray(tokens)[:64]:
                text = wp.decode(row)
                assert wp.decode(wp.encode(text)) == text
                np.testing.assert_array_equal(wp.encode(text), row[row != wp.PAD_ID])


def test_splits_are_disjoint():
    for split in wp.SPLITS:
        problems = wp.sample_problems(jax.random.key(3), SPEC, 512, split)
        assert (np.asarray(wp.problem_split(problems)) == wp.SPLITS.index(split)).all()
    # A small spec (9 starts x 18 steps) is enumerated by sampling: the three splits partition it.
    small = wp.WordProblemSpec(min_steps=1, max_steps=1, start_digits=1)
    seen = {}
    for split in wp.SPLITS:
        problems = wp.sample_problems(jax.random.key(4), small, 3000, split)
        seen[split] = set(
            zip(problems.start.tolist(), (problems.signs * problems.amounts)[:, 0].tolist(), strict=True)
        )
    assert (
        not seen["train"] & seen["test"]
        and not seen["train"] & seen["valid"]
        and not seen["valid"] & seen["test"]
    )
    everything = {(s, d) for s in range(1, 10) for d in [*range(-s, 0), *range(1, 10)]}
    assert seen["train"] | seen["valid"] | seen["test"] == everything
    assert 0.7 < len(seen["train"]) / len(everything) < 0.9
    # The split depends on the numbers only: not on the words nor on the padded shape.
    problem = _one(47, [(1, 8), (-1, 5)])
    reworded = _one(47, [(1, 8), (-1, 5)], wp.WordProblemSpec(shape_steps=7), name=5, noun=2, verbs=[1, 2])
    assert int(wp.problem_split(problem)[0]) == int(wp.problem_split(reworded)[0])


def test_teacher_without_slips_is_correct_and_noise_is_wrong():
    problems = wp.sample_problems(jax.random.key(5), SPEC, 256, "train")
    correct = wp.correct_completions(problems, LENGTH)
    np.testing.assert_array_equal(
        wp.teacher_completions(jax.random.key(6), problems, NO_SLIPS, LENGTH), correct
    )
    noisy = wp.teacher_completions(
        jax.random.key(6), problems, dataclasses.replace(NO_SLIPS, noise_rate=1.0), LENGTH
    )
    one_step = np.asarray(problems.num_steps) == 1  # several noisy steps could cancel out
    assert one_step.sum() > 50 and (np.asarray(wp.verify(problems, noisy))[one_step] == 0.0).all()


def test_jit_and_vmap_over_keys():
    keys = jax.random.split(jax.random.key(7), 3)
    batched = jax.jit(jax.vmap(lambda k: wp.sample_problems(k, SPEC, 256, "valid")))(keys)
    assert batched.prompt.shape == (3, 256, SPEC.prompt_length)
    assert not np.array_equal(batched.prompt[0], batched.prompt[1])
    single = wp.sample_problems(keys[1], SPEC, 256, "valid")
    np.testing.assert_array_equal(batched.prompt[1], single.prompt)
    slips = wp.TeacherSlips(noise_rate=0.3)
    teacher = jax.jit(jax.vmap(lambda k, p: wp.teacher_completions(k, p, slips, LENGTH)))(keys, batched)
    assert teacher.shape == (3, 256, LENGTH)
    np.testing.assert_array_equal(teacher[1], wp.teacher_completions(keys[1], single, slips, LENGTH))
    assert 0.3 < wp.teacher_accuracy(keys[0], SPEC, wp.TeacherSlips(), 256, "test") < 0.9


@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (wp.WordProblemSpec, {"min_steps": 0}, "min_steps"),
        (wp.WordProblemSpec, {"min_steps": 3, "max_steps": 2}, "max_steps"),
        (wp.WordProblemSpec, {"start_digits": 0}, "start_digits"),
        (wp.WordProblemSpec, {"operand_digits": 0}, "operand_digits"),
        (wp.WordProblemSpec, {"shape_steps": 2}, "shape_steps"),
        (wp.WordProblemSpec, {"start_digits": 9}, "start_digits"),
        (wp.TeacherSlips, {"carry_slip_from": 9}, "carry_slip_from"),
        (wp.TeacherSlips, {"borrow_slip_from": 11}, "borrow_slip_from"),
        (wp.TeacherSlips, {"skip_from_steps": 0}, "skip_from_steps"),
        (wp.TeacherSlips, {"skip_below": -1}, "skip_below"),
        (wp.TeacherSlips, {"noise_rate": 1.5}, "noise_rate"),
    ],
)
def test_validation(cls, kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}: ") as error:
        cls(**kwargs)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"^split: "):
        wp.sample_problems(jax.random.key(0), SPEC, 4, "ood")
    with pytest.raises(ValueError, match="unknown word"):
        wp.encode("ann has 3 pears")

"""Procedurally generated arithmetic word problems, their verifier, and a "human" teacher that slips.

A problem is a starting amount and a few additions and subtractions, told in words:

    prompt:     ann has 47 apples . she gets 8 more . she gives 5 away . how many apples now ?
    correct:    47 + 8 = 55 . 55 - 5 = 50 . answer 50 <eos>
    teacher:    47 + 8 = 45 . 45 - 5 = 40 . answer 40 <eos>      (7 + 8 = 15 drops its carry)

Tokens are words of a 42-token vocabulary (`VOCAB`); every digit is its own token and numbers are written
most significant digit first. Prompts are left-padded with `PAD_ID` to `spec.prompt_length`, completions
are right-padded after `EOS_ID` to a static buffer length (`spec.completion_length`). Everything per
problem is pure JAX (jit- and vmap-able over keys); only `encode` / `decode` run on the host.

Splits. A problem's numbers (start, and the signed amount of each step) hash deterministically to one of
`SPLITS` (80 / 10 / 10 %), independent of its wording and of the padding, so train, valid and test are
exactly disjoint even as arithmetic (the same numbers told with other words are in the same split).
`sample_problems` draws only problems of the requested split by rejection (see there). The
out-of-distribution split is `sample_problems(key, spec.ood(), num, "test")`: one more step than any
in-distribution problem, at the same digits, with the same array shapes as `spec`.

The teacher (`TeacherSlips`) writes the chain of thought like a person with three systematic habits,
each deterministic in the problem so that a cloned model learns them and greedy decoding does not fix
them: it drops a carry in an addition column whose digit sum is large, forgets a borrow in a subtraction
column where the subtrahend digit is much larger, and overlooks small amounts in long problems. Each slip
propagates (later steps start from the wrong total). Optional i.i.d. noise replaces written results.

Measured with the defaults (`WordProblemSpec()`, `TeacherSlips()`; 200k problems per split):
prompt_length = 31 and completion_length = 45 tokens (for the spec and its ood()).

    split   teacher accuracy   share of the teacher's failures with a dropped carry / forgotten borrow
                               / skipped step (a failure can have several)
    train        62.5 %                          28 % / 41 % / 45 %
    test         62.7 %                          27 % / 42 % / 45 %
    ood          20.6 %                          24 % / 35 % / 76 %

Every failure has at least one slip; 1.1 % of problems (ood: 5 %) have slips that cancel, e.g. a dropped
carry (-10) and a forgotten borrow (+10), and still end right. The correct chain always verifies.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purerl.types import PRNGKey

# Names come in two groups so that the pronoun of each step agrees with the name.
_NAMES_SHE = ("ann", "eve", "kim")
_NAMES_HE = ("bob", "dan", "tom")
NAMES = _NAMES_SHE + _NAMES_HE
NOUNS = ("apples", "coins", "cards", "books")
ADD_VERBS = ("gets", "finds", "buys")  # told as "<pronoun> <verb> <n> more ."
SUB_VERBS = ("gives", "loses", "sells")  # "gives <n> away ." and "loses <n> ." / "sells <n> ."

VOCAB: tuple[str, ...] = (
    "<pad>",
    "<eos>",
    *"0123456789",
    "+",
    "-",
    "=",
    ".",
    "?",
    "answer",
    *NAMES,
    "she",
    "he",
    "has",
    *NOUNS,
    *ADD_VERBS,
    *SUB_VERBS,
    "more",
    "away",
    "how",
    "many",
    "now",
)
VOCAB_SIZE = len(VOCAB)
_ID = {word: i for i, word in enumerate(VOCAB)}
PAD_ID = _ID["<pad>"]
EOS_ID = _ID["<eos>"]
DIGIT0_ID = _ID["0"]  # digit d is token DIGIT0_ID + d
ANSWER_ID = _ID["answer"]
_PLUS, _MINUS, _EQUALS, _PERIOD, _QUESTION = (_ID[w] for w in ("+", "-", "=", ".", "?"))
_NAME0, _NOUN0, _ADD0, _SUB0 = _ID[NAMES[0]], _ID[NOUNS[0]], _ID[ADD_VERBS[0]], _ID[SUB_VERBS[0]]

SPLITS = ("train", "valid", "test")
_SPLIT_OF_BUCKET = np.array([0] * 8 + [1, 2], np.int32)  # hash % 10 -> split: 80 / 10 / 10 %

# Numbers have at most 9 digits, so every value and every column sum fits in int32.
_MAX_DIGITS = 9
_POW10 = np.array([10**i for i in range(_MAX_DIGITS + 1)], np.int32)
# Rejection rounds in `sample_problems`: a round accepts a problem w.p. >= 0.1 (the smallest split), so
# a problem is left unplaced after all rounds w.p. <= 0.9 ** 1000 < 1e-45.
_MAX_ROUNDS = 1000


def _digits_of(value: int) -> int:
    return len(str(value))


@dataclasses.dataclass(frozen=True)
class WordProblemSpec:
    """Static difficulty of the word problems.

    Attributes:
        min_steps: fewest operations per problem; the number is uniform in `[min_steps, max_steps]`.
        max_steps: most operations per problem.
        start_digits: the starting amount has exactly this many digits.
        operand_digits: each operation's amount has a uniform number of digits in `[1, operand_digits]`,
            then a uniform value with that many digits.
        shape_steps: the number of steps the static shapes (`prompt_length`, `completion_length`, the
            `S` of `Problems`) are sized for; `None` means `max_steps + 1`, so that `spec` and
            `spec.ood()` give arrays of one shape. Set it to share shapes across other specs too.
    """

    min_steps: int = 1
    max_steps: int = 3
    start_digits: int = 2
    operand_digits: int = 1
    shape_steps: int | None = None

    def __post_init__(self) -> None:
        if self.min_steps < 1:
            raise ValueError(f"min_steps: must be >= 1, got {self.min_steps}")
        if self.max_steps < self.min_steps:
            raise ValueError(f"max_steps: must be >= min_steps={self.min_steps}, got {self.max_steps}")
        if self.start_digits < 1:
            raise ValueError(f"start_digits: must be >= 1, got {self.start_digits}")
        if self.operand_digits < 1:
            raise ValueError(f"operand_digits: must be >= 1, got {self.operand_digits}")
        if self.shape_steps is not None and self.shape_steps < self.max_steps:
            raise ValueError(f"shape_steps: must be >= max_steps={self.max_steps}, got {self.shape_steps}")
        if self.number_digits > _MAX_DIGITS:
            raise ValueError(
                f"start_digits: totals could reach {self.number_digits} digits (at most {_MAX_DIGITS}); "
                "use fewer start_digits, operand_digits or steps"
            )

    def ood(self) -> WordProblemSpec:
        """The out-of-distribution spec: exactly `max_steps + 1` steps, same digits, same shapes."""
        steps = self.max_steps + 1
        return dataclasses.replace(
            self, min_steps=steps, max_steps=steps, shape_steps=max(self.padded_steps, steps)
        )

    @property
    def padded_steps(self) -> int:
        """`S`, the step axis of `Problems` and the steps the token lengths are sized for."""
        return self.max_steps + 1 if self.shape_steps is None else self.shape_steps

    @property
    def number_digits(self) -> int:
        """The most digits of any total in a chain, the teacher's included.

        A correct total is below `10**start_digits + S * 10**operand_digits`; a teacher's total can be
        larger, since a forgotten borrow adds at most `10 + ... + 10**operand_digits` and noise at most 9
        per step, so the bound allows `2 * 10**operand_digits + 9` per step.
        """
        bound = 10**self.start_digits - 1 + self.padded_steps * (2 * 10**self.operand_digits + 9)
        return _digits_of(bound)

    @property
    def prompt_length(self) -> int:
        """Static prompt length: "<name> has <start> <noun> ." + S * "<pron> <verb> <n> away ." + 5."""
        return 4 + self.start_digits + self.padded_steps * (4 + self.operand_digits) + 5

    @property
    def completion_length(self) -> int:
        """Static completion buffer: S * "<total> + <n> = <total> ." + "answer <total> <eos>"."""
        digits = self.number_digits
        return self.padded_steps * (2 * digits + self.operand_digits + 3) + digits + 2


class Problems(NamedTuple):
    """A batch of word problems (unused steps, `s >= num_steps`, have sign and amount 0).

    Attributes:
        prompt: `[N, P]` int32 prompt tokens, left-padded with `PAD_ID` (`P = spec.prompt_length`).
        start: `[N]` int32 starting amount.
        signs: `[N, S]` int32 +1 (addition) / -1 (subtraction) / 0 (unused step).
        amounts: `[N, S]` int32 amount of each step.
        num_steps: `[N]` int32 number of steps.
        answer: `[N]` int32 final total (never negative, nor is any running total).
    """

    prompt: jax.Array
    start: jax.Array
    signs: jax.Array
    amounts: jax.Array
    num_steps: jax.Array
    answer: jax.Array


# ----------------------------------------------------------------------------------------------- text


def encode(text: str) -> np.ndarray:
    """Host-side: space-separated words to `[T]` int32 tokens; a number becomes one token per digit."""
    ids: list[int] = []
    for word in text.split():
        if word.isdigit():
            ids.extend(DIGIT0_ID + int(c) for c in word)
        elif word in _ID:
            ids.append(_ID[word])
        else:
            raise ValueError(f"encode: unknown word {word!r}")
    return np.asarray(ids, np.int32)


def decode(ids: np.ndarray | jax.Array) -> str:
    """Host-side: `[T]` tokens to text; drops PAD, stops after the first EOS (written "<eos>").

    Consecutive digits are joined into one number, so `encode(decode(ids))` gives back `ids` without
    its PAD tokens and without anything after the first EOS.
    """
    words: list[str] = []
    previous_digit = False
    for token in np.asarray(ids).reshape(-1).tolist():
        if not 0 <= token < VOCAB_SIZE:
            raise ValueError(f"decode: token {token} is outside the vocabulary of {VOCAB_SIZE}")
        if token == PAD_ID:
            continue
        word = VOCAB[token]
        is_digit = word.isdigit()
        if is_digit and previous_digit:
            words[-1] += word
        else:
            words.append(word)
        previous_digit = is_digit
        if token == EOS_ID:
            break
    return " ".join(words)


# ------------------------------------------------------------------------------------ token building


def _num_digits(x: jax.Array) -> jax.Array:
    """Decimal digits of non-negative `x` (0 has one)."""
    return 1 + jnp.sum(x[..., None] >= _POW10[1:], axis=-1)


def _digit_slots(x: jax.Array, width: int) -> tuple[jax.Array, jax.Array]:
    """`x [...]` -> digit tokens `[..., width]` right-aligned, and which of the slots are used."""
    exponents = np.arange(width - 1, -1, -1)
    tokens = DIGIT0_ID + (x[..., None] // _POW10[exponents]) % 10
    return tokens, exponents < _num_digits(x)[..., None]


def _word_slots(
    token: jax.Array | int, used: jax.Array | bool, shape: tuple[int, ...]
) -> tuple[jax.Array, jax.Array]:
    """One slot: tokens `[*shape, 1]` and used `[*shape, 1]`."""
    return (
        jnp.broadcast_to(jnp.asarray(token, jnp.int32), shape)[..., None],
        jnp.broadcast_to(jnp.asarray(used, bool), shape)[..., None],
    )


def _concat(slots: list[tuple[jax.Array, jax.Array]]) -> tuple[jax.Array, jax.Array]:
    """Slots `[..., k_i]` side by side, flattened to `[N, sum of the rest]`."""
    tokens = jnp.concatenate([t for t, _ in slots], axis=-1)
    used = jnp.concatenate([u for _, u in slots], axis=-1)
    return tokens.reshape(tokens.shape[0], -1), used.reshape(used.shape[0], -1)


def _pack(slots: list[tuple[jax.Array, jax.Array]], length: int, left_pad: bool) -> jax.Array:
    """Gather the used slots of each row, in order, into `[N, length]` padded with PAD_ID.

    Left-padded rows are right-aligned; otherwise rows are left-aligned and cut at `length`.
    """
    tokens, used = _concat(slots)
    position = jnp.cumsum(used, axis=1) - 1
    if left_pad:
        position = position + length - jnp.sum(used, axis=1, keepdims=True)
    position = jnp.where(used & (position >= 0), position, length)  # unused: out of range, dropped
    rows = jnp.arange(tokens.shape[0])[:, None]
    out = jnp.full((tokens.shape[0], length), PAD_ID, jnp.int32)
    return out.at[rows, position].set(tokens.astype(jnp.int32), mode="drop")


def _prompt_tokens(
    spec: WordProblemSpec,
    start: jax.Array,
    signs: jax.Array,
    amounts: jax.Array,
    name: jax.Array,
    noun: jax.Array,
    verb: jax.Array,
) -> jax.Array:
    n, steps = (start.shape[0],), signs.shape
    noun_token = _NOUN0 + noun
    pronoun = jnp.where(name < len(_NAMES_SHE), _ID["she"], _ID["he"])
    head = [_word_slots(_NAME0 + name, True, n), _word_slots(_ID["has"], True, n)]
    head += [_digit_slots(start, spec.start_digits)]
    head += [_word_slots(noun_token, True, n), _word_slots(_PERIOD, True, n)]
    used = signs != 0
    digits, digits_used = _digit_slots(amounts, spec.operand_digits)
    body = [
        _word_slots(pronoun[:, None], used, steps),
        _word_slots(jnp.where(signs > 0, _ADD0, _SUB0) + verb, used, steps),
        (digits, digits_used & used[..., None]),
        _word_slots(_ID["more"], used & (signs > 0), steps),
        _word_slots(_ID["away"], used & (signs < 0) & (verb == 0), steps),  # only "gives ... away"
        _word_slots(_PERIOD, used, steps),
    ]
    tail = [_word_slots(t, True, n) for t in (_ID["how"], _ID["many"], noun_token, _ID["now"], _QUESTION)]
    return _pack([_concat(head), _concat(body), _concat(tail)], spec.prompt_length, left_pad=True)


def _chain_tokens(
    before: jax.Array,
    signs: jax.Array,
    amounts: jax.Array,
    result: jax.Array,
    written: jax.Array,
    final: jax.Array,
    length: int,
) -> jax.Array:
    """ "<before> +/- <amount> = <result> ." for each written step, "answer <final> <eos>", PAD; `[N, L]`."""
    n, steps = (final.shape[0],), signs.shape
    body = []
    for number, after in (
        (before, jnp.where(signs > 0, _PLUS, _MINUS)),
        (amounts, _EQUALS),
        (result, _PERIOD),
    ):
        digits, digits_used = _digit_slots(number, _MAX_DIGITS)
        body += [(digits, digits_used & written[..., None]), _word_slots(after, written, steps)]
    tail = [_word_slots(ANSWER_ID, True, n), _digit_slots(final, _MAX_DIGITS), _word_slots(EOS_ID, True, n)]
    return _pack([_concat(body), _concat(tail)], length, left_pad=False)


# ------------------------------------------------------------------------------------------ problems


@functools.partial(jax.jit, static_argnames="spec")
def make_problems(
    spec: WordProblemSpec,
    start: jax.Array,
    signs: jax.Array,
    amounts: jax.Array,
    name: jax.Array,
    noun: jax.Array,
    verb: jax.Array,
) -> Problems:
    """Problems from chosen numbers and words (what `sample_problems` draws; handy for hand-made cases).

    Args:
        spec: gives the prompt layout and `S`; the numbers must fit its digits and running totals must
            stay non-negative (not checked: this is traced code).
        start: `[N]` starting amounts.
        signs: `[N, K]` +1 / -1 per step, 0 after the last step (`K <= spec.padded_steps`).
        amounts: `[N, K]` amount per step (0 where the sign is 0).
        name: `[N]` index into `NAMES`.
        noun: `[N]` index into `NOUNS`.
        verb: `[N, K]` index into `ADD_VERBS` or `SUB_VERBS`, by the step's sign.

    Returns:
        `Problems` with step axis `S = spec.padded_steps`.
    """
    start, signs, amounts, name, noun, verb = (
        jnp.asarray(x, jnp.int32) for x in (start, signs, amounts, name, noun, verb)
    )
    width = ((0, 0), (0, spec.padded_steps - signs.shape[1]))
    signs, amounts, verb = (jnp.pad(x, width) for x in (signs, amounts, verb))
    amounts = amounts * (signs != 0)
    return Problems(
        prompt=_prompt_tokens(spec, start, signs, amounts, name, noun, verb),
        start=start,
        signs=signs,
        amounts=amounts,
        num_steps=jnp.sum(signs != 0, axis=1, dtype=jnp.int32),
        answer=start + jnp.sum(signs * amounts, axis=1, dtype=jnp.int32),
    )


def _fmix32(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: every input bit affects every output bit."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _split_index(start: jax.Array, signs: jax.Array, amounts: jax.Array, num_steps: jax.Array) -> jax.Array:
    """`[N]` index into `SPLITS` from a hash of the numbers only; unused steps do not enter it."""
    h = _fmix32(start.astype(jnp.uint32) ^ jnp.uint32(0x5EED1234))
    h = _fmix32(h ^ (num_steps.astype(jnp.uint32) * jnp.uint32(0x9E3779B9)))
    for s in range(signs.shape[1]):
        step = (2 * amounts[:, s] + (signs[:, s] < 0)).astype(jnp.uint32)  # injective in (sign, amount)
        mixed = _fmix32(h ^ (step + jnp.uint32(0x9E3779B9) + (h << 6) + (h >> 2)))
        h = jnp.where(s < num_steps, mixed, h)
    return jnp.asarray(_SPLIT_OF_BUCKET)[(h % jnp.uint32(10)).astype(jnp.int32)]


@jax.jit
def problem_split(problems: Problems) -> jax.Array:
    """`[N]` int32 index into `SPLITS` of each problem (deterministic in its numbers)."""
    return _split_index(problems.start, problems.signs, problems.amounts, problems.num_steps)


def _draw_numbers(key: PRNGKey, spec: WordProblemSpec, num: int) -> tuple[jax.Array, ...]:
    """Candidate numbers `(start [N], signs [N, S], amounts [N, S], num_steps [N])`, any split."""
    k_steps, k_start, k_digits, k_amount, k_sign = jax.random.split(key, 5)
    shape = (num, spec.padded_steps)
    num_steps = jax.random.randint(k_steps, (num,), spec.min_steps, spec.max_steps + 1)
    low = 10 ** (spec.start_digits - 1)
    start = jax.random.randint(k_start, (num,), low, 10 * low)
    digits = jax.random.randint(k_digits, shape, 1, spec.operand_digits + 1)
    amount = jax.random.randint(k_amount, shape, jnp.asarray(_POW10)[digits - 1], jnp.asarray(_POW10)[digits])
    wants_sub = jax.random.bernoulli(k_sign, 0.5, shape)
    total, signs = start, []
    for s in range(spec.padded_steps):
        # A subtraction that would go below zero becomes an addition.
        sign = jnp.where(wants_sub[:, s] & (amount[:, s] <= total), -1, 1) * (s < num_steps)
        total = total + sign * amount[:, s]
        signs.append(sign)
    signs = jnp.stack(signs, axis=1).astype(jnp.int32)
    return start, signs, amount * (signs != 0), num_steps


def sample_problems(key: PRNGKey, spec: WordProblemSpec, num: int, split: str) -> Problems:
    """`num` random problems of `split` (one of `SPLITS`).

    Rejection in rounds: each round draws one candidate for every problem still unplaced and keeps it if
    its numbers hash to `split`; a round places a problem w.p. ~0.8 / 0.1 / 0.1, so about
    `log(num) / 0.1` rounds place all of them; after `_MAX_ROUNDS` = 1000 rounds a problem is still
    unplaced w.p. < 1e-45 (only a spec with almost no distinct problems could get near that). The words
    (name, noun, verbs) are drawn independently of the split.

    Args:
        key: PRNG key.
        spec: difficulty; use `spec.ood()` (with `split="test"`) for the out-of-distribution split.
        num: number of problems `N`.
        split: "train", "valid" or "test".

    Returns:
        `Problems` with prompts `[N, spec.prompt_length]` and steps `[N, spec.padded_steps]`.
    """
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")
    return _sample_split(key, spec, num, SPLITS.index(split))


# The split index is traced, so the three splits share one compiled sampler.
@functools.partial(jax.jit, static_argnames=("spec", "num"))
def _sample_split(key: PRNGKey, spec: WordProblemSpec, num: int, target: jax.Array | int) -> Problems:
    k_numbers, k_name, k_noun, k_verb = jax.random.split(key, 4)
    shape = (num, spec.padded_steps)

    def unplaced(carry: tuple) -> jax.Array:
        round_index, placed, *_ = carry
        return (round_index < _MAX_ROUNDS) & ~jnp.all(placed)

    def draw_round(carry: tuple) -> tuple:
        round_index, placed, *numbers = carry
        candidate = _draw_numbers(jax.random.fold_in(k_numbers, round_index), spec, num)
        accept = ~placed & (_split_index(*candidate) == target)
        numbers = [
            jnp.where(accept.reshape(-1, *[1] * (c.ndim - 1)), c, x)
            for c, x in zip(candidate, numbers, strict=True)
        ]
        return (round_index + 1, placed | accept, *numbers)

    zeros = (jnp.zeros(num, jnp.int32), jnp.zeros(shape, jnp.int32), jnp.zeros(shape, jnp.int32))
    init = (jnp.int32(0), jnp.zeros(num, bool), *zeros, jnp.zeros(num, jnp.int32))
    _, _, start, signs, amounts, _ = jax.lax.while_loop(unplaced, draw_round, init)
    name = jax.random.randint(k_name, (num,), 0, len(NAMES))
    noun = jax.random.randint(k_noun, (num,), 0, len(NOUNS))
    verb = jax.random.randint(k_verb, shape, 0, len(ADD_VERBS))  # as many add verbs as sub verbs
    return make_problems(spec, start, signs, amounts, name, noun, verb)


# ---------------------------------------------------------------------------------------- completions


@functools.partial(jax.jit, static_argnames="length")
def correct_completions(problems: Problems, length: int) -> jax.Array:
    """`[N, length]` int32 slip-free chains of thought: every step, then "answer <answer> <eos>"."""
    delta = problems.signs * problems.amounts
    after = problems.start[:, None] + jnp.cumsum(delta, axis=1)
    before = after - delta
    written = problems.signs != 0
    return _chain_tokens(before, problems.signs, problems.amounts, after, written, problems.answer, length)


@dataclasses.dataclass(frozen=True)
class TeacherSlips:
    """The "human" teacher's systematic slips (all deterministic in the problem) and optional noise.

    Attributes:
        carry_slip_from: in an addition, a column whose digit sum (incoming carry included) is at least
            this writes its last digit but drops the carry (47 + 8: 7 + 8 = 15 -> "45"). 10..20; the
            largest column sum is 9 + 9 + 1 = 19, so 20 means never.
        borrow_slip_from: in a subtraction, a column that needs a borrow where (subtrahend digit -
            minuend digit) is at least this writes `minuend - subtrahend - incoming borrow + 10` but does
            not take the borrow from the next column (43 - 8 -> "45", the true result plus 10 ** (i + 1)
            for column i). 1..10; 10 means never. If the teacher's own total is smaller than the amount
            it writes the result 0.
        skip_from_steps: on problems with at least this many steps the teacher overlooks every step whose
            amount is below `skip_below`: the step is not written and the total carries on without it.
        skip_below: see `skip_from_steps`; 0 means never.
        noise_rate: probability, i.i.d. per written result, that the result is replaced by a wrong one
            (the right one plus or minus 1..9, never negative); later steps start from it.
    """

    carry_slip_from: int = 15
    borrow_slip_from: int = 5
    skip_from_steps: int = 3
    skip_below: int = 3
    noise_rate: float = 0.0

    def __post_init__(self) -> None:
        if not 10 <= self.carry_slip_from <= 20:
            raise ValueError(f"carry_slip_from: must be in 10..20 (20 = never), got {self.carry_slip_from}")
        if not 1 <= self.borrow_slip_from <= 10:
            raise ValueError(f"borrow_slip_from: must be in 1..10 (10 = never), got {self.borrow_slip_from}")
        if self.skip_from_steps < 1:
            raise ValueError(f"skip_from_steps: must be >= 1, got {self.skip_from_steps}")
        if self.skip_below < 0:
            raise ValueError(f"skip_below: must be >= 0 (0 = never), got {self.skip_below}")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise ValueError(f"noise_rate: must be in [0, 1], got {self.noise_rate}")

    @classmethod
    def none(cls) -> TeacherSlips:
        """A teacher without slips or noise: it writes `correct_completions`."""
        return cls(carry_slip_from=20, borrow_slip_from=10, skip_below=0, noise_rate=0.0)


class TeacherTrace(NamedTuple):
    """What the teacher computes for each step (`[N, S]` unless noted), before it is written out.

    Attributes:
        before: the teacher's total before the step.
        result: the result it writes after "=" (its new total if the step is written).
        written: whether the step appears in the chain (a used step that was not skipped).
        carry_slip: a carry was dropped in this step.
        borrow_slip: a borrow was forgotten in this step.
        skipped: a used step the teacher overlooked.
        noised: the result was replaced by noise.
        answer: `[N]` the teacher's final total, its "answer".
    """

    before: jax.Array
    result: jax.Array
    written: jax.Array
    carry_slip: jax.Array
    borrow_slip: jax.Array
    skipped: jax.Array
    noised: jax.Array
    answer: jax.Array


def _columns(x: jax.Array) -> jax.Array:
    """`[N]` -> `[9, N]` decimal digits, least significant first."""
    return (x[None, :] // _POW10[:_MAX_DIGITS, None]) % 10


def _slipped_add(total: jax.Array, amount: jax.Array, slip_from: int) -> tuple[jax.Array, jax.Array]:
    """Column addition that drops the carry of any column summing to >= `slip_from`; (result, slipped)."""

    def column(carry: jax.Array, digits: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, tuple]:
        digit_sum = digits[0] + digits[1] + carry
        drop = digit_sum >= slip_from
        return ((digit_sum >= 10) & ~drop).astype(carry.dtype), (digit_sum % 10, drop)

    _, (digits, drops) = jax.lax.scan(column, jnp.zeros_like(total), (_columns(total), _columns(amount)))
    return jnp.sum(digits * _POW10[:_MAX_DIGITS, None], axis=0), jnp.any(drops, axis=0)


def _slipped_sub(total: jax.Array, amount: jax.Array, slip_from: int) -> tuple[jax.Array, jax.Array]:
    """Column subtraction that forgets borrows where subtrahend - minuend digit >= `slip_from`."""

    def column(borrow: jax.Array, digits: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, tuple]:
        t, a = digits
        difference = t - a - borrow
        needs = difference < 0
        forget = needs & (a - t >= slip_from)
        return (needs & ~forget).astype(borrow.dtype), (difference % 10, forget)

    borrow, (digits, forgets) = jax.lax.scan(
        column, jnp.zeros_like(total), (_columns(total), _columns(amount))
    )
    result = jnp.sum(digits * _POW10[:_MAX_DIGITS, None], axis=0)
    # A borrow out of the top column means the teacher's total was below the amount: it writes 0.
    return jnp.where(borrow > 0, 0, result), jnp.any(forgets, axis=0)


@functools.partial(jax.jit, static_argnames="slips")
def teacher_trace(key: PRNGKey, problems: Problems, slips: TeacherSlips) -> TeacherTrace:
    """The teacher's step-by-step arithmetic with its slips propagated; `key` is used only for noise."""
    num = problems.start.shape[0]
    long_problem = problems.num_steps >= slips.skip_from_steps

    def step(total: jax.Array, xs: tuple) -> tuple[jax.Array, TeacherTrace]:
        sign, amount, step_key = xs
        used = sign != 0
        skipped = used & long_problem & (amount < slips.skip_below)
        written = used & ~skipped
        added, carry_slip = _slipped_add(total, amount, slips.carry_slip_from)
        subtracted, borrow_slip = _slipped_sub(total, amount, slips.borrow_slip_from)
        result = jnp.where(sign > 0, added, subtracted)
        noised = jnp.zeros(num, bool)
        if slips.noise_rate > 0.0:
            k_flip, k_size, k_sign = jax.random.split(step_key, 3)
            noised = written & jax.random.bernoulli(k_flip, slips.noise_rate, (num,))
            offset = jax.random.randint(k_size, (num,), 1, 10)
            offset = jnp.where(jax.random.bernoulli(k_sign, 0.5, (num,)), offset, -offset)
            wrong = jnp.where(result + offset >= 0, result + offset, result - offset)
            result = jnp.where(noised, wrong, result)
        trace = TeacherTrace(
            before=total,
            result=result,
            written=written,
            carry_slip=written & (sign > 0) & carry_slip,
            borrow_slip=written & (sign < 0) & borrow_slip,
            skipped=skipped,
            noised=noised,
            answer=total,  # placeholder, replaced by the final total below
        )
        return jnp.where(written, result, total), trace

    xs = (problems.signs.T, problems.amounts.T, jax.random.split(key, problems.signs.shape[1]))
    answer, trace = jax.lax.scan(step, problems.start, xs)
    return TeacherTrace(*(x.T for x in trace[:-1]), answer=answer)


@functools.partial(jax.jit, static_argnames=("slips", "length"))
def teacher_completions(key: PRNGKey, problems: Problems, slips: TeacherSlips, length: int) -> jax.Array:
    """`[N, length]` int32 chains of thought of the slipping teacher, in the format of the correct ones.

    Args:
        key: PRNG key, used only when `slips.noise_rate > 0`.
        problems: the problems.
        slips: the teacher's habits.
        length: buffer length; `spec.completion_length` fits every teacher chain of `spec` and its ood().

    Returns:
        Tokens: written steps, "answer <teacher's final total> <eos>", then PAD.
    """
    trace = teacher_trace(key, problems, slips)
    return _chain_tokens(
        trace.before, problems.signs, problems.amounts, trace.result, trace.written, trace.answer, length
    )


# ------------------------------------------------------------------------------------------- verifier


@jax.jit
def parse_answer(completions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The final answer of each completion and whether it is well-formed.

    Well-formed: before the first EOS there is an "answer" token, and the first one is followed by 1 to
    9 digits without a leading zero ("0" itself is fine), then EOS or the end of the buffer.

    Args:
        completions: `[N, L]` int32 tokens.

    Returns:
        `([N] int32 value, -1 where not well-formed; [N] bool well-formed)`.
    """
    num, length = completions.shape
    position = jnp.arange(length)
    is_eos = completions == EOS_ID
    first_eos = jnp.where(jnp.any(is_eos, axis=1), jnp.argmax(is_eos, axis=1), length)
    is_answer = (completions == ANSWER_ID) & (position < first_eos[:, None])
    has_answer = jnp.any(is_answer, axis=1)
    at = jnp.argmax(is_answer, axis=1)[:, None]  # the first "answer"
    digit = completions - DIGIT0_ID
    is_digit = (digit >= 0) & (digit <= 9)
    stops = (position > at) & ~is_digit
    end = jnp.where(jnp.any(stops, axis=1), jnp.argmax(stops, axis=1), length)  # first non-digit after
    num_digits = end - at[:, 0] - 1
    terminated = (end == length) | (completions[jnp.arange(num), jnp.minimum(end, length - 1)] == EOS_ID)
    leading_zero = (num_digits > 1) & (
        completions[jnp.arange(num), jnp.minimum(at[:, 0] + 1, length - 1)] == DIGIT0_ID
    )
    well_formed = has_answer & (num_digits >= 1) & (num_digits <= _MAX_DIGITS) & terminated & ~leading_zero
    in_number = (position > at) & (position < end[:, None])
    exponent = jnp.clip(end[:, None] - 1 - position, 0, _MAX_DIGITS)
    value = jnp.sum(jnp.where(in_number, digit * jnp.asarray(_POW10)[exponent], 0), axis=1, dtype=jnp.int32)
    return jnp.where(well_formed, value, -1), well_formed


@jax.jit
def verify(problems: Problems, completions: jax.Array, format_bonus: float = 0.0) -> jax.Array:
    """`[N]` float32 reward: 1 iff the final answer (see `parse_answer`) equals `problems.answer`.

    Only the final answer counts (a wrong chain that ends at the right answer passes). A well-formed but
    wrong answer gets `format_bonus`; anything else 0.

    Args:
        problems: the problems.
        completions: `[N, L]` int32 tokens (any `L`).
        format_bonus: reward for a well-formed wrong answer.
    """
    value, well_formed = parse_answer(completions)
    right = well_formed & (value == problems.answer)
    return jnp.where(right, 1.0, jnp.where(well_formed, format_bonus, 0.0)).astype(jnp.float32)


def teacher_accuracy(key: PRNGKey, spec: WordProblemSpec, slips: TeacherSlips, num: int, split: str) -> float:
    """Host-side convenience: the teacher's verified accuracy on `num` fresh problems of `split`."""
    k_problems, k_teacher = jax.random.split(key)
    problems = sample_problems(k_problems, spec, num, split)
    completions = teacher_completions(k_teacher, problems, slips, spec.completion_length)
    return float(jnp.mean(verify(problems, completions)))

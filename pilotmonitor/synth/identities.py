"""Synthetic identities: citizen numbers (BSN), education numbers, names, addresses.

Every person is invented and visibly so: surnames carry the suffix "-Synthetisch",
streets are called "Synthetische ...". BSNs are drawn first from the official test range
999900006-999999990 (about 9,090 numbers pass the 11-check); larger scenarios continue
with 11-proof numbers drawn from 9xxxxxxxx, still synthetic and attached to nothing real.

The 11-check (elfproef): 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 must be divisible by 11.
An onderwijsnummer (education number for pupils without a BSN) starts with "10" and
has the same weighted sum equal to 5 modulo 11. The checks here are vectorised for
generating millions of numbers; the pipeline validates with python-stdnum.
"""

from __future__ import annotations

import numpy as np

_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
TEST_RANGE = (999_900_006, 999_999_990)
# Eight-digit prefixes [low, high) of the synthetic numbers beyond the test range; regions
# of a large scenario each draw from their own slice (see region_ids).
BSN_PREFIXES = (90_000_000, 99_990_000)
EDUCATION_PREFIXES = (10_000_000, 11_000_000)


def _digits(numbers: np.ndarray) -> np.ndarray:
    numbers = np.asarray(numbers, dtype=np.int64)
    powers = 10 ** np.arange(8, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers) % 10


def weighted_sum_mod11(numbers: np.ndarray) -> np.ndarray:
    return (_digits(numbers) @ _WEIGHTS) % 11


def passes_bsn_check(numbers: np.ndarray) -> np.ndarray:
    numbers = np.asarray(numbers, dtype=np.int64)
    return (weighted_sum_mod11(numbers) == 0) & (numbers != 0) & (numbers != 999_999_999)


def _complete(prefixes: np.ndarray, remainder: int) -> tuple[np.ndarray, np.ndarray]:
    """Append the check digit that makes the weighted sum == remainder (mod 11)."""
    partial = (_digits(prefixes * 10)[:, :8] @ _WEIGHTS[:8]) % 11
    check = (partial - remainder) % 11
    ok = check < 10
    return prefixes * 10 + np.where(ok, check, 0), ok


def generate_bsns(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct 11-proof synthetic BSNs (test range first)."""
    test = np.arange(TEST_RANGE[0], TEST_RANGE[1] + 1, dtype=np.int64)
    test = test[passes_bsn_check(test)]
    rng.shuffle(test)
    if n <= len(test):
        return test[:n]
    chosen = set(test.tolist())
    extra: list[int] = []
    while len(extra) < n - len(test):
        prefixes = rng.integers(
            90_000_000, 99_990_000, size=2 * (n - len(test)) + 100, dtype=np.int64
        )
        numbers, ok = _complete(prefixes, 0)
        for number in numbers[ok].tolist():
            if number not in chosen:
                chosen.add(number)
                extra.append(number)
    return np.concatenate([test, np.array(extra[: n - len(test)], dtype=np.int64)])


def generate_onderwijsnummers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid education numbers: start with 10, weighted sum == 5 (mod 11)."""
    out: list[int] = []
    seen: set[int] = set()
    while len(out) < n:
        prefixes = rng.integers(10_000_000, 11_000_000, size=2 * n + 50, dtype=np.int64)
        numbers, ok = _complete(prefixes, 5)
        for number in numbers[ok].tolist():
            if number not in seen:
                seen.add(number)
                out.append(number)
    return np.array(out[:n], dtype=np.int64)


def draw_from_prefixes(
    n: int, prefixes: tuple[int, int], remainder: int, rng: np.random.Generator
) -> np.ndarray:
    """n distinct numbers with weighted sum == remainder (mod 11) from a slice of prefixes.

    remainder 0 gives BSNs, 5 education numbers. Distinct because each prefix yields at most
    one number; a slice too small for n is a configuration error, not a reason to reuse."""
    low, high = prefixes
    size = high - low
    # About ten in eleven prefixes complete to a valid number: a sample a fifth larger than n
    # (drawn again, twice as large, in the rare case it falls short) instead of a permutation
    # of the whole slice (ten million prefixes for the country: 0.6 s and 0.7 GB per draw).
    wanted = min(size, n + n // 5 + 64)
    while True:
        chosen = low + rng.choice(size, size=wanted, replace=False).astype(np.int64)
        numbers, ok = _complete(chosen, remainder)
        numbers = numbers[ok]
        if remainder == 0:
            numbers = numbers[passes_bsn_check(numbers)]
        if len(numbers) >= n or wanted == size:
            break
        wanted = min(size, 2 * wanted)
    if len(numbers) < n:
        raise ValueError(
            f"{n:,} numbers needed but the prefix range {low}-{high} holds {len(numbers):,}"
        )
    return numbers[:n]


def corrupt_check_digit(numbers: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Change the last digit so the 11-check fails (any single-digit change breaks it)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    last = numbers % 10
    shift = rng.integers(1, 10, size=len(numbers))
    return numbers - last + (last + shift) % 10


def format_number(numbers: np.ndarray) -> np.ndarray:
    """Nine digits, left-padded with zeros, as strings."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if numbers.size == 0:  # np.char.zfill cannot size an empty array
        return np.array([], dtype="<U9")
    return np.char.zfill(numbers.astype(str), 9)


GIVEN_NAMES_F = [
    "Emma",
    "Julia",
    "Mila",
    "Tess",
    "Sophie",
    "Zoë",
    "Noor",
    "Sara",
    "Anna",
    "Evi",
    "Lotte",
    "Fenna",
    "Daniëlle",
    "Yara",
    "Liv",
    "Nora",
    "Fleur",
    "Isa",
    "Maud",
    "Lieke",
]
GIVEN_NAMES_M = [
    "Noah",
    "Sem",
    "Liam",
    "Lucas",
    "Daan",
    "Finn",
    "Levi",
    "Luuk",
    "Mees",
    "Bram",
    "Thijs",
    "Jesse",
    "Sven",
    "Joël",
    "Ruben",
    "Stijn",
    "Niels",
    "Gijs",
    "Mohamed",
    "René",
]
SURNAMES = [
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Dijk",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Postma",
    "Özdemir",
    "Kuipers",
    "Hoekstra",
    "Veenstra",
    "Wiersma",
]
STREETS = [
    "Synthetische Laan",
    "Synthetische Dreef",
    "Proefstraat",
    "Testweg",
    "Synthetisch Plein",
    "Fictieve Kade",
]


def split_surname(surnames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split 'van den Berg' into the prefix (tussenvoegsel) and the name proper."""
    prefixes, names = [], []
    for surname in surnames.tolist():
        parts = surname.split(" ")
        prefixes.append(" ".join(parts[:-1]))
        names.append(parts[-1] + "-Synthetisch")
    return np.array(prefixes, dtype=object), np.array(names, dtype=object)


def generate_phone_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mobile-style numbers 0699xxxxxx (a block kept for synthetic data here)."""
    return np.char.add("0699", np.char.zfill(rng.integers(0, 1_000_000, size=n).astype(str), 6))


def generate_postcodes(
    pc4_low: np.ndarray, pc4_high: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    pc4 = rng.integers(pc4_low, pc4_high + 1)
    letters = np.array(list("ABCDEGHJKLMNPRTVWXZ"))
    first = letters[rng.integers(0, len(letters), size=len(pc4))]
    second = letters[rng.integers(0, len(letters), size=len(pc4))]
    return np.char.add(np.char.add(pc4.astype(str), first), second)

"""The zstd dictionary that customer blobs are compressed with, and how it is trained.

A customer's blob is about 1.2 KB of MessagePack (1.8 KB after a month),
compressed on every batch that changes the customer. So small an input gives
zstd little history to find repeats in, and most of what repeats is the
layout itself (the array and map headers, the int tags, the kinds' names,
the countries and mccs). A dictionary trained on such blobs holds that once,
outside every blob.

Measured on ``training_samples(300, 35, 11)`` (bench.state's input, seed 11,
not the training's: 5,625 blobs of every age, 1,208 bytes on average), each
compressed with a ``zstandard.ZstdCompressor`` as the store writes it, the
instructions inside its ``compress`` calls counted by valgrind's callgrind
(``--toggle-collect=ZstdCompressor_compress``; the figures first given here,
48.8k at -2 and so on, counted ~2.4k more a call around it); the last column
is the mean of the 295 customers' final blobs after bench.state's 28,124
events (1,511 bytes packed)::

    dictionary           level, zstd parameters  bytes per blob  instructions  final blobs
    none                 1                                  991        100.3k        1,251
    4 KB (0x52570001)    -1                                 861         65.0k        1,106
    4 KB                 -2                                 915         44.6k        1,182
    8 KB (0x52570002)    -1                                 821         64.8k        1,055
    8 KB                 -2                                 880         46.3k        1,135
    8 KB                 -3                                 915         37.8k        1,183
    8 KB, written now    -3, min_match 4, hash_log 15       870         42.5k        1,123
    8 KB                 -4, min_match 4, hash_log 15       903         36.9k        1,164
    8 KB                 -2, min_match 4, hash_log 15       848         50.0k        1,085

(16 KB compressed no better than 8 KB: 831 and 890 bytes at -1 and -2.)
The first dictionary, 4 KB at level -1, made blobs smaller and cheaper than
level 1 without one (~7.5 us of CPU per write instead of ~12.5). The
second, 8 KB, was first written at level -2: 28 % fewer instructions per
compress than the first at -1, for blobs 2 % larger (19 bytes per blob
written, 28 per final blob); at -2 the first would write blobs 35 bytes
larger still. bench.state's Redis bytes per active customer: 1,841 with the
first, 1,869 with the second at -2 (1,965 at -3).

It is now written with level -3's parameters (a 16 KB window, zstd's fast
strategy trying every third position against the attached dictionary) but
matches from 4 bytes instead of 5 and a hash table of 2^15 entries instead
of 2^13 (``detectors/customer_fold.py``): 8 % fewer instructions than -2
and blobs 1 % smaller. On ``training_samples(3000, 35, 11)`` (58,034
blobs, 1,267 bytes; 2,951 final blobs of 1,607): 47.5k -> 42.9k
instructions, 984 -> 978 bytes per blob, 1,282 -> 1,273 per final blob.
The hash table (the dictionary's, attached to each compress) takes 128 KB
per thread instead of 32 KB; 2^14 entries: 42.2k instructions for 876
bytes (2^16 is 2^15: zstd caps it for an 8 KB dictionary). Also tried, over
the 300 customers: 6- or 7-byte matches (at -2 42.7k and 41.1k
instructions, but blobs 5 and 8 % larger), levels -4 to -6 with hash
tables of 2^11 to 2^14 entries (none better than the rows above),
the dictionary's table copied into the context instead of attached
(``force_max_window``: 849 bytes at -2 but 61.8k instructions, 13k of them
the copy), ``write_content_size=False`` (1 byte a blob, and the reader
would need ``max_output_size``). Only the double-fast strategy (level 1's,
4-byte matches, hash_log 14) wrote much smaller blobs: 776 bytes, 995 per
final blob, for 80.6k instructions.

The dictionary ships as ``customer_blob_v2.zdict`` beside this module, the
first as ``customer_blob_v1.zdict``. Its id is written in every frame, so
:func:`detectors.customer_fold.load` reads frames of either, frames without
one (blobs written before the first) and refuses any other (a blob written
with a retrained dictionary, by a newer version) rather than decoding it
wrongly. Retraining therefore needs a new id (``DICTIONARY_ID``), with the
dictionary it replaces kept, unchanged, in ``FORMER_DICTIONARIES``.

Training is deterministic: the simulator's seed and one thread
(``threads=0``); two runs write the same bytes, and the first dictionary's
training (its id, 4,096 bytes, the same samples) rewrites
``customer_blob_v1.zdict`` byte for byte. The samples follow the simulator
and the fold, so a change to either changes what training writes: the
shipped files are not retrained in place (tests/test_blob_dictionary.py
pins their bytes)::

    .venv/bin/python -m detectors.blob_dictionary   # rewrites customer_blob_v2.zdict
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import zstandard

DICTIONARY_PATH = Path(__file__).with_name("customer_blob_v2.zdict")
#: The id written into every frame (zstd reserves ids below 32768 and above 2^31).
DICTIONARY_ID = 0x52570002
DICTIONARY_BYTES = 8192
#: Dictionaries of earlier versions, by id: blobs they wrote are read, none is written.
FORMER_DICTIONARIES = {0x52570001: Path(__file__).with_name("customer_blob_v1.zdict")}
#: Not bench.state's seed (11): the bench measures blobs the dictionary was not trained on.
TRAINING_SEED = 7
TRAINING_CUSTOMERS = 400
TRAINING_DAYS = 35
#: Every this-many-th blob written is a training sample (blobs of every age of a customer).
SAMPLE_EVERY = 5


def load_dictionary(dict_id: int = DICTIONARY_ID) -> zstandard.ZstdCompressionDict:
    """The shipped dictionary, or a former one by its id."""
    path = DICTIONARY_PATH if dict_id == DICTIONARY_ID else FORMER_DICTIONARIES[dict_id]
    dictionary = zstandard.ZstdCompressionDict(path.read_bytes())
    if dictionary.dict_id() != dict_id:
        msg = f"{path.name} holds zstd dictionary {dictionary.dict_id()}, not {dict_id}"
        raise ValueError(msg)
    return dictionary


def training_samples(customers: int, days: int, seed: int) -> list[bytes]:
    """Blobs as the state store writes them (packed, not compressed), over simulated traffic."""
    # Imported here: the monitor imports this module for load_dictionary only.
    from detectors.blob_pack import pack
    from detectors.customer_fold import FoldParams, Memo, assess, new_state
    from detectors.state import _event
    from simulator import SimulationConfig, simulate

    config = SimulationConfig(
        seed=seed, customers=customers, days=days, start=datetime(2026, 1, 5, tzinfo=UTC)
    )
    params = FoldParams(lateness=3_600_000, dedup=259_200_000)  # config/default.toml
    states: dict[str, list] = {}
    memos: dict[str, Memo] = {}
    samples: list[bytes] = []
    for i, event in enumerate(simulate(config)):
        txn = event.txn
        cid = txn.customer_id
        if cid not in states:
            states[cid], memos[cid] = new_state(), Memo()
        assess(states[cid], _event(txn), params, memos[cid])
        if i % SAMPLE_EVERY == 0:
            samples.append(pack(states[cid]))
    return samples


def train(samples: list[bytes]) -> zstandard.ZstdCompressionDict:
    return zstandard.train_dictionary(
        DICTIONARY_BYTES, samples, dict_id=DICTIONARY_ID, threads=0, level=1
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DICTIONARY_PATH)
    args = parser.parse_args(argv)
    samples = training_samples(TRAINING_CUSTOMERS, TRAINING_DAYS, TRAINING_SEED)
    args.out.write_bytes(train(samples).as_bytes())


if __name__ == "__main__":
    main()

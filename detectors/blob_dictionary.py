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
instructions of the compress calls counted by valgrind's callgrind; the
last column is the mean of the 295 customers' final blobs after
bench.state's 28,124 events (1,511 bytes packed)::

    dictionary              level  bytes per blob  instructions  final blobs
    none                        1             991        102.8k        1,251
    4 KB (0x52570001)          -1             861         67.3k        1,106
    4 KB                       -2             915         47.0k
    8 KB (0x52570002)          -1             821         67.3k        1,055
    8 KB, written now          -2             880         48.8k        1,135
    8 KB                       -3             915         40.3k        1,183

(16 KB compressed no better than 8 KB: 831 and 890 bytes at -1 and -2.)
The first dictionary, 4 KB at level -1, made blobs smaller and cheaper than
level 1 without one (~7.5 us of CPU per write instead of ~12.5). The
second, 8 KB, is written at level -2 (``detectors/customer_fold.py``): 28 %
fewer instructions per compress than the first at -1, for blobs 2 % larger
(19 bytes per blob written, 28 per final blob); at -2 the first would write
blobs 35 bytes larger still. bench.state's Redis bytes per active customer:
1,841 with the first, 1,869 with the second (1,965 at -3).

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

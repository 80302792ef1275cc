"""Property test: random DMS change streams merged over several runs equal an independent replay.

Each seed generates a few keys with a full load and CDC changes (inserts, updates, deletes,
re-inserts, several changes per key per file, equal commit timestamps, rows out of order in a
file, a column that appears midway and one that disappears), splits them into batches and random
files with names that do not sort like the changes, delivers some files twice (under a second
name, in the same or a later run), and merges batch after batch with idle re-runs in between.
The expected table is a plain dict replay in change order, written without the job's code.
"""
import os
import random

import pytest

from cdc_helpers import T0, seq, spec, ts

CASES = int(os.environ.get("CDC_PROPERTY_CASES", "6"))
BASE_COLS = "id int, a int"


def generate(rng):
    keys = list(range(1, rng.randint(4, 9) + 1))
    loaded = rng.sample(keys, rng.randint(0, len(keys)))
    transfer = ts(10_000)  # full-load rows carry the transfer time: later than many CDC commits
    load_rows = [{"Op": "I", "_dms_commit_ts": transfer, "_dms_change_seq": None, "id": k, "a": rng.randint(0, 9)}
                 for k in loaded]
    rng.shuffle(load_rows)
    alive = set(loaded)
    changes = []
    total = rng.randint(12, 30)
    b_from, c_until = rng.randint(0, total), rng.randint(0, total)
    commit = 0
    for n in range(1, total + 1):
        if rng.random() < 0.6:
            commit += 1  # else: the same commit time as the previous change
        key = rng.choice(keys)
        if key in alive:
            op = "D" if rng.random() < 0.4 else "U"
        else:
            op = "I"
        row = {"Op": op, "_dms_commit_ts": ts(commit), "_dms_change_seq": seq(n), "id": key}
        if op == "D":
            alive.discard(key)
        else:
            alive.add(key)
            row["a"] = rng.randint(0, 99)
            if n > b_from:
                row["b"] = f"b{n}"
            if n <= c_until:
                row["c"] = rng.randint(100, 999)
        changes.append(row)
    return load_rows, changes


def expected_table(load_rows, changes):
    """Replay: full load (in order), then the changes by change sequence."""
    table = {}
    for row in load_rows:
        table[row["id"]] = {"a": row["a"], "b": None, "c": None}
    for row in sorted(changes, key=lambda r: r["_dms_change_seq"]):
        if row["Op"] == "D":
            table.pop(row["id"], None)
        else:
            table[row["id"]] = {"a": row.get("a"), "b": row.get("b"), "c": row.get("c")}
    return table


def columns_of(rows):
    """The file's columns: those its rows have (b once it appeared, c until it disappeared)."""
    return BASE_COLS + "".join(f", {ddl}" for name, ddl in (("b", "b string"), ("c", "c int")) if any(name in r for r in rows))


def split(rng, rows):
    """Contiguous random chunks."""
    chunks, i = [], 0
    while i < len(rows):
        size = rng.randint(1, 6)
        chunks.append(rows[i:i + size])
        i += size
    return chunks


@pytest.mark.parametrize("seed", range(CASES))
def test_random_change_streams_match_a_replay(lake, seed):
    rng = random.Random(seed)
    load_rows, changes = generate(rng)
    expected = expected_table(load_rows, changes)
    names = iter(rng.sample(range(1, 900), 200))  # file names that do not sort like the changes

    def cdc_name():
        moment = T0.replace(day=rng.randint(1, 3))
        return moment.strftime("%Y/%m/%d/%Y%m%d-%H%M%S") + f"{next(names):03d}.parquet"

    batches = [[] for _ in range(2)]
    if load_rows:
        half = rng.randint(0, len(load_rows))
        batches[0].append(("LOAD00000001.parquet", load_rows[:half]))
        batches[0].append(("LOAD00000002.parquet", load_rows[half:]))
    cut = sorted(rng.sample(range(len(changes) + 1), len(batches) - 1))
    bounds = [0] + cut + [len(changes)]
    delivered = []
    for index, batch in enumerate(batches):
        for chunk in split(rng, changes[bounds[index]:bounds[index + 1]]):
            chunk = list(chunk)
            if rng.random() < 0.3:
                rng.shuffle(chunk)  # row order in the file is not change order
            batch.append((cdc_name(), chunk))
        # Files delivered again under a second name (a full-load file under one fixed second
        # name, so a later re-delivery is the same name listed again): every later batch
        # carries one or two files of an earlier batch, sometimes one of its own.
        redeliver = [rng.choice(delivered) for _ in range(rng.randint(1, 2))] if delivered else []
        redeliver += [rng.choice(delivered + batch) for _ in range(rng.randint(0, 1))]
        for name, rows in redeliver:
            batch.append((cdc_name() if not name.startswith("LOAD") else "LOAD00000003.parquet", rows))
        delivered += batch
    # A last run that only gets old files again (a replayed or re-listed delivery).
    batches.append([(cdc_name() if not name.startswith("LOAD") else "LOAD00000003.parquet", rows)
                    for name, rows in rng.sample(delivered, min(len(delivered), 3))])

    table = "shop_prop_t"
    tables = [spec("prop.t")]
    for batch in batches:
        # Files of one schema are written together; a file's columns are those its rows have.
        groups = {}
        for name, rows in batch:
            if name.startswith("LOAD"):
                groups.setdefault(BASE_COLS, {})[name] = rows
            else:
                groups.setdefault(columns_of(rows), {})[name] = rows
        for columns, files in groups.items():
            lake.write("prop", "t", files, columns)
        lake.run(tables)
        if rng.random() < 0.5:
            [idle] = lake.run(tables)  # nothing new
            assert idle["filesMerged"] == 0

    got = {}
    for row in lake.spark.table(lake.ident(table)).collect():
        row = row.asDict()
        got[row["id"]] = {"a": row["a"], "b": row.get("b"), "c": row.get("c")}
    assert got == expected, f"seed {seed}"

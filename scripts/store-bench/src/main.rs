//! The index's band workload on two embedded stores: an index holding BASE documents gets
//! one batch of BATCH documents (32 random band keys each): every key looked up (its first
//! 65 documents), then every (key, doc) row inserted in key order, then the commit. Each
//! store is built to BASE first (untimed), closed, then opened again and timed on the batch,
//! as one `samestory index add` process would.
//!
//! ```sh
//! cargo run --release --manifest-path scripts/store-bench/Cargo.toml -- DIR BASE BATCH [sqlite|lmdb|lmdb-flat]
//! ```
//!
//! SQLite with samestory's settings (WAL, `synchronous=NORMAL`, 16 KiB pages, 64 MiB cache,
//! a `WITHOUT ROWID` table keyed by `(key, doc)`); LMDB through heed with a `DUP_SORT |
//! DUP_FIXED` database (key → sorted 4-byte documents), and `lmdb-flat`: one 12-byte key
//! `(key, doc)` a row with no value, SQLite's layout; default durability (synced commit).
//! Keys are 64-bit and random, as band keys are. DIR is created; delete it between runs.
use std::time::Instant;

const BANDS: u64 = 32;

fn rows(from: u64, to: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::with_capacity(((to - from) * BANDS) as usize);
    for doc in from..to {
        for b in 0..BANDS {
            // splitmix64 of (doc, band): random, reproducible keys.
            let mut z = (doc * BANDS + b).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            out.push((z ^ (z >> 31), doc as u32));
        }
    }
    out.sort_unstable();
    out
}

fn sqlite(dir: &std::path::Path, base: u64, batch: u64) {
    let path = dir.join("bands.sqlite");
    let open = || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "page_size", 16384).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.pragma_update(None, "synchronous", "NORMAL").unwrap();
        c.pragma_update(None, "cache_size", -65536).unwrap();
        c.execute_batch("CREATE TABLE IF NOT EXISTS bands(key INTEGER NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY(key, doc)) WITHOUT ROWID").unwrap();
        c
    };
    {
        let mut c = open();
        let mut from = 0;
        while from < base {
            let to = (from + 50_000).min(base);
            let tx = c.transaction().unwrap();
            {
                let mut ins = tx
                    .prepare("INSERT INTO bands(key, doc) VALUES (?1, ?2)")
                    .unwrap();
                for (k, d) in rows(from, to) {
                    ins.execute((k as i64, d)).unwrap();
                }
            }
            tx.commit().unwrap();
            from = to;
        }
    }
    let started = Instant::now();
    let mut c = open();
    let new = rows(base, base + batch);
    let tx = c.transaction().unwrap();
    let t0 = Instant::now();
    let mut found = 0usize;
    {
        let mut q = tx
            .prepare("SELECT doc FROM bands WHERE key = ?1 ORDER BY doc LIMIT 65")
            .unwrap();
        for &(k, _) in &new {
            found += q
                .query_map([k as i64], |r| r.get::<_, i64>(0))
                .unwrap()
                .count();
        }
    }
    let lookup = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    {
        let mut ins = tx
            .prepare("INSERT INTO bands(key, doc) VALUES (?1, ?2)")
            .unwrap();
        for &(k, d) in &new {
            ins.execute((k as i64, d)).unwrap();
        }
    }
    let insert = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    tx.commit().unwrap();
    drop(c);
    let commit = t0.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).unwrap().len();
    println!("sqlite base {base} batch {batch}: lookups {lookup:.3} s ({found} hits), inserts {insert:.3} s, commit+close {commit:.3} s, total {:.3} s, file {} MB", started.elapsed().as_secs_f64(), size >> 20);
}

/// LMDB through heed. `flat`: one 12-byte key `(key, doc)` a row with no value (SQLite's
/// layout); otherwise a `DUP_SORT | DUP_FIXED` database, key → sorted 4-byte documents.
fn lmdb(dir: &std::path::Path, base: u64, batch: u64, flat: bool) {
    use heed::types::Bytes;
    let name = if flat { "lmdb-flat" } else { "lmdb" };
    let path = dir.join(format!("bands-{name}"));
    std::fs::create_dir_all(&path).unwrap();
    let open = || unsafe {
        heed::EnvOpenOptions::new()
            .map_size(64 << 30)
            .max_dbs(4)
            .open(&path)
            .unwrap()
    };
    let flags = if flat {
        heed::DatabaseFlags::empty()
    } else {
        heed::DatabaseFlags::DUP_SORT | heed::DatabaseFlags::DUP_FIXED
    };
    let db_of = |env: &heed::Env, wtxn: &mut heed::RwTxn| {
        env.database_options()
            .types::<Bytes, Bytes>()
            .flags(flags)
            .name("bands")
            .create(wtxn)
            .unwrap()
    };
    // (key bytes, value bytes) of a row in this layout.
    let encode = |k: u64, d: u32| -> (Vec<u8>, Vec<u8>) {
        if flat {
            let mut key = k.to_be_bytes().to_vec();
            key.extend_from_slice(&d.to_be_bytes());
            (key, Vec::new())
        } else {
            (k.to_be_bytes().to_vec(), d.to_be_bytes().to_vec())
        }
    };
    let insert = |db: &heed::Database<Bytes, Bytes>, w: &mut heed::RwTxn, rows: &[(u64, u32)]| {
        for &(k, d) in rows {
            let (key, value) = encode(k, d);
            db.put(w, &key, &value).unwrap();
        }
    };
    {
        let env = open();
        let mut from = 0;
        while from < base {
            let to = (from + 50_000).min(base);
            let mut w = env.write_txn().unwrap();
            let db = db_of(&env, &mut w);
            insert(&db, &mut w, &rows(from, to));
            w.commit().unwrap();
            from = to;
        }
        env.prepare_for_closing().wait();
    }
    let started = Instant::now();
    let env = open();
    let new = rows(base, base + batch);
    let mut w = env.write_txn().unwrap();
    let db = db_of(&env, &mut w);
    let t0 = Instant::now();
    let mut found = 0usize;
    for &(k, _) in &new {
        let key = k.to_be_bytes();
        found += if flat {
            db.prefix_iter(&w, &key[..]).unwrap().take(65).count()
        } else {
            db.get_duplicates(&w, &key[..])
                .unwrap()
                .map_or(0, |it| it.take(65).count())
        };
    }
    let lookup = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    insert(&db, &mut w, &new);
    let insert = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    w.commit().unwrap();
    env.prepare_for_closing().wait();
    let commit = t0.elapsed().as_secs_f64();
    let size = std::fs::metadata(path.join("data.mdb")).unwrap().len();
    println!("{name} base {base} batch {batch}: lookups {lookup:.3} s ({found} hits), inserts {insert:.3} s, commit+close {commit:.3} s, total {:.3} s, file {} MB", started.elapsed().as_secs_f64(), size >> 20);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let base: u64 = args[2].parse().unwrap();
    let batch: u64 = args[3].parse().unwrap();
    let which = args.get(4).map(String::as_str).unwrap_or("both");
    std::fs::create_dir_all(&dir).unwrap();
    if which == "both" || which == "sqlite" {
        sqlite(&dir, base, batch);
    }
    if which == "both" || which == "lmdb" {
        lmdb(&dir, base, batch, false);
    }
    if which == "both" || which == "lmdb-flat" {
        lmdb(&dir, base, batch, true);
    }
}

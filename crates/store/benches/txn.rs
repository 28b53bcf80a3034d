//! Store micro benchmarks on the embedded directory store: a snapshot reading one document,
//! and writers committing one document durably (temporary file, fsync, rename, fsync of the
//! directory) or without the flush (what an operation's outcome uses: overwritten in place),
//! and the same without the in-place overwrite (a document over a page is always renamed).
//! Documents are 2 KiB, about a network with a few endpoints.
//!
//!   cargo bench -p underlay-store --bench txn     (the state lives in a temporary directory)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use store::{Batch, DirStore, Durability, Store};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = DirStore::open(dir.path()).expect("store");
    let doc = vec![b'x'; 2048];
    {
        let mut t = s.begin().unwrap();
        let mut batch = Batch::new(Durability::SurvivesPowerLoss);
        for i in 0..100 {
            batch.push_put(format!("networks/n{i}"), doc.clone());
        }
        t.commit(batch).unwrap();
    }
    let mut g = c.benchmark_group("store");
    g.bench_function("snapshot + get", |b| {
        b.iter(|| {
            let t = s.snapshot().unwrap();
            black_box(t.get("networks/n50").unwrap());
        })
    });
    let commit = |key: &str, doc: &[u8], durability| {
        let mut t = s.begin().unwrap();
        t.commit(Batch::new(durability).put(key, black_box(doc)))
            .unwrap();
    };
    g.bench_function("commit, survives power loss", |b| {
        b.iter(|| commit("networks/n50", &doc, Durability::SurvivesPowerLoss))
    });
    g.bench_function("commit, survives process death (in place)", |b| {
        b.iter(|| commit("networks/n50", &doc, Durability::SurvivesProcessDeath))
    });
    let big = vec![b'x'; 5000];
    commit("networks/big", &big, Durability::SurvivesPowerLoss);
    g.bench_function("commit, survives process death (renamed)", |b| {
        b.iter(|| commit("networks/big", &big, Durability::SurvivesProcessDeath))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

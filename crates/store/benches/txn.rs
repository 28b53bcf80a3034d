//! Store micro benchmarks on the embedded directory store: a read transaction reading one
//! document, and write transactions replacing one document durably (temporary file, fsync,
//! rename, fsync of the directory) or atomically without the flush (what an operation's
//! outcome uses). Documents are 2 KiB, about a network with a few endpoints.
//!
//!   cargo bench -p underlay-store --bench txn     (the state lives in a temporary directory)

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use store::{DirStore, Store};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = DirStore::open(dir.path()).expect("store");
    let doc = vec![b'x'; 2048];
    {
        let mut t = s.write().unwrap();
        for i in 0..100 {
            t.put(&format!("networks/n{i}"), &doc).unwrap();
        }
    }
    let mut g = c.benchmark_group("store");
    g.bench_function("read txn + get", |b| {
        b.iter(|| {
            let t = s.read().unwrap();
            black_box(t.get("networks/n50").unwrap());
        })
    });
    g.bench_function("write txn + put (durable)", |b| {
        b.iter(|| {
            let mut t = s.write().unwrap();
            t.put("networks/n50", black_box(&doc)).unwrap();
        })
    });
    g.bench_function("write txn + put_unsynced", |b| {
        b.iter(|| {
            let mut t = s.write().unwrap();
            t.put_unsynced("networks/n50", black_box(&doc)).unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

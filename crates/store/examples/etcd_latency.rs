//! Where a cluster-store request's time goes: opening the store, the first request (which
//! connects), later ones.   usage: etcd_latency etcd://HOST:PORT
use std::time::Instant;

use store::{Batch, Durability, EtcdConfig, EtcdStore, Expect, Store};

fn main() {
    let url = std::env::args().nth(1).expect("etcd://HOST:PORT");
    let t0 = Instant::now();
    let s = EtcdStore::open(EtcdConfig::parse(&url).unwrap()).unwrap();
    let t1 = Instant::now();
    let _ = s.snapshot().unwrap().get("probe/x").unwrap();
    let t2 = Instant::now();
    let _ = s.snapshot().unwrap().get("probe/x").unwrap();
    let t3 = Instant::now();
    let mut t = s.begin().unwrap();
    t.commit(
        Batch::new(Durability::SurvivesPowerLoss)
            .put("probe/y", *b"1")
            .expect("probe/z", Expect::Absent),
    )
    .unwrap();
    let t4 = Instant::now();
    println!(
        "open {:?}, first read (connects) {:?}, read {:?}, commit {:?}",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t4 - t3
    );
}

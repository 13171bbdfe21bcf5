//! LSH banding against the exact computation: 20,000 cases (2,000 texts of
//! 12 words, each in 10 versions with 0 to 8 words replaced), the exact
//! Jaccard similarity of every pair's shingle sets (brute force, 200
//! million pairs), and what `SimilarityIndex` finds at a threshold.
//!
//! `cargo run --release -p triage-benches --example lsh_recall [CASES]`
//!
//! Prints, per threshold: the pairs at or above it, the share LSH banding
//! proposes (candidate recall, the goal ≥ 0.98), the share the index
//! reports (after its estimated-similarity check), and of the pairs it
//! reports, the largest shortfall of the exact similarity below the
//! threshold.

use triage_core::similarity::{Fingerprint, SimilarityIndex, jaccard, shingles};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    let mut texts = Vec::with_capacity(n);
    while texts.len() < n {
        let base: Vec<u64> = (0..12).map(|_| next() % 20_000).collect();
        for v in 0..10 {
            let mut words = base.clone();
            for _ in 0..(v % 9) {
                let at = (next() % 12) as usize;
                words[at] = next() % 20_000;
            }
            texts.push(words.iter().map(|w| format!("w{w}")).collect::<Vec<_>>().join(" "));
        }
    }
    texts.truncate(n);
    let sets: Vec<Vec<u64>> = texts.iter().map(|t| shingles(Some(t), None)).collect();
    let prints: Vec<Fingerprint> = texts.iter().filter_map(|t| Fingerprint::of(Some(t), None)).collect();
    println!("{n} cases; exact Jaccard over {} pairs", n * (n - 1) / 2);
    println!(
        "| threshold | rows × bands | pairs ≥ threshold | LSH candidates found | index reports | largest shortfall |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    for threshold in [0.2, 0.4, 0.6, 0.8] {
        let mut index = SimilarityIndex::new(threshold);
        for (i, p) in prints.iter().enumerate() {
            index.insert(&i.to_string(), 0, &[], *p);
        }
        let (mut above, mut proposed, mut reported) = (0u64, 0u64, 0u64);
        let mut shortfall: f64 = 0.0;
        for i in 0..n {
            let candidates = index.candidates(&[], &prints[i]);
            let found = index.query(0, &[], &prints[i]);
            let found_ids: std::collections::BTreeSet<&str> = found.iter().map(|s| s.case_id.as_str()).collect();
            for j in i + 1..n {
                let exact = jaccard(&sets[i], &sets[j]);
                let id = j.to_string();
                if exact >= threshold {
                    above += 1;
                    proposed += u64::from(candidates.binary_search(&id).is_ok());
                    reported += u64::from(found_ids.contains(id.as_str()));
                }
                if found_ids.contains(id.as_str()) {
                    shortfall = shortfall.max(threshold - exact);
                }
            }
        }
        let rows = triage_core::similarity::rows_for(threshold);
        println!(
            "| {threshold} | {rows} × {} | {above} | {:.4} | {:.4} | {:.3} |",
            triage_core::similarity::SIGNATURE_LEN / rows,
            proposed as f64 / above.max(1) as f64,
            reported as f64 / above.max(1) as f64,
            shortfall
        );
    }
}

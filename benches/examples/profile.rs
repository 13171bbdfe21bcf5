//! Runs one benchmark workload in a loop, for profilers:
//! `cargo run --release -p triage-benches --example profile -- keyword|field|example|serve|corpus|write|territory|hierarchy|deflect|escalate|assign|reassign|greedy|optimal|load|lint [iterations]`
//! (`serve` times reading, deciding and writing the sample case as `POST /v1/triage`
//! does, `THRASH=KiB` evicting the caches between cases and `ONLY=a.yaml,b.yaml`
//! keeping some rule files; `write` times the answer's JSON alone)
//! (`greedy` or `optimal` with 0 iterations compares the two plans' scores)

use triage_benches::{body_with, case, field_case, field_rules, global_support, keyword_rules};
use triage_core::{BatchMode, Directory, Options, triage};

/// The allocator the `triage` binary uses: allocation costs as it pays them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "example".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let now = chrono::DateTime::from_timestamp(1_772_438_400, 0).unwrap_or_default();
    let dir = Directory::new();
    let mut sink = 0usize;
    match which.as_str() {
        "keyword" => {
            let (rules, words) = keyword_rules(1000);
            let json = format!(r#"{{"id":"k","subject":"Export","body":"{}"}}"#, body_with(&words[1999]));
            let c = case(&json);
            for _ in 0..n {
                sink += triage(&rules, &c, &dir, now, &Options::default()).category.len();
            }
        }
        "field" => {
            let (rules, specs) = field_rules(500);
            let c = field_case(&specs[499]);
            for _ in 0..n {
                sink += triage(&rules, &c, &dir, now, &Options::default()).category.len();
            }
        }
        "escalate" => {
            let (rules, d) = global_support();
            let state = triage_benches::history(42, 50);
            let later = now + chrono::Duration::days(21);
            for _ in 0..n {
                sink += triage_core::escalate(&rules, &state, &d, later, &Options::default())
                    .map_or(0, |e| e.actions.len());
            }
        }
        "assign" => {
            let rules = triage_benches::assignment_rules();
            let d = triage_benches::roster(1_000);
            let cases = triage_benches::assignable_cases(64);
            for i in 0..n {
                sink += usize::from(triage(&rules, &cases[i % 64], &d, now, &Options::default()).agent.is_some());
            }
        }
        "reassign" => {
            let rules = triage_benches::assignment_rules();
            let d = triage_benches::roster(1_000);
            let cases = triage_benches::assignable_cases(64);
            let mut decided: Vec<_> = cases.iter().map(|c| triage(&rules, c, &d, now, &Options::default())).collect();
            for i in 0..n {
                triage_core::reassign(&rules, &cases[i % 64], &mut decided[i % 64], &d, now, &Options::default());
                sink += usize::from(decided[i % 64].agent.is_some());
            }
        }
        "greedy" | "optimal" => {
            let rules = triage_benches::assignment_rules();
            let (d, cases, mode) = if which == "greedy" {
                (triage_benches::roster(5_000), triage_benches::assignable_cases(100_000), BatchMode::Greedy)
            } else {
                (
                    triage_benches::roster_with_capacity(500, 5),
                    triage_benches::assignable_cases(2_000),
                    BatchMode::Optimal,
                )
            };
            let run = |mode| triage_core::assign_batch(&rules, &cases, &d, now, mode, &Options::default());
            for mode in [BatchMode::Greedy, BatchMode::Optimal].into_iter().filter(|_| n == 0) {
                let out = run(mode);
                let score: i64 = out.iter().filter_map(|x| x.assignment.as_ref()).map(|a| a.score).sum();
                let agents = out.iter().filter(|x| x.agent.is_some()).count();
                eprintln!("{}: {agents} with an agent, total score {score}", mode.name());
            }
            for _ in 0..n {
                sink += run(mode).len();
            }
        }
        "lint" => {
            // The lint over the 500-row routing table.
            let rules = triage_benches::routing_rules(&triage_benches::routing_rows(500, 7));
            let t = std::time::Instant::now();
            for _ in 0..n {
                sink += triage_core::lint(&rules).len();
            }
            let found = triage_core::lint(&rules);
            eprintln!("{} findings, {:?} a run", found.len(), t.elapsed() / u32::try_from(n.max(1)).unwrap_or(1));
            let mut chosen = std::collections::BTreeSet::new();
            for input in triage_benches::routing_inputs(200_000, 3) {
                if let Some(Ok(m)) = rules.table("routing").map(|t| t.evaluate(&input)) {
                    chosen.extend(m.row_ids().map(str::to_string));
                }
            }
            let unreachable: Vec<&str> = found.iter().filter_map(|f| f.rule.as_deref()).collect();
            let wrong: Vec<&&str> = unreachable.iter().filter(|r| chosen.contains(**r)).collect();
            eprintln!("{} rows chosen by 200,000 inputs; lint-unreachable rows chosen: {wrong:?}", chosen.len());
        }
        "load" => {
            let text = triage_benches::directory_text(10_000, 100_000);
            for _ in 0..n {
                let t = std::time::Instant::now();
                sink += Directory::from_text("d.json", &text).map(|d| d.len()).unwrap_or(0);
                eprintln!("{:?}", t.elapsed());
            }
        }
        "hierarchy" => {
            let list = triage_benches::accounts(100_000);
            for _ in 0..n {
                sink += Directory::from_accounts(list.clone()).map(|d| d.len()).unwrap_or(0);
            }
        }
        "territory" => {
            let rules = triage_benches::territory_only();
            let (_, d) = global_support();
            let cases = triage_benches::varied_cases(1000);
            for i in 0..n {
                sink += triage(&rules, &cases[i % cases.len()], &d, now, &Options::default()).category.len();
            }
        }
        "deflect" => {
            let (rules, d) = global_support();
            let c = case(
                r#"{"id":"b2","channel":"web","country":"Deutschland","postal_code":"80331","subject":"Forgot my password","body":"I am locked out of my account since this morning, please help me reset it."}"#,
            );
            for _ in 0..n {
                sink += triage(&rules, &c, &d, now, &Options::default()).category.len();
            }
        }
        "write" => {
            // Writing the sample case's decision as JSON, alone.
            let (rules, d) = triage_benches::global_support_full();
            let c = case(include_str!("../../rules/global-support/cases/outage-acme-de.json"));
            let decision = triage(&rules, &c, &d, now, &Options::default());
            let t = std::time::Instant::now();
            for _ in 0..n {
                let mut out = Vec::with_capacity(4096);
                serde_json::to_writer(&mut out, &decision).unwrap_or_default();
                sink += out.len();
            }
            eprintln!("write {:?}", t.elapsed() / u32::try_from(n.max(1)).unwrap_or(1));
        }
        "serve" => {
            // What `POST /v1/triage` does with the sample case, phase by
            // phase: read the body, decide with every rule file (assignment
            // too) and the example directory, write the answer.
            let (rules, d) = match std::env::var("ONLY") {
                Ok(only) => {
                    let root = std::path::Path::new("rules/global-support");
                    let texts: Vec<(String, String)> = only
                        .split(',')
                        .map(|f| (f.to_string(), std::fs::read_to_string(root.join(f)).unwrap_or_default()))
                        .collect();
                    let pairs: Vec<(&str, &str)> = texts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                    (triage_benches::compile(&pairs), triage_benches::global_support_full().1)
                }
                Err(_) => triage_benches::global_support_full(),
            };
            let body = include_str!("../../rules/global-support/cases/outage-acme-de.json");
            let mut took = [std::time::Duration::ZERO; 3];
            // THRASH=KiB: write that much memory between decisions, as a
            // server's network stack and other work would evict the caches.
            let thrash: usize = std::env::var("THRASH").ok().and_then(|v| v.parse().ok()).unwrap_or(0) * 1024;
            let mut junk = vec![0u8; thrash];
            for i in 0..n {
                junk.fill(i as u8);
                sink += junk.first().copied().unwrap_or(0) as usize;
                let t = std::time::Instant::now();
                let c = case(body);
                let t1 = std::time::Instant::now();
                let decision = triage(&rules, &c, &d, now, &Options::default());
                let t2 = std::time::Instant::now();
                let mut out = Vec::with_capacity(4096);
                serde_json::to_writer(&mut out, &decision).unwrap_or_default();
                let t3 = std::time::Instant::now();
                took[0] += t1 - t;
                took[1] += t2 - t1;
                took[2] += t3 - t2;
                sink += out.len();
            }
            let per = |d: std::time::Duration| d / u32::try_from(n.max(1)).unwrap_or(1);
            eprintln!("parse {:?}, decide {:?}, write {:?}", per(took[0]), per(took[1]), per(took[2]));
        }
        "corpus" => {
            // The example corpus decided case after case, as `triage run`
            // does (every rule file, the example directory).
            let (rules, d) = triage_benches::global_support_full();
            let cases: Vec<_> =
                include_str!("../../rules/global-support/cases/corpus.jsonl").lines().map(case).collect();
            // `TRACE=off` decides as `triage run` does for lean lines.
            let options = match std::env::var("TRACE").as_deref() {
                Ok("off") => Options::with_trace(triage_core::TraceLevel::Off),
                _ => Options::default(),
            };
            let t = std::time::Instant::now();
            for i in 0..n {
                sink += triage(&rules, &cases[i % cases.len()], &d, now, &options).category.len();
            }
            eprintln!("decide {:?}", t.elapsed() / u32::try_from(n.max(1)).unwrap_or(1));
        }
        _ => {
            let (rules, d) = global_support();
            let c = case(include_str!("../../rules/global-support/cases/outage-acme-de.json"));
            for _ in 0..n {
                sink += triage(&rules, &c, &d, now, &Options::default()).category.len();
            }
        }
    }
    eprintln!("{sink}");
}

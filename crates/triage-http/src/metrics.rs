//! The service's metrics, kept by a Prometheus recorder of its own (not the
//! process-wide one, so two services in one process, or many tests, keep
//! apart) and rendered at `GET /metrics` in the Prometheus text format.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `triage_http_requests_total` | counter | `route`, `status` (`499` when the client left before its answer was made) |
//! | `triage_http_request_duration_seconds` | histogram | `route` (until the answer's head is sent: for `/v1/triage/batch`, whose lines stream after it, the time to its first chunk) |
//! | `triage_decision_duration_seconds` | histogram | — (the core's work alone) |
//! | `triage_decisions_total` | counter | `category`, `tier`, `team` (`none` when unrouted) |
//! | `triage_manual_reviews_total` | counter | `reason` |
//! | `triage_reloads_total` | counter | `outcome` (`ok`, `refused`) |
//! | `triage_scheduler_replays_total` | counter | — (cases the scheduler replayed) |
//! | `triage_outbox_enqueued_total` | counter | — (actions put in the outbox, by requests and the scheduler) |
//! | `triage_deliveries_total` | counter | `sink`, `outcome` (`delivered`, `retry`, `dead`) |
//! | `triage_delivery_lateness_seconds` | histogram | `sink` (delivered instant minus due instant) |
//! | `triage_outbox_actions` | gauge | `state` (`pending`, `delivered`, `dead`; refreshed every 5 s by delivery) |
//! | `triage_rules_info` | gauge, 1, for the live version only | `version` |

use metrics::{Counter, Histogram, counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Latency buckets, seconds: 50 µs to 5 s.
const BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Request counter and duration histogram by route and status.
type RequestSeries = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// Decision counters by category, tier and team (`""` when unrouted; a
/// team's id is never empty): looked up by the decision's own `&str`s, so
/// counting one allocates nothing once its series exists.
type DecisionSeries = HashMap<String, HashMap<u8, HashMap<String, Counter>>>;

/// Histogram samples are kept by the recorder until they are drained into
/// their buckets, which rendering `/metrics` does; a service nobody scrapes
/// would keep every sample. Every this many recorded requests they are
/// drained anyway (the recorder's "upkeep"), so memory stays flat.
pub(crate) const UPKEEP_EVERY: u64 = 4096;

#[derive(Clone)]
pub(crate) struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    version: Arc<Mutex<Option<String>>>,
    /// Handles of the per-request series, found once by their labels
    /// (a registry lookup builds and hashes the labels every time); read
    /// under a shared lock, written only for a series not seen before.
    requests: Arc<RwLock<RequestSeries>>,
    decisions: Arc<RwLock<DecisionSeries>>,
    decision_duration: Histogram,
    /// Requests recorded, for the upkeep every [`UPKEEP_EVERY`].
    recorded: Arc<AtomicU64>,
    /// Upkeeps run, for tests.
    upkeeps: Arc<AtomicU64>,
}

impl Metrics {
    pub fn new() -> Self {
        // Only an empty bucket list is refused, and ours is not empty; were it
        // refused, histograms would be summaries instead.
        let builder = PrometheusBuilder::new().set_buckets(BUCKETS).unwrap_or_else(|_| PrometheusBuilder::new());
        // Delivery lateness: 10 ms to a day (a backfilled case is months late).
        let lateness = metrics_exporter_prometheus::Matcher::Full("triage_delivery_lateness_seconds".into());
        let builder = builder
            .set_buckets_for_metric(
                lateness,
                &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0, 86_400.0],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let decision_duration = with_local_recorder(&recorder, || histogram!("triage_decision_duration_seconds"));
        Metrics {
            recorder: Arc::new(recorder),
            handle,
            version: Arc::new(Mutex::new(None)),
            requests: Arc::default(),
            decisions: Arc::default(),
            decision_duration,
            recorded: Arc::default(),
            upkeeps: Arc::default(),
        }
    }

    fn with(&self, f: impl FnOnce()) {
        with_local_recorder(self.recorder.as_ref(), f);
    }

    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        let found = self.requests.read().ok().and_then(|known| known.get(&(route, status)).cloned());
        let (count, duration) = match found {
            Some(series) => series,
            None => {
                let Ok(mut known) = self.requests.write() else { return };
                known
                    .entry((route, status))
                    .or_insert_with(|| {
                        let status = status.to_string();
                        with_local_recorder(self.recorder.as_ref(), || {
                            (
                                counter!("triage_http_requests_total", "route" => route, "status" => status),
                                histogram!("triage_http_request_duration_seconds", "route" => route),
                            )
                        })
                    })
                    .clone()
            }
        };
        count.increment(1);
        duration.record(took.as_secs_f64());
        if self.recorded.fetch_add(1, Ordering::Relaxed) % UPKEEP_EVERY == UPKEEP_EVERY - 1 {
            self.handle.run_upkeep();
            self.upkeeps.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many times the recorder's samples were drained by
    /// [`Metrics::request`] (not by rendering).
    #[cfg(test)]
    pub fn upkeeps(&self) -> u64 {
        self.upkeeps.load(Ordering::Relaxed)
    }

    pub fn decision(&self, d: &triage_core::Decision, took: Duration) {
        self.decision_duration.record(took.as_secs_f64());
        let team = d.team.as_deref().unwrap_or("");
        let found = self
            .decisions
            .read()
            .ok()
            .and_then(|known| known.get(d.category.as_str())?.get(&d.tier)?.get(team).cloned());
        let count = match found {
            Some(c) => c,
            None => {
                let Ok(mut known) = self.decisions.write() else { return };
                let (category, tier) = (d.category.to_string(), d.tier.to_string());
                let label = if team.is_empty() { "none" } else { team }.to_string();
                known
                    .entry(category.clone())
                    .or_default()
                    .entry(d.tier)
                    .or_default()
                    .entry(team.to_string())
                    .or_insert_with(|| {
                        with_local_recorder(self.recorder.as_ref(), || {
                            counter!("triage_decisions_total", "category" => category, "tier" => tier, "team" => label)
                        })
                    })
                    .clone()
            }
        };
        count.increment(1);
        if let Some(r) = &d.manual_review {
            let reason = r.reason.clone();
            self.with(|| counter!("triage_manual_reviews_total", "reason" => reason).increment(1));
        }
    }

    /// A case the scheduler replayed, and the actions it put in the outbox.
    pub fn scheduled(&self, enqueued: usize) {
        self.with(|| counter!("triage_scheduler_replays_total").increment(1));
        self.enqueued(enqueued);
    }

    /// Actions put in the outbox (by a request or the scheduler).
    pub fn enqueued(&self, n: usize) {
        self.with(|| counter!("triage_outbox_enqueued_total").increment(n as u64));
    }

    /// An attempt to deliver an action to `sink`, and how late a delivery
    /// was after the action's due instant, seconds.
    pub fn delivery(&self, sink: &str, outcome: &'static str, late: Option<f64>) {
        let sink = sink.to_string();
        self.with(|| {
            counter!("triage_deliveries_total", "sink" => sink.clone(), "outcome" => outcome).increment(1);
            if let Some(late) = late {
                histogram!("triage_delivery_lateness_seconds", "sink" => sink).record(late);
            }
        });
    }

    /// The outbox's entries by state: `(pending, delivered, dead)`.
    pub fn outbox(&self, (pending, delivered, dead): (i64, i64, i64)) {
        self.with(|| {
            gauge!("triage_outbox_actions", "state" => "pending").set(pending as f64);
            gauge!("triage_outbox_actions", "state" => "delivered").set(delivered as f64);
            gauge!("triage_outbox_actions", "state" => "dead").set(dead as f64);
        });
    }

    pub fn reload(&self, ok: bool) {
        self.with(|| counter!("triage_reloads_total", "outcome" => if ok { "ok" } else { "refused" }).increment(1));
    }

    /// Makes `version` the one `triage_rules_info` names.
    pub fn rules_loaded(&self, version: &str) {
        if let Ok(mut v) = self.version.lock() {
            *v = Some(version.to_string());
        }
    }

    /// The metrics, and `triage_rules_info` for the live version only
    /// (written here rather than kept by the recorder, which would keep a
    /// series for every version ever loaded).
    pub fn render(&self) -> String {
        let mut text = self.handle.render();
        if let Some(v) = self.version.lock().ok().and_then(|v| v.clone()) {
            text.push_str(&format!(
                "# HELP triage_rules_info The rule set serving now.\n# TYPE triage_rules_info gauge\ntriage_rules_info{{version=\"{v}\"}} 1\n"
            ));
        }
        text
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]
mod tests {
    use super::*;

    #[test]
    fn histogram_samples_are_drained_without_a_scrape_and_none_is_lost() {
        let m = Metrics::new();
        let n = 2 * UPKEEP_EVERY + 10;
        for _ in 0..n {
            m.request("/v1/triage", 200, Duration::from_micros(70));
        }
        assert_eq!(m.upkeeps(), 2, "drained every {UPKEEP_EVERY} requests");
        let text = m.render();
        let count = text
            .lines()
            .find(|l| l.starts_with("triage_http_request_duration_seconds_count{route=\"/v1/triage\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok());
        assert_eq!(count, Some(n), "{text}");
        assert!(
            text.contains(&format!("triage_http_requests_total{{route=\"/v1/triage\",status=\"200\"}} {n}")),
            "{text}"
        );
    }

    #[test]
    fn decisions_are_counted_by_category_tier_and_team_without_mixing_teams() {
        let m = Metrics::new();
        let rules = "categories: [{ id: b, set: { category: billing } }]\ntiers: [{ id: t, tier: 1 }]";
        let (rules, diagnostics) = triage_core::compile_sources(&[("r.yaml", rules)]);
        let rules = rules.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let case = triage_core::Case::from_json(r#"{"id":"1"}"#).unwrap();
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let directory = triage_core::Directory::new();
        let mut d = triage_core::triage(&rules, &case, &directory, now, &triage_core::Options::default());
        assert_eq!((d.category.as_str(), d.tier), ("billing", 1));
        m.decision(&d, Duration::from_micros(5));
        m.decision(&d, Duration::from_micros(5));
        d.team = Some("finance".into());
        m.decision(&d, Duration::from_micros(5));
        let text = m.render();
        assert!(text.contains("triage_decisions_total{category=\"billing\",tier=\"1\",team=\"none\"} 2"), "{text}");
        assert!(text.contains("triage_decisions_total{category=\"billing\",tier=\"1\",team=\"finance\"} 1"), "{text}");
    }
}

//! The service's metrics, kept by a Prometheus recorder of its own (not the
//! process-wide one, so two services in one process, or many tests, keep
//! apart) and rendered at `GET /metrics` in the Prometheus text format.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `triage_http_requests_total` | counter | `route`, `status` |
//! | `triage_http_request_duration_seconds` | histogram | `route` |
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets, seconds: 50 µs to 5 s.
const BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Request counter and duration histogram by route and status.
type RequestSeries = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// Decision counters by category, tier and team.
type DecisionSeries = HashMap<(String, u8, Option<String>), Counter>;

#[derive(Clone)]
pub(crate) struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    version: Arc<Mutex<Option<String>>>,
    /// Handles of the per-request series, found once by their labels
    /// (a registry lookup builds and hashes the labels every time).
    requests: Arc<Mutex<RequestSeries>>,
    decisions: Arc<Mutex<DecisionSeries>>,
    decision_duration: Histogram,
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
        }
    }

    fn with(&self, f: impl FnOnce()) {
        with_local_recorder(self.recorder.as_ref(), f);
    }

    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        let Ok(mut known) = self.requests.lock() else { return };
        let (count, duration) = known.entry((route, status)).or_insert_with(|| {
            let status = status.to_string();
            with_local_recorder(self.recorder.as_ref(), || {
                (
                    counter!("triage_http_requests_total", "route" => route, "status" => status),
                    histogram!("triage_http_request_duration_seconds", "route" => route),
                )
            })
        });
        count.increment(1);
        duration.record(took.as_secs_f64());
    }

    pub fn decision(&self, d: &triage_core::Decision, took: Duration) {
        self.decision_duration.record(took.as_secs_f64());
        if let Ok(mut known) = self.decisions.lock() {
            let key = (d.category.to_string(), d.tier, d.team.as_ref().map(ToString::to_string));
            let count = known.entry(key).or_insert_with_key(|(category, tier, team)| {
                let (category, tier) = (category.clone(), tier.to_string());
                let team = team.clone().unwrap_or_else(|| "none".to_string());
                with_local_recorder(
                    self.recorder.as_ref(),
                    || counter!("triage_decisions_total", "category" => category, "tier" => tier, "team" => team),
                )
            });
            count.increment(1);
        }
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

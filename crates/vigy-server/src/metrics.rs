//! `/metrics`: the runtime's counters and histograms in the OpenMetrics
//! text format Prometheus scrapes, read from the runtime at scrape time
//! (nothing is copied on the tick path).

use axum::http::header;
use axum::routing::get;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use vigy_runtime::{Histogram, RuntimeHandle};

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(crate) fn router(runtime: RuntimeHandle) -> axum::Router {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(RuntimeCollector(runtime)));
    let registry = std::sync::Arc::new(registry);
    axum::Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, &registry).expect("writing to a String");
                ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
            }
        }),
    )
}

#[derive(Debug)]
struct RuntimeCollector(RuntimeHandle);

impl prometheus_client::collector::Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let m = self.0.metrics();
        let per_vigy = m.per_vigy();
        let mut ticks =
            encoder.encode_descriptor("vigy_ticks", "Ticks evaluated, by vigy.", None, MetricType::Counter)?;
        for (name, counts) in &per_vigy {
            ConstCounter::new(counts.ticks).encode(ticks.encode_family(&[("vigy", name.as_str())])?)?;
        }
        let mut failures = encoder.encode_descriptor(
            "vigy_tick_failures",
            "Ticks that failed, by vigy.",
            None,
            MetricType::Counter,
        )?;
        for (name, counts) in &per_vigy {
            ConstCounter::new(counts.failures).encode(failures.encode_family(&[("vigy", name.as_str())])?)?;
        }
        let mut actions = encoder.encode_descriptor(
            "vigy_actions",
            "Actions that reached a final result, by kind (kinds no handler takes count as `other`) and result.",
            None,
            MetricType::Counter,
        )?;
        for (kind, result, count) in m.actions() {
            ConstCounter::new(count)
                .encode(actions.encode_family(&[("kind", kind.as_str()), ("result", result.as_str())])?)?;
        }
        histogram(
            &mut encoder,
            "vigy_action_handler_duration_seconds",
            "How long action handler attempts took.",
            &m.handler_latency,
        )?;
        histogram(&mut encoder, "vigy_tick_duration_seconds", "How long evaluating a tick took.", &m.tick_duration)?;
        histogram(
            &mut encoder,
            "vigy_tick_lateness_seconds",
            "How late scheduled ticks started, against their due time.",
            &m.lateness,
        )?;
        let counters = [
            ("vigy_store_write_batches", "Write transactions committed.", &m.write_batches),
            ("vigy_store_runs_written", "Runs committed to the store.", &m.runs_written),
            (
                "vigy_store_runs_lost",
                "Runs given up uncommitted (only when shutting down while commits fail).",
                &m.runs_lost,
            ),
            ("vigy_store_commit_failures", "Write transactions that failed and were retried.", &m.commit_failures),
            (
                "vigy_ticks_held_back",
                "Scheduled ticks started late because the write queue was full.",
                &m.ticks_held_back,
            ),
            ("vigy_ticks_missed", "Due times that passed without a tick (downtime, a long tick).", &m.ticks_missed),
            (
                "vigy_ticks_caught_up",
                "Ticks run at once for a missed due time within its catch-up window.",
                &m.ticks_caught_up,
            ),
            (
                "vigy_ticks_waited",
                "Ticks that waited for a concurrency slot (a runtime-wide or label limit) before they started.",
                &m.ticks_waited,
            ),
            (
                "vigy_paused_on_failure",
                "Vigies that paused themselves after their allowed failures in a row.",
                &m.paused_on_failure,
            ),
            ("vigy_runtime_task_panics", "Runtime tasks (scheduler, writer) stopped by a panic.", &m.task_panics),
            (
                "vigy_quarantined",
                "Vigies disabled because their ticks kept ending their worker process.",
                &m.quarantined,
            ),
            ("vigy_leases_acquired", "Vigy leases claimed by this runtime.", &m.leases_acquired),
            ("vigy_leases_lost", "Vigy leases lost to expiry or another runtime (not released).", &m.leases_lost),
            (
                "vigy_leases_taken_over",
                "Vigy leases claimed after another runtime's had expired.",
                &m.leases_taken_over,
            ),
            ("vigy_store_runs_fenced", "Ticks refused at commit because their lease had moved.", &m.runs_fenced),
            (
                "vigy_action_results_fenced",
                "Action results refused because the vigy's lease had moved (its next owner carries the action out).",
                &m.action_results_fenced,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(std::sync::atomic::Ordering::Relaxed);
            ConstCounter::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let gauges = [
            ("vigy_store_write_queue_depth", "Finished ticks waiting for a commit.", &m.write_queue_depth),
            (
                "vigy_store_write_queue_bytes",
                "About how many bytes the ticks waiting for a commit hold.",
                &m.write_queue_bytes,
            ),
            ("vigy_leases_held", "Vigy leases this runtime holds.", &m.leases_held),
            ("vigy_ticks_waiting", "Ticks waiting for a concurrency slot now.", &m.ticks_waiting),
            (
                "vigy_outbox_depth",
                "Actions of this runtime's vigies committed and not yet resolved (waiting for or in a handler).",
                &m.actions_pending,
            ),
        ];
        for (name, help, value) in gauges {
            let value = value.load(std::sync::atomic::Ordering::Relaxed) as i64;
            ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }
}

fn histogram(encoder: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> std::fmt::Result {
    let buckets: Vec<(f64, u64)> =
        h.doubling_buckets().into_iter().map(|(bound, count)| (bound.as_secs_f64(), count)).collect();
    let count = buckets.iter().map(|b| b.1).sum();
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(h.sum().as_secs_f64(), count, &buckets, None)
}

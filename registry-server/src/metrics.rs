//! Process metrics in the Prometheus text format. A handful of atomics is all the server needs,
//! so no metrics framework is pulled in.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Duration,
};

#[derive(Default)]
pub struct Metrics {
    requests: [AtomicU64; 5],
    published: AtomicU64,
    rejected: AtomicU64,
    batches: AtomicU64,
    commit_micros: AtomicU64,
    log_length: AtomicU64,
    uploads: AtomicU64,
    upload_bytes: AtomicU64,
    downloads: AtomicU64,
}

impl Metrics {
    pub fn request(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.requests[class].fetch_add(1, Relaxed);
    }

    pub fn record_rejected(&self) {
        self.rejected.fetch_add(1, Relaxed);
    }

    pub fn commit_batch(&self, records: usize, took: Duration) {
        self.published.fetch_add(records as u64, Relaxed);
        self.batches.fetch_add(1, Relaxed);
        self.commit_micros
            .fetch_add(took.as_micros() as u64, Relaxed);
    }

    pub fn set_log_length(&self, len: usize) {
        self.log_length.store(len as u64, Relaxed);
    }

    pub fn upload(&self, bytes: u64) {
        self.uploads.fetch_add(1, Relaxed);
        self.upload_bytes.fetch_add(bytes, Relaxed);
    }

    pub fn download(&self) {
        self.downloads.fetch_add(1, Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# TYPE wtool_registry_http_requests_total counter");
        for (i, c) in self.requests.iter().enumerate() {
            let _ = writeln!(
                out,
                "wtool_registry_http_requests_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Relaxed)
            );
        }
        let mut counter = |name: &str, help: &str, v: &dyn std::fmt::Display| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "wtool_registry_records_published_total",
            "Records committed to the log.",
            &self.published.load(Relaxed),
        );
        counter(
            "wtool_registry_records_rejected_total",
            "Records rejected by validation or policy.",
            &self.rejected.load(Relaxed),
        );
        counter(
            "wtool_registry_commit_batches_total",
            "Durable commits (one checkpoint each).",
            &self.batches.load(Relaxed),
        );
        counter(
            "wtool_registry_commit_seconds_total",
            "Time spent validating and committing batches.",
            &(self.commit_micros.load(Relaxed) as f64 / 1e6),
        );
        counter(
            "wtool_registry_uploads_total",
            "Content uploads stored.",
            &self.uploads.load(Relaxed),
        );
        counter(
            "wtool_registry_upload_bytes_total",
            "Bytes of content stored.",
            &self.upload_bytes.load(Relaxed),
        );
        counter(
            "wtool_registry_content_downloads_total",
            "Content downloads served.",
            &self.downloads.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP wtool_registry_log_length Length of the published log.\n# TYPE wtool_registry_log_length gauge\nwtool_registry_log_length {}",
            self.log_length.load(Relaxed)
        );
        out
    }
}

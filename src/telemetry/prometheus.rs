//! A small Prometheus text-format registry: labelled counters, gauges and histograms, rendered in
//! exposition format 0.0.4. Enough for `/metrics` of the server and the daemon without pulling in
//! a metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Latency buckets in seconds, from 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, String)>) -> String {
    let mut pairs: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some((n, v)) = extra {
        pairs.push(format!("{n}=\"{v}\""));
    }
    if pairs.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", pairs.join(","))
    }
}

/// A counter (or gauge) family with labels.
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    label_names: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl CounterVec {
    /// A counter family.
    pub fn counter(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            kind: "counter",
            label_names,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// A gauge family.
    pub fn gauge(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
    ) -> Self {
        Self {
            kind: "gauge",
            ..Self::counter(name, help, label_names)
        }
    }

    /// Adds `by` to the series with these label values.
    pub fn add(&self, label_values: &[&str], by: f64) {
        let key: Vec<String> = label_values.iter().map(|s| (*s).to_owned()).collect();
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        *values.entry(key).or_insert(0.0) += by;
    }

    /// Increments the series with these label values.
    pub fn inc(&self, label_values: &[&str]) {
        self.add(label_values, 1.0);
    }

    /// Sets the series (gauges).
    pub fn set(&self, label_values: &[&str], value: f64) {
        let key: Vec<String> = label_values.iter().map(|s| (*s).to_owned()).collect();
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.insert(key, value);
    }

    /// Current value of a series.
    pub fn get(&self, label_values: &[&str]) -> f64 {
        let key: Vec<String> = label_values.iter().map(|s| (*s).to_owned()).collect();
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.get(&key).copied().unwrap_or(0.0)
    }

    /// Appends the family in exposition format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (key, value) in values.iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                labels(self.label_names, key, None),
                value
            );
        }
    }
}

#[derive(Clone)]
struct HistogramData {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A histogram family with labels.
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    label_names: &'static [&'static str],
    buckets: &'static [f64],
    values: Mutex<BTreeMap<Vec<String>, HistogramData>>,
}

impl HistogramVec {
    /// A histogram family with the given upper bounds.
    pub fn new(
        name: &'static str,
        help: &'static str,
        label_names: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        Self {
            name,
            help,
            label_names,
            buckets,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one observation.
    pub fn observe(&self, label_values: &[&str], value: f64) {
        let key: Vec<String> = label_values.iter().map(|s| (*s).to_owned()).collect();
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let data = values.entry(key).or_insert_with(|| HistogramData {
            counts: vec![0; self.buckets.len()],
            sum: 0.0,
            count: 0,
        });
        if let Some(i) = self.buckets.iter().position(|b| value <= *b) {
            data.counts[i] += 1;
        }
        data.sum += value;
        data.count += 1;
    }

    /// Appends the family in exposition format (cumulative buckets).
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        for (key, data) in values.iter() {
            let mut cumulative = 0;
            for (bound, count) in self.buckets.iter().zip(&data.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "{}_bucket{} {}",
                    self.name,
                    labels(self.label_names, key, Some(("le", bound.to_string()))),
                    cumulative
                );
            }
            let _ = writeln!(
                out,
                "{}_bucket{} {}",
                self.name,
                labels(self.label_names, key, Some(("le", "+Inf".to_owned()))),
                data.count
            );
            let _ = writeln!(
                out,
                "{}_sum{} {}",
                self.name,
                labels(self.label_names, key, None),
                data.sum
            );
            let _ = writeln!(
                out,
                "{}_count{} {}",
                self.name,
                labels(self.label_names, key, None),
                data.count
            );
        }
    }
}

/// Reads one sample from exposition text: the value of `name{labels}` where every given
/// `(label, value)` pair matches. Used by tests and benchmarks that scrape `/metrics`.
pub fn sample(text: &str, name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let matches = wanted.iter().all(|(k, v)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{k}=\"{v}\""))
        });
        if matches {
            let v: f64 = value.parse().ok()?;
            total = Some(total.unwrap_or(0.0) + v);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        let c = CounterVec::counter("t_requests_total", "Requests.", &["method", "status"]);
        c.inc(&["GET", "200"]);
        c.inc(&["GET", "200"]);
        c.inc(&["POST", "201"]);
        let h = HistogramVec::new("t_seconds", "Latency.", &["route"], &[0.1, 1.0]);
        h.observe(&["/a"], 0.05);
        h.observe(&["/a"], 0.5);
        let mut out = String::new();
        c.render(&mut out);
        h.render(&mut out);
        assert_eq!(
            sample(&out, "t_requests_total", &[("method", "GET")]),
            Some(2.0)
        );
        assert_eq!(sample(&out, "t_requests_total", &[]), Some(3.0));
        assert_eq!(
            sample(&out, "t_seconds_bucket", &[("le", "0.1")]),
            Some(1.0)
        );
        assert_eq!(
            sample(&out, "t_seconds_count", &[("route", "/a")]),
            Some(2.0)
        );
        assert!(out.contains("# TYPE t_seconds histogram"));
    }
}

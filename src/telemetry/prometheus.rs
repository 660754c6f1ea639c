//! `/metrics` of the server and the daemon on the `prometheus-client` crate (the Prometheus
//! project's own Rust client): typed label sets, OpenMetrics text exposition, and the one reader
//! tests and benchmarks use to scrape a sample back.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds, from 100 µs to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Registers metrics in a registry, one line each: `name, "help" => metric;` (the metric is
/// cloned; clones share their values).
#[macro_export]
macro_rules! register_metrics {
    ($registry:expr, $($name:literal, $help:literal => $metric:expr;)*) => {
        $( $registry.register($name, $help, $metric.clone()); )*
    };
}

/// A histogram family whose histograms share fixed buckets.
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// A histogram family with [`LATENCY_BUCKETS`].
pub fn latency_family<L: Clone + std::hash::Hash + Eq>() -> HistogramFamily<L> {
    Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS.iter().copied()))
}

/// The registry in OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).expect("writing to a String cannot fail");
    out
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
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;

    #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Labels {
        method: String,
        status: String,
    }

    #[test]
    fn renders_and_reads_back() {
        let requests = Family::<Labels, Counter>::default();
        let latency =
            Family::<Vec<(String, String)>, Histogram, fn() -> Histogram>::new_with_constructor(
                || Histogram::new([0.1, 1.0]),
            );
        let mut registry = Registry::default();
        registry.register("t_requests", "Requests.", requests.clone());
        registry.register("t_seconds", "Latency.", latency.clone());
        let labels = |method: &str, status: &str| Labels {
            method: method.into(),
            status: status.into(),
        };
        requests.get_or_create(&labels("GET", "200")).inc();
        requests.get_or_create(&labels("GET", "200")).inc();
        requests.get_or_create(&labels("POST", "201")).inc();
        let route = vec![("route".to_owned(), "/a".to_owned())];
        latency.get_or_create(&route).observe(0.05);
        latency.get_or_create(&route).observe(0.5);
        let out = render(&registry);
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
        assert!(out.ends_with("# EOF\n"));
    }
}

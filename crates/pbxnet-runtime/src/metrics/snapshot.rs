//! What a daemon's main loop hands to `/metrics`: a [`Snapshot`] of its
//! counters and gauges as plain owned values, filled between two packets
//! (copying integers only), and its rendering by `prometheus-client` in
//! OpenMetrics text or the Prometheus text format 0.0.4, off the loop.
//!
//! Pure: no sockets, no clock; the tests below render fixed snapshots.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of the Prometheus text format 0.0.4.
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The value of a gauge: an integer or a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GaugeValue {
    /// A count of things (addresses, days, a stratum).
    Int(i64),
    /// A measurement (seconds).
    Float(f64),
}

impl From<i64> for GaugeValue {
    fn from(v: i64) -> Self {
        GaugeValue::Int(v)
    }
}
impl From<u64> for GaugeValue {
    fn from(v: u64) -> Self {
        GaugeValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<u32> for GaugeValue {
    fn from(v: u32) -> Self {
        GaugeValue::Int(i64::from(v))
    }
}
impl From<u8> for GaugeValue {
    fn from(v: u8) -> Self {
        GaugeValue::Int(i64::from(v))
    }
}
impl From<usize> for GaugeValue {
    fn from(v: usize) -> Self {
        GaugeValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for GaugeValue {
    fn from(v: bool) -> Self {
        GaugeValue::Int(i64::from(v))
    }
}
impl From<f64> for GaugeValue {
    fn from(v: f64) -> Self {
        GaugeValue::Float(v)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(u64),
    Gauge(GaugeValue),
    /// An info metric's sample: its labels are the information, the value is 1.
    Info,
}

impl Value {
    fn metric_type(&self) -> MetricType {
        match self {
            Value::Counter(_) => MetricType::Counter,
            Value::Gauge(_) => MetricType::Gauge,
            Value::Info => MetricType::Info,
        }
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq)]
struct Family {
    /// Without the `_total` (counters) or `_info` (info) suffix: the encoder
    /// adds it.
    name: &'static str,
    help: &'static str,
    metric_type: MetricType,
    samples: Vec<(Labels, Value)>,
}

/// The counters and gauges of one daemon at one moment.
///
/// Samples of one name form one family, in the order first given; giving a
/// name again with another type is a programming error (it panics in debug
/// builds, the sample is left out in release builds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    families: Vec<Family>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter sample. `name` is given without `_total`: the encoder adds it.
    pub fn counter(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: u64,
    ) {
        debug_assert!(!name.ends_with("_total"), "{name}: the encoder adds _total");
        self.push(name, help, labels, Value::Counter(value));
    }

    /// A gauge sample.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: impl Into<GaugeValue>,
    ) {
        self.push(name, help, labels, Value::Gauge(value.into()));
    }

    /// An info sample (`<name>_info{labels} 1`). `name` is given without `_info`.
    pub fn info(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) {
        self.push(name, help, labels, Value::Info);
    }

    /// Whether the snapshot holds no sample.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    fn push(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        value: Value,
    ) {
        let metric_type = value.metric_type();
        let labels = labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
        match self.families.iter_mut().find(|f| f.name == name) {
            Some(family) if family.metric_type == metric_type => {
                family.samples.push((labels, value));
            }
            Some(_) => debug_assert!(false, "{name} given as two metric types"),
            None => self.families.push(Family {
                name,
                help,
                metric_type,
                samples: vec![(labels, value)],
            }),
        }
    }

    /// Appends the families of `other` (the runtime's own metrics).
    pub fn extend(&mut self, other: Snapshot) {
        for family in other.families {
            for (labels, value) in family.samples {
                let labels: Vec<(&'static str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                self.push(family.name, family.help, &labels, value);
            }
        }
    }

    /// Renders as OpenMetrics text (`openmetrics`) or the Prometheus text
    /// format 0.0.4, with `prometheus-client`'s encoders.
    pub fn render(self, openmetrics: bool) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        };
        // Writing to a String fails only on a broken encoder invariant.
        encoded.expect("encoding metrics into a String");
        out
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.families {
            let mut metric =
                encoder.encode_descriptor(family.name, family.help, None, family.metric_type)?;
            for (labels, value) in &family.samples {
                match value {
                    Value::Info => metric.encode_info(labels)?,
                    Value::Counter(v) => metric
                        .encode_family(labels)?
                        .encode_counter::<NoLabelSet, _, u64>(v, None)?,
                    Value::Gauge(GaugeValue::Int(v)) => {
                        metric.encode_family(labels)?.encode_gauge(v)?
                    }
                    Value::Gauge(GaugeValue::Float(v)) => {
                        metric.encode_family(labels)?.encode_gauge(v)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether an `Accept` header asks for OpenMetrics (Prometheus sends
/// `application/openmetrics-text;version=1.0.0,...;q=0.5,text/plain;...`);
/// anything else (curl, promtool, a browser) gets the 0.0.4 text format.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|part| {
            part.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/openmetrics-text")
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        let mut s = Snapshot::new();
        s.counter(
            "pbxnet_dhcp4_packets_received",
            "DHCPv4 messages received",
            &[("type", "discover")],
            3,
        );
        s.gauge(
            "pbxnet_dhcp4_addresses_assigned",
            "Addresses leased",
            &[("pool", "phones \"A\"")],
            2u64,
        );
        s.counter(
            "pbxnet_dhcp4_packets_received",
            "DHCPv4 messages received",
            &[("type", "request")],
            5,
        );
        s.gauge(
            "pbxnet_ntp_source_offset_seconds",
            "Offset",
            &[("source", "a")],
            -0.25,
        );
        s.info("pbxnet_build", "Version", &[("version", "0.1.0")]);
        s
    }

    #[test]
    fn openmetrics_groups_samples_by_family_and_ends_with_eof() {
        let text = sample().render(true);
        let expected = "\
# HELP pbxnet_dhcp4_packets_received DHCPv4 messages received
# TYPE pbxnet_dhcp4_packets_received counter
pbxnet_dhcp4_packets_received_total{type=\"discover\"} 3
pbxnet_dhcp4_packets_received_total{type=\"request\"} 5
# HELP pbxnet_dhcp4_addresses_assigned Addresses leased
# TYPE pbxnet_dhcp4_addresses_assigned gauge
pbxnet_dhcp4_addresses_assigned{pool=\"phones \\\"A\\\"\"} 2
# HELP pbxnet_ntp_source_offset_seconds Offset
# TYPE pbxnet_ntp_source_offset_seconds gauge
pbxnet_ntp_source_offset_seconds{source=\"a\"} -0.25
# HELP pbxnet_build Version
# TYPE pbxnet_build info
pbxnet_build_info{version=\"0.1.0\"} 1
# EOF
";
        assert_eq!(text, expected);
    }

    #[test]
    fn prometheus_text_names_counters_with_total_and_info_as_gauge() {
        let text = sample().render(false);
        assert!(text.contains("# TYPE pbxnet_dhcp4_packets_received_total counter\n"));
        assert!(text.contains("pbxnet_dhcp4_packets_received_total{type=\"request\"} 5\n"));
        assert!(text
            .contains("# TYPE pbxnet_build_info gauge\npbxnet_build_info{version=\"0.1.0\"} 1\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn extend_merges_families_of_the_same_name() {
        let mut a = Snapshot::new();
        a.counter("x", "X", &[("k", "1")], 1);
        let mut b = Snapshot::new();
        b.counter("x", "X", &[("k", "2")], 2);
        b.gauge("y", "Y", &[], 7u64);
        a.extend(b);
        let text = a.render(false);
        assert_eq!(text.matches("# TYPE x_total counter").count(), 1);
        assert!(text.contains("x_total{k=\"2\"} 2\n"));
        assert!(text.contains("y 7\n"));
    }

    #[test]
    fn accept_header_chooses_the_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
    }
}

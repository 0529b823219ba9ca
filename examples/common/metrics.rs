//! Reading the service's `/metrics` text, shared by the load and soak examples.

/// (VmRSS, VmHWM) in bytes from a Prometheus text exposition of
/// `zkinfer serve`'s `/metrics`.
pub fn memory_from_metrics(text: &str) -> Option<(f64, f64)> {
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((
        value("zkinfer_resident_memory_bytes")?,
        value("zkinfer_peak_resident_memory_bytes")?,
    ))
}

//! Reading a daemon's `/metrics` from inside its namespace (with curl, a
//! real HTTP client), checking the text with `promtool check metrics`
//! (Debian package `prometheus`), and looking values up in it.

use std::io::{self, Write};
use std::process::{Command, Stdio};

use crate::lab::Netns;

/// `GET http://<addr>/metrics` from inside `ns` with curl (the Prometheus
/// text format: curl sends no OpenMetrics `Accept`). Panics with curl's
/// error when the scrape fails.
pub fn scrape(ns: &Netns, addr: &str) -> String {
    let url = format!("http://{addr}/metrics");
    let out = ns
        .command("curl")
        .args(["-sS", "--fail", "--max-time", "10", &url])
        .output()
        .expect("running curl");
    assert!(
        out.status.success(),
        "scraping {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("metrics are UTF-8")
}

/// `promtool check metrics` on `text`: Ok, or Err with promtool's
/// complaints. An error also when promtool is not installed (run
/// tests/install-deps.sh).
pub fn promtool_check(text: &str) -> io::Result<()> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("promtool (Debian package prometheus, tests/install-deps.sh): {e}"),
            )
        })?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// The value of the sample `name{labels}` in Prometheus text: `labels` is
/// written as in the text (`type="ack"`, comma-separated, in the order the
/// daemon writes them), empty for a sample without labels. None when the
/// sample is absent.
pub fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines().find_map(|line| {
        let (head, value) = line.rsplit_once(' ')?;
        (head == series).then(|| value.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_samples_by_name_and_labels() {
        let text =
            "# TYPE a_total counter\na_total{type=\"ack\"} 3\na_total{type=\"offer\"} 4\nb 1.5\n";
        assert_eq!(sample(text, "a_total", "type=\"offer\""), Some(4.0));
        assert_eq!(sample(text, "b", ""), Some(1.5));
        assert_eq!(sample(text, "a_total", "type=\"nak\""), None);
        assert_eq!(sample(text, "a", ""), None);
    }
}

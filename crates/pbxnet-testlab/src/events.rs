//! A subscriber to a daemon's event socket for tests: connects, reads
//! every line on a thread, and lets the test wait for the event it expects.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pbxnet_inventory::Envelope;

/// A connected subscriber and the lines it has read so far.
#[derive(Debug)]
pub struct EventTap {
    lines: Arc<Mutex<Vec<String>>>,
    stream: UnixStream,
}

impl EventTap {
    /// Connects to the event socket at `path`. The daemon accepts it on its
    /// own loop: wait until its `status` counts the subscriber before
    /// causing the traffic to watch (events are live only).
    pub fn connect(path: &Path) -> std::io::Result<EventTap> {
        let stream = UnixStream::connect(path)?;
        let reader = stream.try_clone()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                sink.lock().expect("tap lines").push(line);
            }
        });
        Ok(EventTap { lines, stream })
    }

    /// Every line read so far, parsed (a line that is not a version-1
    /// event panics: the daemon must never write one).
    pub fn events(&self) -> Vec<Envelope> {
        self.lines
            .lock()
            .expect("tap lines")
            .iter()
            .map(|l| Envelope::from_json_line(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Waits up to `timeout` for an event `pick` accepts and returns it;
    /// on timeout, returns every event read, for the failure message.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut pick: impl FnMut(&Envelope) -> bool,
    ) -> Result<Envelope, Vec<Envelope>> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events();
            if let Some(found) = events.iter().find(|e| pick(e)) {
                return Ok(found.clone());
            }
            if Instant::now() >= deadline {
                return Err(events);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EventTap {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

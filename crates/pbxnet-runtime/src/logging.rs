//! Logging: human lines on a terminal, plain lines with syslog priority
//! prefixes and no timestamps under systemd (journald adds its own), or JSON.
//! The level can change on reload.

use std::io::IsTerminal;
use std::sync::OnceLock;

use pbxnet_config::{LogFormat, LogLevel, LogSettings};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

type Output = Box<dyn Layer<Registry> + Send + Sync>;
type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::layer::Layered<Output, Registry>>;

static FILTER: OnceLock<FilterHandle> = OnceLock::new();

fn filter_for(level: LogLevel) -> EnvFilter {
    // RUST_LOG, when set, wins: it is how a developer asks for more.
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level.as_str()))
}

/// The format `auto` stands for in this environment.
pub fn resolve_format(format: LogFormat) -> LogFormat {
    match format {
        LogFormat::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => LogFormat::Journald,
        LogFormat::Auto if std::io::stderr().is_terminal() => LogFormat::Human,
        LogFormat::Auto => LogFormat::Plain,
        other => other,
    }
}

/// Installs the global subscriber (once; later calls only change the level).
pub fn init(settings: &LogSettings) {
    if FILTER.get().is_some() {
        set_level(settings.level);
        return;
    }
    let (filter, handle) = reload::Layer::new(filter_for(settings.level));
    let output: Output = match resolve_format(settings.format) {
        LogFormat::Human | LogFormat::Auto => {
            Box::new(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        }
        LogFormat::Plain => Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::stderr),
        ),
        LogFormat::Journald => Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .event_format(JournaldFormat::default())
                .with_writer(std::io::stderr),
        ),
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(std::io::stderr),
        ),
    };
    if tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
}

/// Changes the level of the installed subscriber.
pub fn set_level(level: LogLevel) {
    if let Some(handle) = FILTER.get() {
        let _ = handle.reload(filter_for(level));
    }
}

/// sd-daemon(3) style: `<N>` priority prefix, no timestamp, no colours.
#[derive(Debug)]
struct JournaldFormat {
    inner: format::Format<format::Full, ()>,
}

impl Default for JournaldFormat {
    fn default() -> Self {
        JournaldFormat {
            inner: format::Format::default()
                .without_time()
                .with_ansi(false)
                .with_level(false)
                .with_target(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JournaldFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        write!(writer, "<{priority}>")?;
        self.inner.format_event(ctx, writer, event)
    }
}

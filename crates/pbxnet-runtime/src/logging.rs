//! Logging: human lines on a terminal, plain lines with syslog priority
//! prefixes and no timestamps under systemd (journald adds its own), or JSON.
//! Installed in two stages: a bootstrap stage at start ([`bootstrap`]),
//! then the configured format and level ([`init`]); the level can change on
//! reload.

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
type OutputHandle = reload::Handle<Output, Registry>;
type FilterHandle = reload::Handle<
    EnvFilter,
    tracing_subscriber::layer::Layered<reload::Layer<Output, Registry>, Registry>,
>;

/// The installed subscriber's output format and level, both replaceable.
struct Installed {
    output: OutputHandle,
    filter: FilterHandle,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Level of the bootstrap stage, before the configuration says otherwise.
const BOOTSTRAP_LEVEL: LogLevel = LogLevel::Info;

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

fn output_for(format: LogFormat) -> Output {
    match resolve_format(format) {
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
    }
}

/// The bootstrap stage: logs at info in the format `auto` picks, until
/// [`init`] applies the configured settings. Start-up messages logged before
/// the configuration is read (or when it cannot be) are not lost.
pub fn bootstrap() {
    install(&LogSettings {
        level: BOOTSTRAP_LEVEL,
        format: LogFormat::Auto,
    });
}

/// Applies the configured settings: installs the global subscriber, or
/// replaces the bootstrap stage's format and level.
pub fn init(settings: &LogSettings) {
    match INSTALLED.get() {
        Some(installed) => {
            let _ = installed.output.reload(output_for(settings.format));
            let _ = installed.filter.reload(filter_for(settings.level));
        }
        None => install(settings),
    }
}

fn install(settings: &LogSettings) {
    let (output, output_handle) = reload::Layer::new(output_for(settings.format));
    let (filter, filter_handle) = reload::Layer::new(filter_for(settings.level));
    if tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .try_init()
        .is_ok()
    {
        let _ = INSTALLED.set(Installed {
            output: output_handle,
            filter: filter_handle,
        });
    }
}

/// Changes the level of the installed subscriber.
pub fn set_level(level: LogLevel) {
    if let Some(installed) = INSTALLED.get() {
        let _ = installed.filter.reload(filter_for(level));
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

//! What every table's validation shares: where diagnostics go, name
//! lookups and duplicate names.

use std::collections::HashSet;
use std::ops::Range;

use pbxnet_config::{
    did_you_mean, Diagnostics, HostInterfaces, HumanDuration, Site, Source, Spanned,
};

/// The validation's view of the file: where diagnostics go, which text
/// their spans point into, the site and this host's interfaces (when the
/// loader read them).
pub(super) struct V<'a> {
    pub(super) src: &'a Source,
    pub(super) diags: &'a mut Diagnostics,
    pub(super) site: &'a Site,
    pub(super) host: Option<&'a HostInterfaces>,
}

impl V<'_> {
    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        let d = self.diags.error(self.src, span, key, msg);
        if !hint.is_empty() {
            d.set_hint(hint);
        }
    }
}

/// Index of the `what` named `name`, or an error naming the defined ones.
pub(super) fn lookup(
    v: &mut V<'_>,
    names: &[String],
    what: &str,
    key: String,
    name: &Spanned<String>,
) -> Option<usize> {
    let n = name.get_ref();
    if let Some(i) = names.iter().position(|x| x == n) {
        return Some(i);
    }
    let hint = match did_you_mean(n, names) {
        Some(s) => format!("did you mean `{s}`? defined {what}s: {}", names.join(", ")),
        None if names.is_empty() => format!("no {what} is defined; add a [[{what}]] table"),
        None => format!("defined {what}s: {}", names.join(", ")),
    };
    v.err(name.span(), key, format!("unknown {what} `{n}`"), hint);
    None
}

/// The names of a table's entries, with an error on each repeated one.
pub(super) fn unique_names<'a>(
    v: &mut V<'_>,
    table: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, n) in names.enumerate() {
        if !seen.insert(n.get_ref().clone()) {
            v.err(
                n.span(),
                format!("{table}[{i}].name"),
                format!("duplicate {table} name `{}`", n.get_ref()),
                "names must be unique",
            );
        }
        out.push(n.get_ref().clone());
    }
    out
}

pub(super) fn secs(d: &HumanDuration) -> u32 {
    u32::try_from(d.get().as_secs()).unwrap_or(u32::MAX)
}

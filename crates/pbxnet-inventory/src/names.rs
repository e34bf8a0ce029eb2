//! File names as devices ask for them.

/// The last component of a path or URL path, without a query string: the
/// site serves `Secured_Config/hap_conf.ini` and HTTP clients may add
/// `?mac=…`, but a chain step is known by its file name.
pub fn basename(path: &str) -> &str {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

//! Dropping root after the privileged sockets are bound.
//!
//! Two ways to run a daemon, both supported:
//! - started as root (by hand or by an init system without capabilities
//!   support): it binds its ports, then switches to the `user` of
//!   `site.toml` with [`drop_to`];
//! - started unprivileged with `CAP_NET_BIND_SERVICE` (and `CAP_NET_RAW`,
//!   `CAP_SYS_TIME` where needed) as ambient capabilities: the systemd units
//!   do this; [`drop_to`] then has nothing to do.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use nix::unistd::{getuid, setgid, setgroups, setuid, Uid, User};

/// True when running as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Switches to `user` (and its primary group, no supplementary groups) when
/// running as root; does nothing otherwise. The files in `hand_over` (the
/// control socket, created while still root) are given to `user` first, so
/// that they belong to the daemon's user as if it had created them. Fails
/// when the user does not exist: a daemon must not keep running as root by
/// mistake.
pub fn drop_to(user: &str, hand_over: &[&Path]) -> Result<()> {
    if !is_root() {
        return Ok(());
    }
    let entry = User::from_name(user)
        .with_context(|| format!("looking up user `{user}`"))?
        .ok_or_else(|| {
            anyhow!(
                "user `{user}` (site.toml `user`) does not exist; create it or remove the setting"
            )
        })?;
    for path in hand_over {
        std::os::unix::fs::chown(path, Some(entry.uid.as_raw()), Some(entry.gid.as_raw()))
            .with_context(|| format!("giving {} to user `{user}`", path.display()))?;
    }
    setgroups(&[entry.gid]).context("clearing supplementary groups")?;
    setgid(entry.gid).with_context(|| format!("switching to group {}", entry.gid))?;
    setuid(entry.uid).with_context(|| format!("switching to user `{user}`"))?;
    if getuid() != entry.uid || setuid(Uid::from_raw(0)).is_ok() {
        return Err(anyhow!(
            "privileges were not dropped: still able to regain root"
        ));
    }
    tracing::info!(user, uid = entry.uid.as_raw(), "dropped root privileges");
    Ok(())
}

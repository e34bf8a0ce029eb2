//! Option negotiation: RFC 2347 (framework), 2348 (blksize), 2349 (timeout,
//! tsize), 7440 (windowsize). Unknown options are ignored (RFC 2347); values
//! out of range make the server ignore that option (never refuse the whole
//! request: old phones send odd values and still want the file).

use std::time::Duration;

use crate::wire::{MAX_BLKSIZE, MIN_BLKSIZE};

/// Server-side limits that bound what a client may negotiate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest block size granted (the shell passes min(config cap, path MTU − 32)).
    pub max_blksize: u16,
    /// Largest window granted.
    pub max_windowsize: u16,
    /// Honour the client's `timeout` option.
    pub allow_timeout: bool,
    /// Answer `tsize`.
    pub allow_tsize: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blksize: 1468,
            max_windowsize: 64,
            allow_timeout: true,
            allow_tsize: true,
        }
    }
}

/// Result of negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Block size in use (512 without the option).
    pub blksize: u16,
    /// Window size in use (1 without the option).
    pub windowsize: u16,
    /// Fixed retransmission timeout asked by the client, if granted.
    pub timeout: Option<Duration>,
    /// Options to put in the OACK, in the client's order. Empty: no OACK,
    /// the transfer starts with DATA 1 (RFC 1350 behaviour).
    pub oack: Vec<(String, String)>,
}

/// Negotiate `requested` (names lower-case, as decoded) against `limits`.
/// `tsize` is the size the transfer will have on the wire when known
/// (octet: the file size; netascii: `None`, so tsize is not acknowledged;
/// an empty file's 0 is not acknowledged either).
/// `upload_tsize` handles a WRQ: the client's value is echoed back.
pub fn negotiate(
    requested: &[(String, String)],
    limits: &Limits,
    tsize: Option<u64>,
    is_write: bool,
) -> Negotiated {
    let mut n = Negotiated {
        blksize: 512,
        windowsize: 1,
        timeout: None,
        oack: Vec::new(),
    };
    for (name, value) in requested {
        match name.as_str() {
            "blksize" => {
                if let Ok(v) = value.parse::<u32>() {
                    if v >= u32::from(MIN_BLKSIZE) && v <= u32::from(MAX_BLKSIZE) {
                        let granted = (v as u16).min(limits.max_blksize.max(MIN_BLKSIZE));
                        n.blksize = granted;
                        n.oack.push((name.clone(), granted.to_string()));
                    }
                }
            }
            "windowsize" => {
                if let Ok(v) = value.parse::<u32>() {
                    if (1..=65535).contains(&v) {
                        let granted = (v as u16).min(limits.max_windowsize.max(1));
                        n.windowsize = granted;
                        n.oack.push((name.clone(), granted.to_string()));
                    }
                }
            }
            "timeout" if limits.allow_timeout => {
                if let Ok(v) = value.parse::<u32>() {
                    if (1..=255).contains(&v) {
                        n.timeout = Some(Duration::from_secs(u64::from(v)));
                        n.oack.push((name.clone(), v.to_string()));
                    }
                }
            }
            "tsize" if limits.allow_tsize => {
                if is_write {
                    if value.parse::<u64>().is_ok() {
                        n.oack.push((name.clone(), value.clone()));
                    }
                } else if let Some(size) = tsize.filter(|&size| size > 0) {
                    // A size of 0 is left out (RFC 2349 lets the server
                    // omit an option): curl 7.88 refuses `tsize 0` in an
                    // OACK and could not fetch an empty file.
                    n.oack.push((name.clone(), size.to_string()));
                }
            }
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn no_options_means_no_oack_and_rfc1350_defaults() {
        let n = negotiate(&[], &Limits::default(), Some(10), false);
        assert_eq!((n.blksize, n.windowsize, n.timeout), (512, 1, None));
        assert!(n.oack.is_empty());
    }

    #[test]
    fn caps_blksize_and_windowsize_and_answers_tsize() {
        let n = negotiate(
            &opts(&[
                ("blksize", "65464"),
                ("tsize", "0"),
                ("windowsize", "200"),
                ("timeout", "3"),
            ]),
            &Limits::default(),
            Some(33_554_432),
            false,
        );
        assert_eq!(n.blksize, 1468);
        assert_eq!(n.windowsize, 64);
        assert_eq!(n.timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            n.oack,
            opts(&[
                ("blksize", "1468"),
                ("tsize", "33554432"),
                ("windowsize", "64"),
                ("timeout", "3")
            ])
        );
    }

    /// curl 7.88 rejects `tsize 0` in an OACK: an empty file's size is left
    /// out, and with no other option there is no OACK at all (DATA 1, empty,
    /// is the whole transfer).
    #[test]
    fn an_empty_files_tsize_is_not_acknowledged() {
        let n = negotiate(&opts(&[("tsize", "0")]), &Limits::default(), Some(0), false);
        assert!(n.oack.is_empty(), "{:?}", n.oack);
        let n = negotiate(
            &opts(&[("tsize", "0"), ("blksize", "1024")]),
            &Limits::default(),
            Some(0),
            false,
        );
        assert_eq!(n.oack, opts(&[("blksize", "1024")]));
        let n = negotiate(&opts(&[("tsize", "0")]), &Limits::default(), Some(1), false);
        assert_eq!(n.oack, opts(&[("tsize", "1")]));
    }

    #[test]
    fn ignores_out_of_range_and_unknown_options() {
        let n = negotiate(
            &opts(&[
                ("blksize", "7"),
                ("windowsize", "0"),
                ("timeout", "256"),
                ("multicast", ""),
                ("tsize", "x"),
            ]),
            &Limits::default(),
            None,
            false,
        );
        assert_eq!((n.blksize, n.windowsize, n.timeout), (512, 1, None));
        assert!(n.oack.is_empty());
    }

    #[test]
    fn smaller_client_blksize_is_kept() {
        let n = negotiate(
            &opts(&[("blksize", "1024")]),
            &Limits::default(),
            None,
            false,
        );
        assert_eq!(n.blksize, 1024);
        assert_eq!(n.oack, opts(&[("blksize", "1024")]));
    }

    #[test]
    fn wrq_echoes_tsize() {
        let n = negotiate(&opts(&[("tsize", "4096")]), &Limits::default(), None, true);
        assert_eq!(n.oack, opts(&[("tsize", "4096")]));
    }
}

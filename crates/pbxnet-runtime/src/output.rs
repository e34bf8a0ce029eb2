//! Printing to stdout without panicking on a closed pipe.
//!
//! Rust ignores SIGPIPE, so a write to a pipe whose reader has gone
//! (`pbxnet-dhcpd leases | head`) fails with `EPIPE`, and `println!` turns
//! that into a panic. The CLI subcommands print through [`print`] instead:
//! a closed stdout ends the output quietly, as it would for a C program
//! killed by SIGPIPE.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout (adding a final newline when missing). A closed
/// pipe is not an error: the reader asked for no more. Any other write error
/// is returned.
pub fn print(text: &str) -> std::io::Result<()> {
    write_to(&mut std::io::stdout().lock(), text)
}

fn write_to(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    let result = out.write_all(text.as_bytes()).and_then(|()| {
        if text.ends_with('\n') {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    });
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_quietly() {
        assert!(write_to(&mut ClosedPipe, "leases\n").is_ok());
    }

    #[test]
    fn adds_the_final_newline_once() {
        let mut out = Vec::new();
        write_to(&mut out, "a\n").unwrap();
        write_to(&mut out, "b").unwrap();
        assert_eq!(out, b"a\nb\n");
    }
}

//! TFTP packet codec (RFC 1350, RFC 2347 OACK). No policy lives here.
//!
//! Decoding goes through a bounded [`Reader`] that fails on short input and
//! reports structured errors; encoding writes into a caller-provided `Vec`.

use std::fmt;

/// Largest datagram the engine accepts or builds: 4-byte header + the
/// largest RFC 2348 block size.
pub const MAX_PACKET: usize = 4 + MAX_BLKSIZE as usize;
/// RFC 2348 limits.
pub const MIN_BLKSIZE: u16 = 8;
/// RFC 2348 limits.
pub const MAX_BLKSIZE: u16 = 65464;
/// Longest request (RRQ/WRQ) packet accepted. RFC 2347 says 512 bytes; we
/// are lenient up to 1 KiB but no further (bounded work per request).
pub const MAX_REQUEST: usize = 1024;
/// At most this many options in one request.
pub const MAX_OPTIONS: usize = 16;

/// TFTP opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// Data block.
    Data = 3,
    /// Acknowledgement.
    Ack = 4,
    /// Error.
    Error = 5,
    /// Option acknowledgement (RFC 2347).
    Oack = 6,
}

/// Transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Binary, bytes as they are.
    Octet,
    /// NVT ASCII: LF ↔ CR LF, CR ↔ CR NUL on the wire.
    Netascii,
    /// Obsolete "mail" mode (always refused).
    Mail,
}

impl Mode {
    fn parse(s: &[u8]) -> Option<Self> {
        if s.eq_ignore_ascii_case(b"octet") {
            Some(Mode::Octet)
        } else if s.eq_ignore_ascii_case(b"netascii") {
            Some(Mode::Netascii)
        } else if s.eq_ignore_ascii_case(b"mail") {
            Some(Mode::Mail)
        } else {
            None
        }
    }

    /// The mode's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// TFTP error codes (RFC 1350, RFC 2347 code 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 0: not defined, see message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: option negotiation refused.
    OptionRefused,
    /// Any other value seen on the wire.
    Other(u16),
}

impl ErrorCode {
    /// Numeric code.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(c) => c,
        }
    }

    /// From the numeric code.
    pub fn from_code(c: u16) -> Self {
        match c {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            c => ErrorCode::Other(c),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorCode::NotDefined => "not defined",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full or allocation exceeded",
            ErrorCode::IllegalOperation => "illegal TFTP operation",
            ErrorCode::UnknownTid => "unknown transfer ID",
            ErrorCode::FileExists => "file already exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionRefused => "option negotiation refused",
            ErrorCode::Other(_) => "unknown error code",
        };
        write!(f, "{} ({s})", self.code())
    }
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// File name bytes exactly as sent (no NUL; may hold anything else,
    /// path policy is applied later).
    pub filename: Vec<u8>,
    /// Transfer mode.
    pub mode: Mode,
    /// Options in the order sent, names lower-cased.
    pub options: Vec<(String, String)>,
}

/// A decoded TFTP packet borrowing the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// RRQ.
    Rrq(Request),
    /// WRQ.
    Wrq(Request),
    /// DATA.
    Data {
        /// Block number (wraps).
        block: u16,
        /// Payload.
        data: &'a [u8],
    },
    /// ACK.
    Ack {
        /// Block number (wraps).
        block: u16,
    },
    /// ERROR.
    Error {
        /// Error code.
        code: ErrorCode,
        /// Message, lossily decoded.
        message: String,
    },
    /// OACK.
    Oack(Vec<(String, String)>),
}

/// Which field a decode error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Opcode.
    Opcode,
    /// Block number.
    Block,
    /// Error code.
    ErrorCode,
    /// Request file name.
    Filename,
    /// Request mode.
    Mode,
    /// Option name.
    OptionName,
    /// Option value.
    OptionValue,
    /// Error message.
    ErrorMessage,
}

/// Why a datagram could not be decoded. The engine drops such datagrams and
/// counts them; it never panics on peer input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the field needs.
    #[error("packet too short reading {field:?} at offset {offset}: need {needed} bytes, have {available}")]
    Short {
        /// Field being read.
        field: Field,
        /// Offset of the field.
        offset: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Unknown opcode.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A string field without its terminating NUL.
    #[error("{field:?} at offset {offset} is not NUL-terminated")]
    Unterminated {
        /// Field being read.
        field: Field,
        /// Offset of the field.
        offset: usize,
    },
    /// Mode string is none of octet/netascii/mail.
    #[error("unknown transfer mode ({len} bytes at offset {offset})")]
    UnknownMode {
        /// Offset of the mode field.
        offset: usize,
        /// Its length.
        len: usize,
    },
    /// Bytes after the last field (ACK, or odd option list).
    #[error("{count} trailing bytes at offset {offset}")]
    Trailing {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many.
        count: usize,
    },
    /// An option name or value that is not ASCII.
    #[error("{field:?} at offset {offset} is not printable ASCII")]
    NotAscii {
        /// Field.
        field: Field,
        /// Offset.
        offset: usize,
    },
    /// The same option twice (RFC 2347 forbids it).
    #[error("option {0:?} repeated")]
    DuplicateOption(String),
    /// Too many options.
    #[error("more than {max} options")]
    TooManyOptions {
        /// Limit.
        max: usize,
    },
    /// Datagram over the size limit for its kind.
    #[error("{kind} of {len} bytes exceeds {max}")]
    TooLong {
        /// Packet kind.
        kind: &'static str,
        /// Length seen.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Empty file name.
    #[error("empty file name")]
    EmptyFilename,
}

/// Bounded reader over a datagram: every read checks the remaining length.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// New reader at offset 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Read a big-endian u16.
    pub fn u16(&mut self, field: Field) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Take exactly `n` bytes.
    pub fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], DecodeError> {
        if self.left() < n {
            return Err(DecodeError::Short {
                field,
                offset: self.pos,
                needed: n,
                available: self.left(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Take the rest.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Read a NUL-terminated string (without the NUL); returns its offset too.
    pub fn cstr(&mut self, field: Field) -> Result<(usize, &'a [u8]), DecodeError> {
        let start = self.pos;
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                self.pos += n + 1;
                Ok((start, &rest[..n]))
            }
            None => Err(DecodeError::Unterminated {
                field,
                offset: start,
            }),
        }
    }

    /// Fail if anything is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(DecodeError::Trailing {
                offset: self.pos,
                count: self.left(),
            })
        }
    }
}

fn ascii_string(field: Field, offset: usize, b: &[u8]) -> Result<String, DecodeError> {
    if b.iter().all(|c| (0x20..0x7f).contains(c)) {
        // All printable ASCII: valid UTF-8.
        Ok(b.iter().map(|&c| c as char).collect())
    } else {
        Err(DecodeError::NotAscii { field, offset })
    }
}

fn decode_options(r: &mut Reader<'_>) -> Result<Vec<(String, String)>, DecodeError> {
    let mut options: Vec<(String, String)> = Vec::new();
    while r.left() > 0 {
        let (no, name) = r.cstr(Field::OptionName)?;
        let (vo, value) = r.cstr(Field::OptionValue)?;
        let name = ascii_string(Field::OptionName, no, name)?.to_ascii_lowercase();
        let value = ascii_string(Field::OptionValue, vo, value)?;
        if options.iter().any(|(n, _)| *n == name) {
            return Err(DecodeError::DuplicateOption(name));
        }
        if options.len() == MAX_OPTIONS {
            return Err(DecodeError::TooManyOptions { max: MAX_OPTIONS });
        }
        options.push((name, value));
    }
    Ok(options)
}

fn decode_request(r: &mut Reader<'_>) -> Result<Request, DecodeError> {
    let (_, filename) = r.cstr(Field::Filename)?;
    if filename.is_empty() {
        return Err(DecodeError::EmptyFilename);
    }
    let (offset, mode) = r.cstr(Field::Mode)?;
    let mode = Mode::parse(mode).ok_or(DecodeError::UnknownMode {
        offset,
        len: mode.len(),
    })?;
    // Some clients pad requests with NULs after the last field: tolerate
    // trailing NUL bytes only.
    let options = if r.buf[r.pos..].iter().all(|&b| b == 0) {
        r.rest();
        Vec::new()
    } else {
        decode_options(r)?
    };
    Ok(Request {
        filename: filename.to_vec(),
        mode,
        options,
    })
}

/// Decode one datagram.
pub fn decode(buf: &[u8]) -> Result<Packet<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    let op = r.u16(Field::Opcode)?;
    match op {
        1 | 2 => {
            if buf.len() > MAX_REQUEST {
                return Err(DecodeError::TooLong {
                    kind: "request",
                    len: buf.len(),
                    max: MAX_REQUEST,
                });
            }
            let req = decode_request(&mut r)?;
            Ok(if op == 1 {
                Packet::Rrq(req)
            } else {
                Packet::Wrq(req)
            })
        }
        3 => {
            if buf.len() > MAX_PACKET {
                return Err(DecodeError::TooLong {
                    kind: "DATA",
                    len: buf.len(),
                    max: MAX_PACKET,
                });
            }
            let block = r.u16(Field::Block)?;
            Ok(Packet::Data {
                block,
                data: r.rest(),
            })
        }
        4 => {
            let block = r.u16(Field::Block)?;
            r.finish()?;
            Ok(Packet::Ack { block })
        }
        5 => {
            let code = ErrorCode::from_code(r.u16(Field::ErrorCode)?);
            // Be lenient: a missing NUL on the message is common.
            let rest = r.rest();
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let message: String = rest[..end.min(255)]
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '?'
                    }
                })
                .collect();
            Ok(Packet::Error { code, message })
        }
        6 => {
            if buf.len() > MAX_REQUEST {
                return Err(DecodeError::TooLong {
                    kind: "OACK",
                    len: buf.len(),
                    max: MAX_REQUEST,
                });
            }
            Ok(Packet::Oack(decode_options(&mut r)?))
        }
        other => Err(DecodeError::UnknownOpcode(other)),
    }
}

/// Append a DATA header (payload follows, written by the caller).
pub fn encode_data_header(block: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Data as u16).to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Encode an ACK.
pub fn encode_ack(block: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Ack as u16).to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Encode an ERROR; the message is cut to 255 bytes and stripped of NULs.
pub fn encode_error(code: ErrorCode, message: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Error as u16).to_be_bytes());
    out.extend_from_slice(&code.code().to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0).take(255));
    out.push(0);
}

/// Encode an OACK.
pub fn encode_oack(options: &[(String, String)], out: &mut Vec<u8>) {
    out.extend_from_slice(&(Opcode::Oack as u16).to_be_bytes());
    for (n, v) in options {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

/// Encode a request (used by tests and the bench client).
pub fn encode_request(op: Opcode, req: &Request, out: &mut Vec<u8>) {
    out.extend_from_slice(&(op as u16).to_be_bytes());
    out.extend_from_slice(&req.filename);
    out.push(0);
    out.extend_from_slice(req.mode.as_str().as_bytes());
    out.push(0);
    for (n, v) in &req.options {
        out.extend_from_slice(n.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
}

/// Encode any packet (round-trip helper for tests and fuzzing).
pub fn encode(p: &Packet<'_>, out: &mut Vec<u8>) {
    match p {
        Packet::Rrq(r) => encode_request(Opcode::Rrq, r, out),
        Packet::Wrq(r) => encode_request(Opcode::Wrq, r, out),
        Packet::Data { block, data } => {
            encode_data_header(*block, out);
            out.extend_from_slice(data);
        }
        Packet::Ack { block } => encode_ack(*block, out),
        Packet::Error { code, message } => encode_error(*code, message, out),
        Packet::Oack(o) => encode_oack(o, out),
    }
}

#[cfg(test)]
mod tests;

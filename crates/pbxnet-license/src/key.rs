//! Key format: syntax check, payload bit-packing, Ed25519 signing and
//! verification. Layout (docs/license-keys.md):
//!
//! ```text
//! key text = base42( signature[64] ‖ payload )
//! payload  = schema:3 (=1) ‖ kind:1 (0 main, 1 CTI) ‖ major:4 ‖ edition:16 ‖ ack:16
//!            ‖ every catalogue field in catalogue order, each in its width
//!            ‖ zero padding to a byte, trailing zero bytes removed
//! signed   = "PBXNET-SWL" 0x01 ‖ kind ('M' | 'C') ‖ serial (u32 BE) ‖ payload
//! ```

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use thiserror::Error;

use crate::alphabet::{self, Base42Error};
use crate::bits::{BitReader, BitWriter, BitsError};
use crate::catalogue::{self, ValueError};
use crate::kind::{KeyKind, Serial};

/// Current payload schema version.
pub const SCHEMA: u32 = 1;
/// Ed25519 signature length.
pub(crate) const SIGNATURE_LEN: usize = 64;
const HEADER_BITS: u32 = 3 + 1 + 4 + 16 + 16;
/// Largest software major version a key can carry (seed: SWL Version 0..10).
pub const MAX_MAJOR_VERSION: u8 = 10;
const DOMAIN_TAG: &[u8] = b"PBXNET-SWL\x01";

/// The licence content of a key (everything but the serial and signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// Main or CTI.
    pub kind: KeyKind,
    /// Software major version the key is for (R2 → 2 …, 0..=10).
    pub major_version: u8,
    /// Edition number, 0..FFFF, incremented with each new key for a system.
    pub edition: u16,
    /// Acknowledgement code, 0..FFFF, reported back to the vendor.
    pub ack_code: u16,
    /// One value per catalogue service, in catalogue order.
    pub values: Vec<u32>,
}

/// Syntax failures: the text is not a key of this kind at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// Length outside the seed's limits.
    #[error("{kind} key is {len} characters; the allowed length is {min}..={max}")]
    Length {
        kind: KeyKind,
        len: usize,
        min: usize,
        max: usize,
    },
    /// Space, tab, CR or newline inside (or after) the key.
    #[error("whitespace (byte {byte:#04x}) at character {index}")]
    Whitespace { index: usize, byte: u8 },
    /// A character outside the alphabet.
    #[error("character {index} ({byte:#04x}) is not in the 42-symbol alphabet")]
    Symbol { index: usize, byte: u8 },
}

/// Decoding failures after the syntax check.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Syntax check failed.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// Base-42 layer failed.
    #[error(transparent)]
    Base42(#[from] Base42Error),
    /// Fewer bytes than a signature plus a header.
    #[error("decoded to {len} bytes, a key needs at least {min}")]
    TooShort { len: usize, min: usize },
    /// Payload longer than the kind allows.
    #[error("payload of {len} bytes, at most {max} for a {kind} key")]
    TooLong {
        kind: KeyKind,
        len: usize,
        max: usize,
    },
    /// Trailing zero byte (the encoder strips them).
    #[error("payload ends with a zero byte (not canonical)")]
    NonCanonical,
    /// Unknown schema version.
    #[error("payload schema {found}, this build reads schema {SCHEMA}")]
    Schema { found: u32 },
    /// The payload says main, the file says CTI, or the reverse.
    #[error("payload is a {found} key, expected a {expected} key")]
    KindMismatch { expected: KeyKind, found: KeyKind },
    /// Major version above 10.
    #[error("software major version {found} is above {MAX_MAJOR_VERSION}")]
    MajorVersion { found: u32 },
    /// A field's index is out of its range.
    #[error("field {id}: index {index} is out of range (max {max})")]
    Field {
        id: &'static str,
        index: u32,
        max: u32,
    },
    /// Bit reader failure.
    #[error(transparent)]
    Bits(#[from] BitsError),
    /// A cross-field rule fails (COUNTER7 above 25 without TAPI 2.1 server).
    #[error(transparent)]
    CrossField(ValueError),
}

/// Encoding / issuing failures (the order is wrong).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Wrong number of values.
    #[error("{kind} key needs {expected} values, got {got}")]
    ValueCount {
        kind: KeyKind,
        expected: usize,
        got: usize,
    },
    /// A value is refused.
    #[error(transparent)]
    Value(#[from] ValueError),
    /// Major version above 10.
    #[error("software major version {0} is above {MAX_MAJOR_VERSION}")]
    MajorVersion(u8),
    /// The packed payload is larger than the budget (catalogue bug).
    #[error("payload of {len} bytes exceeds {max}")]
    TooLong { len: usize, max: usize },
}

/// Signature check failure (no detail on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("signature does not verify for serial {serial}")]
pub struct SignatureError {
    /// Serial tried.
    pub serial: Serial,
}

/// Checks the seed's syntax rules: length, no whitespace, alphabet.
pub fn syntax_check(kind: KeyKind, text: &str) -> Result<(), SyntaxError> {
    let bytes = text.as_bytes();
    if let Some((index, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|(_, b)| b.is_ascii_whitespace())
    {
        return Err(SyntaxError::Whitespace { index, byte });
    }
    let (min, max) = kind.length_limits();
    if bytes.len() < min || bytes.len() > max {
        return Err(SyntaxError::Length {
            kind,
            len: bytes.len(),
            min,
            max,
        });
    }
    if let Some((index, &byte)) = bytes
        .iter()
        .enumerate()
        .find(|(_, b)| alphabet::digit_of(**b).is_none())
    {
        return Err(SyntaxError::Symbol { index, byte });
    }
    Ok(())
}

/// The key text held by a key file: one trailing `\n` at end of file is not
/// part of the key (seed §2.1.2); anything else stays and fails the syntax check.
pub fn key_text_from_file(content: &str) -> &str {
    content.strip_suffix('\n').unwrap_or(content)
}

impl License {
    /// A licence with every service at its default level.
    pub fn defaults(kind: KeyKind, major_version: u8) -> Self {
        Self {
            kind,
            major_version,
            edition: 0,
            ack_code: 0,
            values: catalogue::defaults(kind),
        }
    }

    /// Value of a service by id.
    pub fn get(&self, id: &str) -> Option<u32> {
        catalogue::find(self.kind, id).map(|(i, _)| self.values[i])
    }

    /// Sets a service by id (no validation; [`License::encode_payload`] validates).
    pub fn set(&mut self, id: &str, value: u32) -> bool {
        match catalogue::find(self.kind, id) {
            Some((i, _)) => {
                self.values[i] = value;
                true
            }
            None => false,
        }
    }

    /// Checks every value against the catalogue (all errors).
    pub fn check(&self) -> Vec<EncodeError> {
        let svcs = catalogue::services(self.kind);
        let mut errs = Vec::new();
        if self.values.len() != svcs.len() {
            errs.push(EncodeError::ValueCount {
                kind: self.kind,
                expected: svcs.len(),
                got: self.values.len(),
            });
            return errs;
        }
        if self.major_version > MAX_MAJOR_VERSION {
            errs.push(EncodeError::MajorVersion(self.major_version));
        }
        for (s, &v) in svcs.iter().zip(&self.values) {
            if let Err(e) = s.index_of(v) {
                errs.push(e.into());
            }
        }
        if let Err(e) = catalogue::check_cross_fields(self.kind, &self.values) {
            errs.push(e.into());
        }
        errs
    }

    /// Bit-packs the licence (canonical: trailing zero bytes removed).
    pub fn encode_payload(&self) -> Result<Vec<u8>, EncodeError> {
        if let Some(e) = self.check().into_iter().next() {
            return Err(e);
        }
        let mut w = BitWriter::new();
        w.write(SCHEMA, 3);
        w.write(self.kind.bit(), 1);
        w.write(u32::from(self.major_version), 4);
        w.write(u32::from(self.edition), 16);
        w.write(u32::from(self.ack_code), 16);
        for (s, &v) in catalogue::services(self.kind).iter().zip(&self.values) {
            w.write(s.index_of(v)?, s.width());
        }
        let mut bytes = w.into_bytes();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        if bytes.len() > self.kind.max_payload() {
            return Err(EncodeError::TooLong {
                len: bytes.len(),
                max: self.kind.max_payload(),
            });
        }
        Ok(bytes)
    }

    /// Unpacks a payload. `expected` is the kind the file name says, if known.
    pub fn decode_payload(expected: Option<KeyKind>, payload: &[u8]) -> Result<Self, DecodeError> {
        if payload.last() == Some(&0) {
            return Err(DecodeError::NonCanonical);
        }
        let mut r = BitReader::new(payload);
        // The shortest payload still has a schema; bits past the end read
        // as the zero padding that was stripped, so pad before reading.
        let schema = r.read(3).map_err(|_| DecodeError::TooShort {
            len: payload.len(),
            min: 1,
        })?;
        if schema != SCHEMA {
            return Err(DecodeError::Schema { found: schema });
        }
        let kind = if r.read(1)? == 0 {
            KeyKind::Main
        } else {
            KeyKind::Cti
        };
        if let Some(expected) = expected {
            if expected != kind {
                return Err(DecodeError::KindMismatch {
                    expected,
                    found: kind,
                });
            }
        }
        if payload.len() > kind.max_payload() {
            return Err(DecodeError::TooLong {
                kind,
                len: payload.len(),
                max: kind.max_payload(),
            });
        }
        let mut padded = payload.to_vec();
        padded.resize(kind.max_payload(), 0);
        let mut r = BitReader::new(&padded);
        r.read(4)?;
        let major = r.read(4)?;
        if major > u32::from(MAX_MAJOR_VERSION) {
            return Err(DecodeError::MajorVersion { found: major });
        }
        let edition = r.read(16)? as u16;
        let ack_code = r.read(16)? as u16;
        let mut values = Vec::with_capacity(catalogue::services(kind).len());
        for s in catalogue::services(kind) {
            let index = r.read(s.width())?;
            let v = s.value_of(index).ok_or(DecodeError::Field {
                id: s.id,
                index,
                max: s.max_index(),
            })?;
            values.push(v);
        }
        r.finish()?;
        catalogue::check_cross_fields(kind, &values).map_err(DecodeError::CrossField)?;
        debug_assert!(HEADER_BITS + catalogue::service_bits(kind) <= kind.max_payload() as u32 * 8);
        Ok(Self {
            kind,
            major_version: major as u8,
            edition,
            ack_code,
            values,
        })
    }
}

fn signed_message(kind: KeyKind, serial: Serial, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_TAG.len() + 5 + payload.len());
    m.extend_from_slice(DOMAIN_TAG);
    m.push(kind.tag());
    m.extend_from_slice(&serial.0.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// Issues a key: packs the licence, signs (kind, serial, payload), encodes.
pub fn issue(
    license: &License,
    serial: Serial,
    signing: &SigningKey,
) -> Result<String, EncodeError> {
    let payload = license.encode_payload()?;
    let sig = signing.sign(&signed_message(license.kind, serial, &payload));
    let mut bytes = sig.to_bytes().to_vec();
    bytes.extend_from_slice(&payload);
    let text = alphabet::encode(&bytes);
    debug_assert!(
        syntax_check(license.kind, &text).is_ok(),
        "issued key fails syntax"
    );
    Ok(text)
}

/// A key that passed the syntax check and decoded, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedKey {
    /// The licence it claims.
    pub license: License,
    signature: [u8; SIGNATURE_LEN],
    payload: Vec<u8>,
}

impl DecodedKey {
    /// Verifies the signature for a serial (`verify_strict`).
    pub fn verify(&self, serial: Serial, key: &VerifyingKey) -> Result<(), SignatureError> {
        let sig = Signature::from_bytes(&self.signature);
        key.verify_strict(
            &signed_message(self.license.kind, serial, &self.payload),
            &sig,
        )
        .map_err(|_| SignatureError { serial })
    }

    /// Raw payload bytes (for inspection).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Syntax check then decode. `kind` is the kind the file extension gives;
/// `None` (inspection of a bare key) tries main then CTI limits.
pub fn decode(kind: Option<KeyKind>, text: &str) -> Result<DecodedKey, DecodeError> {
    match kind {
        Some(k) => syntax_check(k, text)?,
        None => {
            if syntax_check(KeyKind::Main, text).is_err() {
                syntax_check(KeyKind::Cti, text)?;
            }
        }
    }
    let bytes = alphabet::decode(text.as_bytes())?;
    if bytes.len() <= SIGNATURE_LEN {
        return Err(DecodeError::TooShort {
            len: bytes.len(),
            min: SIGNATURE_LEN + 1,
        });
    }
    let (sig, payload) = bytes.split_at(SIGNATURE_LEN);
    let license = License::decode_payload(kind, payload)?;
    if let Some(k) = kind {
        let (_, max) = k.length_limits();
        debug_assert!(text.len() <= max);
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(sig);
    Ok(DecodedKey {
        license,
        signature,
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn test_signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn fully_loaded_keys_fit() {
        let sk = test_signing_key(7);
        for kind in KeyKind::ALL {
            let mut lic = License::defaults(kind, 10);
            lic.values = catalogue::maxima(kind);
            lic.edition = 0xFFFF;
            lic.ack_code = 0xFFFF;
            let text = issue(&lic, Serial(0xFFFF_FFFF), &sk).unwrap();
            // docs/license-keys.md: 136 and 130 characters.
            assert_eq!(text.len(), if kind == KeyKind::Main { 136 } else { 130 });
            let (_, max) = kind.length_limits();
            assert!(text.len() <= max, "{kind}: {} > {max}", text.len());
            syntax_check(kind, &text).unwrap();
            let d = decode(Some(kind), &text).unwrap();
            assert_eq!(d.license, lic);
            d.verify(Serial(0xFFFF_FFFF), &sk.verifying_key()).unwrap();
        }
    }

    #[test]
    fn emptiest_key_is_97_characters() {
        let text = issue(
            &License::defaults(KeyKind::Main, 3),
            Serial(1),
            &test_signing_key(5),
        )
        .unwrap();
        assert_eq!(text.len(), 97);
    }

    #[test]
    fn rejects_wrong_serial_kind_and_key() {
        let sk = test_signing_key(1);
        let lic = License::defaults(KeyKind::Main, 3);
        let text = issue(&lic, Serial(0x68DA), &sk).unwrap();
        let d = decode(Some(KeyKind::Main), &text).unwrap();
        d.verify(Serial(0x68DA), &sk.verifying_key()).unwrap();
        assert!(d.verify(Serial(0x68DB), &sk.verifying_key()).is_err());
        assert!(d
            .verify(Serial(0x68DA), &test_signing_key(2).verifying_key())
            .is_err());
        assert!(matches!(
            decode(Some(KeyKind::Cti), &text),
            Err(DecodeError::KindMismatch { .. })
        ));
    }

    #[test]
    fn syntax_rules() {
        assert!(matches!(
            syntax_check(KeyKind::Main, &"A".repeat(41)),
            Err(SyntaxError::Length { len: 41, .. })
        ));
        assert!(syntax_check(KeyKind::Main, &"A".repeat(42)).is_ok());
        assert!(matches!(
            syntax_check(KeyKind::Main, &"A".repeat(139)),
            Err(SyntaxError::Length { .. })
        ));
        assert!(syntax_check(KeyKind::Cti, &"A".repeat(17)).is_ok());
        assert!(matches!(
            syntax_check(KeyKind::Cti, &"A".repeat(16)),
            Err(SyntaxError::Length { .. })
        ));
        assert!(matches!(
            syntax_check(KeyKind::Cti, &"A".repeat(162)),
            Err(SyntaxError::Length { .. })
        ));
        let mut s = "A".repeat(50);
        s.push(' ');
        assert!(matches!(
            syntax_check(KeyKind::Main, &s),
            Err(SyntaxError::Whitespace { index: 50, .. })
        ));
        let s = format!("{}\r", "A".repeat(50));
        assert!(matches!(
            syntax_check(KeyKind::Main, &s),
            Err(SyntaxError::Whitespace { .. })
        ));
        let s = format!("{}1{}", "A".repeat(20), "A".repeat(30));
        assert!(matches!(
            syntax_check(KeyKind::Main, &s),
            Err(SyntaxError::Symbol {
                index: 20,
                byte: b'1'
            })
        ));
        assert_eq!(key_text_from_file("ABC\n"), "ABC");
        assert_eq!(key_text_from_file("ABC\r\n"), "ABC\r");
        assert_eq!(key_text_from_file("ABC\n\n"), "ABC\n");
    }

    #[test]
    fn serial_parsing() {
        assert_eq!("000068DA".parse::<Serial>().unwrap(), Serial(0x68DA));
        assert_eq!(
            "000068da".parse::<Serial>().unwrap().to_string(),
            "000068DA"
        );
        assert!("68DA".parse::<Serial>().is_err());
        assert!("0000 8DA".parse::<Serial>().is_err());
        assert!("+00068DA".parse::<Serial>().is_err());
    }

    #[test]
    fn short_keys_and_trailing_zero() {
        // A key made only of a signature has no payload.
        let text = alphabet::encode(&[0x55; 64]);
        assert!(matches!(
            decode(Some(KeyKind::Main), &text),
            Err(DecodeError::TooShort { .. })
        ));
        assert_eq!(
            License::decode_payload(None, &[0x20, 0x00]),
            Err(DecodeError::NonCanonical)
        );
        assert!(matches!(
            License::decode_payload(None, &[0xE0]),
            Err(DecodeError::Schema { found: 7 })
        ));
    }

    fn arb_license(kind: KeyKind) -> impl Strategy<Value = License> {
        let svcs = catalogue::services(kind);
        let idx: Vec<_> = svcs.iter().map(|s| 0..=s.max_index()).collect();
        (0u8..=10, any::<u16>(), any::<u16>(), idx).prop_map(
            move |(major, edition, ack_code, idx)| {
                let mut values: Vec<u32> = svcs
                    .iter()
                    .zip(idx)
                    .map(|(s, i)| s.value_of(i).unwrap())
                    .collect();
                if catalogue::check_cross_fields(kind, &values).is_err() {
                    let (i7, _) = catalogue::find(kind, "counter7").unwrap();
                    values[i7] = 25;
                }
                License {
                    kind,
                    major_version: major,
                    edition,
                    ack_code,
                    values,
                }
            },
        )
    }

    proptest! {
        #[test]
        fn payload_round_trips(lic in prop_oneof![arb_license(KeyKind::Main), arb_license(KeyKind::Cti)]) {
            let bytes = lic.encode_payload().unwrap();
            prop_assert!(bytes.len() <= lic.kind.max_payload());
            prop_assert_ne!(bytes.last(), Some(&0));
            prop_assert_eq!(License::decode_payload(Some(lic.kind), &bytes).unwrap(), lic);
        }

        #[test]
        fn decode_never_panics(text in "[ -~]{0,200}") {
            let _ = decode(None, &text);
            let _ = decode(Some(KeyKind::Main), &text);
            let _ = decode(Some(KeyKind::Cti), &text);
        }

        #[test]
        fn decode_never_panics_on_alphabet_text(text in "[23456789ABCDEFGHJKLMNPQRSTUVWXYZ#$%&()*+/@]{90,165}") {
            if let Ok(d) = decode(None, &text) {
                // Whatever decodes re-encodes canonically.
                prop_assert_eq!(d.license.encode_payload().unwrap(), d.payload.clone());
            }
        }

        #[test]
        fn decode_payload_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(l) = License::decode_payload(None, &bytes) {
                prop_assert_eq!(l.encode_payload().unwrap(), bytes);
            }
        }
    }
}

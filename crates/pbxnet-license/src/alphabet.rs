//! The seed's 42-symbol key alphabet and the base-42 text encoding.
//!
//! Seed 000 §2.1.2: upper-case letters except `I` and `O` (24), digits except
//! `0` and `1` (8), and `# $ / % & * + @ ( )` (10). The digit value of a
//! symbol is its index in [`ALPHABET`].
//!
//! A byte string of `n` bytes is read as one big-endian unsigned integer and
//! written in base 42 with exactly [`chars_for_bytes`]`(n)` symbols (leading
//! zero digits included), the smallest `L` with `42^L >= 256^n`. The map is
//! strictly increasing in `n`, so a text length names at most one byte length;
//! lengths outside the image and values `>= 256^n` are rejected, which makes
//! the encoding canonical (one text per byte string and back).

use thiserror::Error;

/// The 42 symbols, in digit order.
pub const ALPHABET: &[u8; 42] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ#$%&()*+/@";

/// Number of symbols.
pub(crate) const RADIX: u32 = 42;

const INVALID: u8 = 0xFF;

const fn build_table() -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
}

static DIGIT: [u8; 256] = build_table();

/// Digit value of a symbol, `None` if the byte is not in the alphabet.
pub(crate) fn digit_of(symbol: u8) -> Option<u8> {
    match DIGIT[symbol as usize] {
        INVALID => None,
        d => Some(d),
    }
}

/// Base-42 decoding failures (the text is made of valid symbols).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Base42Error {
    /// Byte `byte` at character `index` is not one of the 42 symbols.
    #[error("character {index} ({byte:#04x}) is not in the 42-symbol alphabet")]
    BadSymbol { index: usize, byte: u8 },
    /// No byte length encodes to exactly this many symbols.
    #[error("{len} symbols is not the length of any encoded byte string")]
    NonCanonicalLength { len: usize },
    /// Longer than any text this codec is meant for.
    #[error("{len} symbols is longer than the {MAX_TEXT}-symbol limit")]
    TooLong { len: usize },
    /// The number is too large for the byte length the text length implies.
    #[error("value does not fit in {bytes} bytes")]
    Overflow { bytes: usize },
}

/// Divides the big-endian number in `num` by `d` in place, returns the remainder.
fn divmod(num: &mut [u8], d: u32) -> u32 {
    let mut rem: u32 = 0;
    for b in num.iter_mut() {
        let cur = (rem << 8) | u32::from(*b);
        *b = (cur / d) as u8;
        rem = cur % d;
    }
    rem
}

/// Number of base-42 symbols used for a byte string of `n` bytes: the
/// smallest `L` with `42^L >= 256^n` (computed exactly, no floating point).
pub fn chars_for_bytes(n: usize) -> usize {
    // Count digits of 256^n - 1, i.e. n bytes of 0xFF.
    let mut num = vec![0xFFu8; n];
    let mut digits = 0;
    while num.iter().any(|&b| b != 0) {
        divmod(&mut num, RADIX);
        digits += 1;
    }
    digits
}

/// Byte length whose encoding is exactly `len` symbols, if any.
pub(crate) fn bytes_for_chars(len: usize) -> Option<usize> {
    // chars_for_bytes(n) >= n * 8 / 5.39.. > n, so n < len; and it grows by
    // 1 or 2 per byte, so estimate then check the neighbours.
    let estimate = (len as u64 * 5392 / 8000) as usize;
    let lo = estimate.saturating_sub(2);
    (lo..=estimate + 2).find(|&n| chars_for_bytes(n) == len)
}

/// Encodes bytes as base-42 text of exactly `chars_for_bytes(bytes.len())` symbols.
pub fn encode(bytes: &[u8]) -> String {
    let len = chars_for_bytes(bytes.len());
    let mut num = bytes.to_vec();
    let mut out = vec![ALPHABET[0]; len];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[divmod(&mut num, RADIX) as usize];
    }
    debug_assert!(num.iter().all(|&b| b == 0));
    // Only ASCII symbols were written.
    out.into_iter().map(char::from).collect()
}

/// Longest text [`decode`] accepts (the conversion is quadratic; keys are
/// at most 161 symbols).
pub(crate) const MAX_TEXT: usize = 1024;

/// Decodes base-42 text produced by [`encode`]; rejects anything else.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base42Error> {
    if text.len() > MAX_TEXT {
        return Err(Base42Error::TooLong { len: text.len() });
    }
    let mut digits = Vec::with_capacity(text.len());
    for (index, &byte) in text.iter().enumerate() {
        digits.push(digit_of(byte).ok_or(Base42Error::BadSymbol { index, byte })?);
    }
    let n =
        bytes_for_chars(text.len()).ok_or(Base42Error::NonCanonicalLength { len: text.len() })?;
    let mut num = vec![0u8; n];
    for d in digits {
        // num = num * 42 + d
        let mut carry = u32::from(d);
        for b in num.iter_mut().rev() {
            let cur = u32::from(*b) * RADIX + carry;
            *b = cur as u8;
            carry = cur >> 8;
        }
        if carry != 0 {
            return Err(Base42Error::Overflow { bytes: n });
        }
    }
    Ok(num)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alphabet_is_the_seed_alphabet() {
        assert_eq!(ALPHABET.len(), 42);
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 42, "symbols are distinct");
        for c in b'A'..=b'Z' {
            assert_eq!(
                digit_of(c).is_some(),
                c != b'I' && c != b'O',
                "{}",
                c as char
            );
        }
        for c in b'0'..=b'9' {
            assert_eq!(digit_of(c).is_some(), c >= b'2', "{}", c as char);
        }
        for c in b"#$/%&*+@()" {
            assert!(digit_of(*c).is_some());
        }
        for c in b"abz -_=!\n\r\t" {
            assert!(digit_of(*c).is_none());
        }
    }

    #[test]
    fn signature_and_payload_budgets_match_requirements() {
        // Ed25519 signature alone: >= 95 symbols.
        assert_eq!(chars_for_bytes(64), 95);
        // 138-symbol main key: 64 + 29 bytes; 161-symbol CTI key: 64 + 44.
        assert_eq!(chars_for_bytes(93), 138);
        assert!(chars_for_bytes(94) > 138);
        assert_eq!(chars_for_bytes(108), 161);
        assert!(chars_for_bytes(109) > 161);
    }

    #[test]
    fn chars_for_bytes_is_strictly_increasing() {
        let mut prev = chars_for_bytes(0);
        assert_eq!(prev, 0);
        for n in 1..200 {
            let c = chars_for_bytes(n);
            assert!(c > prev && c - prev <= 2, "n={n}");
            assert_eq!(bytes_for_chars(c), Some(n));
            prev = c;
        }
    }

    #[test]
    fn rejects_overflowing_value() {
        // 2 symbols can hold 0..1763, one byte only 0..255.
        assert_eq!(chars_for_bytes(1), 2);
        let max = encode(&[0xFF]);
        assert_eq!(decode(max.as_bytes()).unwrap(), vec![0xFF]);
        // "@@" = 1763 > 255.
        assert_eq!(decode(b"@@"), Err(Base42Error::Overflow { bytes: 1 }));
    }

    #[test]
    fn rejects_bad_symbols_and_lengths() {
        assert!(matches!(
            decode(b"2I"),
            Err(Base42Error::BadSymbol {
                index: 1,
                byte: b'I'
            })
        ));
        // Length 3 is chars_for_bytes(2); is there a length that no n maps to?
        let image: Vec<usize> = (0..40).map(chars_for_bytes).collect();
        let hole = (1..50)
            .find(|l| !image.contains(l))
            .expect("some length is skipped");
        let text = vec![b'2'; hole];
        assert_eq!(
            decode(&text),
            Err(Base42Error::NonCanonicalLength { len: hole })
        );
    }

    proptest! {
        #[test]
        fn round_trips_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..130)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), chars_for_bytes(bytes.len()));
            prop_assert!(text.bytes().all(|b| digit_of(b).is_some()));
            prop_assert_eq!(decode(text.as_bytes()).unwrap(), bytes);
        }

        #[test]
        fn decode_is_canonical(text in "[23456789ABCDEFGHJKLMNPQRSTUVWXYZ#$%&()*+/@]{0,170}") {
            // Whatever decodes re-encodes to the very same text.
            if let Ok(bytes) = decode(text.as_bytes()) {
                prop_assert_eq!(encode(&bytes), text);
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let _ = decode(&bytes);
        }
    }
}

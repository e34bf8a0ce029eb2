//! MSB-first bit packing for key payloads.

use thiserror::Error;

/// Bit reader failures.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BitsError {
    /// The payload ended before `needed` more bits at bit offset `at`.
    #[error("payload too short: {needed} bits needed at bit {at}, {available} left")]
    Short {
        at: usize,
        needed: u32,
        available: usize,
    },
    /// Padding after the last field is not all zero.
    #[error("non-zero padding bits after bit {at}")]
    NonZeroPadding { at: usize },
}

/// Number of bits needed to hold `max` (0 for 0).
pub(crate) const fn width_for(max: u32) -> u32 {
    u32::BITS - max.leading_zeros()
}

/// Appends fields MSB first.
#[derive(Debug, Default, Clone)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// Empty writer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes the low `width` bits of `value` (width <= 32; higher bits of
    /// `value` must be zero).
    pub(crate) fn write(&mut self, value: u32, width: u32) {
        debug_assert!(width <= 32);
        debug_assert!(
            width == 32 || value >> width == 0,
            "{value} does not fit {width} bits"
        );
        for i in (0..width).rev() {
            let bit = (value >> i) & 1;
            if self.bits % 8 == 0 {
                self.bytes.push(0);
            }
            if bit == 1 {
                let last = self.bytes.len() - 1;
                self.bytes[last] |= 0x80 >> (self.bits % 8);
            }
            self.bits += 1;
        }
    }

    /// Bits written so far.
    #[cfg(test)]
    pub(crate) fn bit_len(&self) -> usize {
        self.bits
    }

    /// The bytes, last one zero-padded.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads fields MSB first from a byte slice, failing on short input.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reader at bit 0.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn available(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// Reads `width` bits (<= 32).
    pub(crate) fn read(&mut self, width: u32) -> Result<u32, BitsError> {
        if (width as usize) > self.available() || width > 32 {
            return Err(BitsError::Short {
                at: self.pos,
                needed: width,
                available: self.available(),
            });
        }
        let mut v: u64 = 0;
        for _ in 0..width {
            let byte = self.data[self.pos / 8];
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        Ok(v as u32)
    }

    /// Checks that every remaining bit is zero.
    pub(crate) fn finish(self) -> Result<(), BitsError> {
        let at = self.pos;
        let mut r = self;
        while r.available() > 0 {
            let n = r.available().min(32) as u32;
            if r.read(n)? != 0 {
                return Err(BitsError::NonZeroPadding { at });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths() {
        assert_eq!(width_for(0), 0);
        assert_eq!(width_for(1), 1);
        assert_eq!(width_for(300), 9);
        assert_eq!(width_for(255), 8);
        assert_eq!(width_for(256), 9);
        assert_eq!(width_for(0xFFFF), 16);
    }

    #[test]
    fn packs_msb_first() {
        let mut w = BitWriter::new();
        w.write(0b101, 3);
        w.write(0b1, 1);
        w.write(0xAB, 8);
        assert_eq!(w.bit_len(), 12);
        assert_eq!(w.into_bytes(), vec![0b1011_1010, 0b1011_0000]);
    }

    #[test]
    fn rejects_short_and_dirty_padding() {
        let mut r = BitReader::new(&[0xFF]);
        assert_eq!(r.read(4).unwrap(), 0xF);
        assert!(matches!(
            r.read(5),
            Err(BitsError::Short {
                at: 4,
                needed: 5,
                available: 4
            })
        ));
        let r = BitReader::new(&[0x01]);
        assert_eq!(r.finish(), Err(BitsError::NonZeroPadding { at: 0 }));
    }

    proptest! {
        #[test]
        fn counters_round_trip(fields in proptest::collection::vec((0u32..=32, any::<u32>()), 0..60)) {
            let fields: Vec<(u32, u32)> = fields
                .into_iter()
                .map(|(w, v)| (w, if w == 32 { v } else { v & ((1u32 << w) - 1) }))
                .collect();
            let mut wr = BitWriter::new();
            for &(w, v) in &fields {
                wr.write(v, w);
            }
            let total: usize = fields.iter().map(|&(w, _)| w as usize).sum();
            prop_assert_eq!(wr.bit_len(), total);
            let bytes = wr.into_bytes();
            prop_assert_eq!(bytes.len(), total.div_ceil(8));
            let mut rd = BitReader::new(&bytes);
            for &(w, v) in &fields {
                prop_assert_eq!(rd.read(w).unwrap(), v);
            }
            prop_assert!(rd.finish().is_ok());
        }
    }
}

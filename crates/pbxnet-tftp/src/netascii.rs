//! Netascii conversion (RFC 1350 / RFC 764 NVT): local text uses LF line
//! ends; on the wire a line end is CR LF and a bare CR is CR NUL.
//!
//! Both converters are streaming and carry state across block boundaries
//! (a CR LF pair may be split between two DATA blocks). The encoder's state
//! is small and `Copy`, so a transfer can checkpoint it per block and
//! re-encode any unacknowledged block for a retransmission.

/// Local bytes → wire bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Encoder {
    /// Second byte of a pair that did not fit in the previous output.
    pending: Option<u8>,
}

impl Encoder {
    /// Fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when a byte is held over from the previous block.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Encode from `input` into `out` until `out` holds `max_out` bytes or the
    /// input is exhausted. Returns the number of input bytes consumed.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>, max_out: usize) -> usize {
        if out.len() < max_out {
            if let Some(b) = self.pending.take() {
                out.push(b);
            }
        }
        let mut used = 0;
        for &b in input {
            if out.len() >= max_out {
                break;
            }
            used += 1;
            let (first, second) = match b {
                b'\n' => (b'\r', Some(b'\n')),
                b'\r' => (b'\r', Some(0)),
                b => (b, None),
            };
            out.push(first);
            if let Some(s) = second {
                if out.len() < max_out {
                    out.push(s);
                } else {
                    self.pending = Some(s);
                }
            }
        }
        used
    }

    /// Bytes the whole `input` becomes on the wire (for tsize).
    pub fn encoded_len(input: &[u8]) -> u64 {
        input.len() as u64 + input.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64
    }
}

/// Wire bytes → local bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoder {
    /// The previous block ended with a CR.
    cr: bool,
}

impl Decoder {
    /// Fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decode one block, appending to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.cr {
                self.cr = false;
                match b {
                    b'\n' => out.push(b'\n'),
                    0 => out.push(b'\r'),
                    b'\r' => {
                        // CR CR: the first is a lone CR (non-conforming
                        // sender); keep it and look at the next.
                        out.push(b'\r');
                        self.cr = true;
                    }
                    other => {
                        out.push(b'\r');
                        out.push(other);
                    }
                }
            } else if b == b'\r' {
                self.cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// End of transfer: flush a dangling CR.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_in_blocks(input: &[u8], blk: usize) -> Vec<Vec<u8>> {
        let mut enc = Encoder::new();
        let mut pos = 0;
        let mut blocks = Vec::new();
        loop {
            let mut out = Vec::new();
            pos += enc.encode(&input[pos..], &mut out, blk);
            let last = out.len() < blk;
            blocks.push(out);
            if last {
                break;
            }
        }
        blocks
    }

    #[test]
    fn converts_lf_and_cr_to_wire_form() {
        let blocks = encode_in_blocks(b"a\nb\rc", 512);
        assert_eq!(blocks, vec![b"a\r\nb\r\0c".to_vec()]);
        assert_eq!(Encoder::encoded_len(b"a\nb\rc"), 7);
    }

    #[test]
    fn splits_pairs_across_block_boundaries() {
        // Block size 2: "a\n" → "a\r" | "\n" ...
        let blocks = encode_in_blocks(b"a\n\n", 2);
        assert_eq!(blocks.concat(), b"a\r\n\r\n");
        assert_eq!(blocks[0], b"a\r");
        assert_eq!(blocks[1], b"\n\r");
        assert_eq!(blocks[2], b"\n");
    }

    #[test]
    fn decodes_crlf_crnul_and_split_pairs() {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.decode(b"a\r", &mut out);
        d.decode(b"\nb\r", &mut out);
        d.decode(b"\0c\rx", &mut out);
        d.decode(b"\r", &mut out);
        d.finish(&mut out);
        assert_eq!(out, b"a\nb\rc\rx\r");
    }

    proptest::proptest! {
        #[test]
        fn roundtrip_any_bytes_any_block_size(input in proptest::collection::vec(proptest::num::u8::ANY, 0..2000), blk in 1usize..64) {
            let blocks = encode_in_blocks(&input, blk);
            let wire: Vec<u8> = blocks.concat();
            proptest::prop_assert_eq!(wire.len() as u64, Encoder::encoded_len(&input));
            for b in &blocks[..blocks.len() - 1] {
                proptest::prop_assert_eq!(b.len(), blk);
            }
            let mut d = Decoder::new();
            let mut out = Vec::new();
            for b in &blocks { d.decode(b, &mut out); }
            d.finish(&mut out);
            proptest::prop_assert_eq!(out, input);
        }
    }
}

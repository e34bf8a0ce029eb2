//! Fitting a reply into the client's maximum DHCP message size (option 57,
//! RFC 2132 §9.10; 576 when absent).
//!
//! The options the server sets itself (53, 54, 51, 58, 59, 1) and the echoed
//! 61 and 82 always stay in the options field. The others, in reply order,
//! go into the options field while they fit; when they do not all fit, the
//! `file` and then `sname` fields take options too (option 52 overload,
//! RFC 2131 §4.1, RFC 2132 §9.3) before anything is dropped. Each option is
//! placed whole in the first field with room for it; one that fits nowhere
//! is dropped and the next, smaller ones are still tried (first fit in reply
//! order: an option the client listed earlier in option 55 wins a contested
//! place).

use crate::wire::{option_wire_len, Overflow, Packet, FILE_ROOM, OVERLOAD_LEN, SNAME_ROOM};

/// Where a reply's optional options went.
#[derive(Debug, Default)]
pub(super) struct Fitted {
    /// Options placed in `file` / `sname` (empty: no overload).
    pub(super) overflow: Overflow,
    /// Codes that fit nowhere and were left out.
    pub(super) dropped: Vec<u8>,
}

/// Lays out the options of `r` after its first `fixed` ones so that the
/// message, plus `reserved` bytes still to come in the options field, is at
/// most `max` bytes long. Options that move or are dropped leave
/// `r.options`.
pub(super) fn fit(r: &mut Packet, fixed: usize, reserved: usize, max: usize) -> Fitted {
    if r.wire_len() + reserved <= max {
        return Fitted::default();
    }
    let optional: Vec<(u8, Vec<u8>)> = r
        .options
        .iter()
        .skip(fixed)
        .map(|(c, v)| (c, v.to_vec()))
        .collect();
    for (c, _) in &optional {
        r.options.remove(*c);
    }
    let room = max.saturating_sub(r.wire_len() + reserved);
    let plain = first_fit(&optional, &[room]);
    let overloaded = first_fit(
        &optional,
        &[room.saturating_sub(OVERLOAD_LEN), FILE_ROOM, SNAME_ROOM],
    );
    let use_overload = overloaded.dropped.len() < plain.dropped.len();
    let chosen = if use_overload { overloaded } else { plain };
    let mut fitted = Fitted {
        overflow: Overflow::default(),
        dropped: Vec::new(),
    };
    for ((c, v), place) in optional.into_iter().zip(chosen.placed) {
        match place {
            Some(0) => r.options.set(c, v),
            Some(1) => fitted.overflow.file.set(c, v),
            Some(_) => fitted.overflow.sname.set(c, v),
            None => fitted.dropped.push(c),
        }
    }
    fitted
}

/// One layout: for each option, the index of the field it went in.
struct Layout {
    placed: Vec<Option<usize>>,
    dropped: Vec<u8>,
}

/// Puts each option in the first field with room left for it.
fn first_fit(options: &[(u8, Vec<u8>)], rooms: &[usize]) -> Layout {
    let mut left = rooms.to_vec();
    let mut layout = Layout {
        placed: Vec::with_capacity(options.len()),
        dropped: Vec::new(),
    };
    for (c, v) in options {
        let need = option_wire_len(v.len());
        let place = left.iter().position(|room| *room >= need);
        if let Some(i) = place {
            left[i] -= need;
        } else {
            layout.dropped.push(*c);
        }
        layout.placed.push(place);
    }
    layout
}

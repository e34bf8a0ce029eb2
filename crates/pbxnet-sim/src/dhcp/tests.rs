//! The client on the wire: identity in the DISCOVER, binding, foreign
//! xids and backoff, NAK, RFC 3396 and overload decoding, malformed input.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::client::*;
use super::message::*;
use crate::wire::Mac;

const MAC: Mac = [0x00, 0x90, 0x8f, 0x61, 0xa0, 0x22];

fn id() -> ClientIdentity {
    ClientIdentity {
        mac: MAC,
        vendor_class: Some(b"450HD".to_vec()),
        user_class: Some(b"450HD".to_vec()),
        parameter_request: vec![1, 3, 6, 66, 67, 160, 42, 2, 120],
        host_name: None,
        broadcast: false,
    }
}

fn reply(xid: u32, mt: MessageType, yiaddr: [u8; 4], extra: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 236];
    b[0] = 2;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[16..20].copy_from_slice(&yiaddr);
    b[20..24].copy_from_slice(&[192, 168, 92, 246]);
    b[28..34].copy_from_slice(&MAC);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&[53, 1, mt as u8, 54, 4, 192, 168, 92, 246]);
    for (c, v) in extra {
        b.push(*c);
        b.push(v.len() as u8);
        b.extend_from_slice(v);
    }
    b.push(255);
    b
}

#[test]
fn discover_carries_identity_on_the_wire() {
    let now = Instant::now();
    let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
    let d = c.poll_transmit().unwrap();
    assert_eq!(d.len(), 300);
    assert_eq!(&d[28..34], &MAC);
    assert_eq!(&d[236..240], &MAGIC);
    // Options in order: 53, 61, 57, 60, 77, 55.
    let opts = &d[240..];
    assert_eq!(&opts[..3], &[53, 1, 1]);
    assert_eq!(&opts[3..5], &[61, 7]);
    let m = Message::decode(&d).unwrap();
    assert_eq!(m.options.get(60), Some(&b"450HD"[..]));
    assert_eq!(m.options.get(77), Some(&b"450HD"[..]));
    assert_eq!(
        m.options.get(55),
        Some(&[1, 3, 6, 66, 67, 160, 42, 2, 120][..])
    );
    assert_eq!(m.flags, 0);
    assert!(c.poll_transmit().is_none());
}

#[test]
fn binds_after_offer_and_ack() {
    let now = Instant::now();
    let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
    c.poll_transmit().unwrap();
    let xid = c.xid();
    c.handle_message(
        now,
        &reply(xid, MessageType::Offer, [192, 168, 92, 10], &[]),
    )
    .unwrap();
    let req = Message::decode(&c.poll_transmit().unwrap()).unwrap();
    assert_eq!(req.message_type().unwrap(), MessageType::Request);
    assert_eq!(req.options.get(50), Some(&[192, 168, 92, 10][..]));
    assert_eq!(req.options.get(54), Some(&[192, 168, 92, 246][..]));
    let url = b"tftp://192.168.92.246/;<MAC>.cfg";
    c.handle_message(
        now,
        &reply(
            xid,
            MessageType::Ack,
            [192, 168, 92, 10],
            &[(160, url), (51, &[0, 1, 81, 128])],
        ),
    )
    .unwrap();
    let l = c.lease().unwrap();
    assert_eq!(l.address, Ipv4Addr::new(192, 168, 92, 10));
    assert_eq!(l.lease_time, Some(86400));
    assert_eq!(
        l.options.text(160).unwrap(),
        "tftp://192.168.92.246/;<MAC>.cfg"
    );
    assert!(c.poll_timeout().is_none());
}

#[test]
fn ignores_foreign_xid_and_retransmits_with_backoff() {
    let now = Instant::now();
    let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
    c.poll_transmit().unwrap();
    let xid = c.xid();
    assert_eq!(
        c.handle_message(
            now,
            &reply(xid ^ 1, MessageType::Offer, [192, 168, 92, 10], &[])
        ),
        Err(ReplyProblem::NotOurs)
    );
    let t1 = c.poll_timeout().unwrap();
    let d1 = t1 - now;
    assert!(d1 >= Duration::from_millis(1500) && d1 <= Duration::from_millis(2500));
    c.handle_timeout(t1);
    assert!(c.poll_transmit().is_some());
    let d2 = c.poll_timeout().unwrap() - t1;
    assert!(d2 >= Duration::from_millis(3500) && d2 <= Duration::from_millis(4500));
    assert_eq!(c.retransmissions, 1);
}

#[test]
fn nak_restarts_discovery() {
    let now = Instant::now();
    let mut c = DhcpClient::new(id(), Backoff::default(), 1, now);
    c.poll_transmit().unwrap();
    let xid = c.xid();
    c.handle_message(
        now,
        &reply(xid, MessageType::Offer, [192, 168, 92, 10], &[]),
    )
    .unwrap();
    c.poll_transmit().unwrap();
    c.handle_message(now, &reply(xid, MessageType::Nak, [0, 0, 0, 0], &[]))
        .unwrap();
    let d = Message::decode(&c.poll_transmit().unwrap()).unwrap();
    assert_eq!(d.message_type().unwrap(), MessageType::Discover);
    assert_eq!(c.naks, 1);
}

#[test]
fn decodes_rfc3396_split_and_overload() {
    let mut b = reply(
        5,
        MessageType::Ack,
        [1, 2, 3, 4],
        &[(160, b"tftp://a"), (160, b"/x")],
    );
    assert_eq!(
        Message::decode(&b).unwrap().options.text(160).unwrap(),
        "tftp://a/x"
    );
    // Overload: option 67 in the file field.
    let end = b.len() - 1;
    b.truncate(end);
    b.extend_from_slice(&[52, 1, 1, 255]);
    b[108..116].copy_from_slice(&[67, 5, b'a', b'.', b'i', b'm', b'g', 255]);
    let m = Message::decode(&b).unwrap();
    assert_eq!(m.options.text(67).unwrap(), "a.img");
    assert_eq!(m.file, "");
}

#[test]
fn rejects_overrun_and_missing_end() {
    let mut b = reply(5, MessageType::Ack, [1, 2, 3, 4], &[]);
    let n = b.len();
    b[n - 1] = 66;
    b.push(9);
    b.push(b'x');
    assert!(matches!(
        Message::decode(&b),
        Err(DhcpDecodeError::OptionOverrun { code: 66, .. })
    ));
    let mut b = reply(5, MessageType::Ack, [1, 2, 3, 4], &[]);
    b.pop();
    assert_eq!(Message::decode(&b), Err(DhcpDecodeError::NoEnd));
}

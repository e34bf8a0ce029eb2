//! Option codes used by the devices.

/// Subnet mask.
pub(crate) const SUBNET_MASK: u8 = 1;
/// Time offset (signed seconds).
pub(crate) const TIME_OFFSET: u8 = 2;
/// Time servers (RFC 868).
pub(crate) const TIME_SERVERS: u8 = 4;
/// Host name.
pub(crate) const HOST_NAME: u8 = 12;
/// NTP servers.
pub(crate) const NTP_SERVERS: u8 = 42;
/// Vendor-specific information.
pub(crate) const VENDOR_SPECIFIC: u8 = 43;
/// Requested address.
pub(crate) const REQUESTED_IP: u8 = 50;
/// Lease time.
pub(crate) const LEASE_TIME: u8 = 51;
/// Option overload.
pub(crate) const OVERLOAD: u8 = 52;
/// Message type.
pub(crate) const MESSAGE_TYPE: u8 = 53;
/// Server identifier.
pub(crate) const SERVER_ID: u8 = 54;
/// Parameter request list.
pub(crate) const PARAMETER_REQUEST: u8 = 55;
/// Maximum message size.
pub(crate) const MAX_MESSAGE_SIZE: u8 = 57;
/// Vendor class identifier.
pub(crate) const VENDOR_CLASS: u8 = 60;
/// Client identifier.
pub(crate) const CLIENT_ID: u8 = 61;
/// TFTP server name.
pub(crate) const TFTP_SERVER: u8 = 66;
/// Boot file name.
pub(crate) const BOOTFILE: u8 = 67;
/// User class.
pub(crate) const USER_CLASS: u8 = 77;
/// SIP servers (RFC 3361).
pub(crate) const SIP_SERVERS: u8 = 120;
/// TFTP server addresses (RFC 5859).
pub(crate) const TFTP_SERVER_ADDRESS: u8 = 150;
/// AudioCodes provisioning URL.
pub(crate) const PROVISIONING_URL: u8 = 160;

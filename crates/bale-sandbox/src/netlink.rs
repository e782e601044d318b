//! Bringing the new network namespace's loopback up, with one rtnetlink
//! request (the socket ioctl would need unsafe code).

use std::io;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const IFF_UP: u32 = 1;
/// The loopback device is the first of every network namespace.
const LOOPBACK_INDEX: i32 = 1;

pub(crate) fn loopback_up() -> io::Result<()> {
    let socket = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    let mut message = Vec::with_capacity(32);
    // struct nlmsghdr
    message.extend_from_slice(&32u32.to_ne_bytes());
    message.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family, padding, type, index, flags, change
    message.extend_from_slice(&[0, 0, 0, 0]);
    message.extend_from_slice(&LOOPBACK_INDEX.to_ne_bytes());
    message.extend_from_slice(&IFF_UP.to_ne_bytes());
    message.extend_from_slice(&IFF_UP.to_ne_bytes());
    rustix::net::sendto(&socket, &message, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut reply = [0u8; 256];
    let (len, _) = rustix::net::recv(&socket, &mut reply, RecvFlags::empty())?;
    // The acknowledgement is an NLMSG_ERROR whose error is 0.
    if len < 20 || u16::from_ne_bytes([reply[4], reply[5]]) != NLMSG_ERROR {
        return Err(io::Error::other("unexpected rtnetlink reply"));
    }
    let error = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    if error != 0 {
        return Err(io::Error::from_raw_os_error(-error));
    }
    Ok(())
}

//! Hashing of balancing keys.

use std::net::IpAddr;

/// Hash of a client address for `balance source`: sdbm over the address bytes, then a 32-bit
/// avalanche so neighbouring addresses spread over the servers.
pub fn source_hash(ip: IpAddr) -> u32 {
    let mut h: u32 = 0;
    let mut feed = |b: u8| {
        h = (b as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    };
    match ip {
        IpAddr::V4(v4) => v4.octets().into_iter().for_each(&mut feed),
        IpAddr::V6(v6) => v6.octets().into_iter().for_each(&mut feed),
    }
    avalanche(h)
}

/// A 32-bit integer mixer (the finalizer of MurmurHash3).
fn avalanche(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

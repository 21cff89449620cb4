//! Hashing of balancing keys, as HAProxy defines it (`hash-type`, manual 4.2; `src/hash.c`).
//!
//! A hashing algorithm turns the request's key into 32 bits with the configured function
//! (`sdbm`, `djb2`, `wt6`, `crc32`) and, with the `avalanche` modifier, mixes them with
//! [`full_hash`]. The function runs where the key is read (`crate::balance::request_hash_with`); the
//! modifier runs in the balancer, which knows the backend's `hash-type`, so callers that only
//! know the algorithm (the TCP accept path) still produce the right key.

use std::net::IpAddr;

/// `hash-type <method> [<function> [avalanche]]` of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashType {
    pub method: HashMethod,
    pub function: HashFunction,
    /// The `avalanche` modifier: [`full_hash`] is applied to the function's result.
    pub avalanche: bool,
}

impl Default for HashType {
    /// HAProxy's default: `map-based sdbm`, no modifier.
    fn default() -> HashType {
        HashType {
            method: HashMethod::MapBased,
            function: HashFunction::Sdbm,
            avalanche: false,
        }
    }
}

/// How a hash selects a server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashMethod {
    /// The hash modulo the total weight indexes a static table of the usable servers.
    #[default]
    MapBased,
    /// The hash is looked up on a ring holding many points per server (see `ring.rs`).
    Consistent,
}

/// The function applied to the key bytes (the `<function>` of `hash-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HashFunction {
    #[default]
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
}

impl HashFunction {
    /// Hashes `data`.
    pub(crate) fn hash(self, data: &[u8]) -> u32 {
        match self {
            HashFunction::Sdbm => sdbm(data),
            HashFunction::Djb2 => djb2(data),
            HashFunction::Wt6 => wt6(data),
            HashFunction::Crc32 => crc32(data),
        }
    }
}

/// sdbm: `h = c + (h << 6) + (h << 16) - h` for each byte, from 0.
pub fn sdbm(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |h, &c| {
        (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// djb2 (Dan Bernstein): `h = h * 33 + c` for each byte, from 5381.
pub fn djb2(data: &[u8]) -> u32 {
    data.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(c as u32)
    })
}

/// wt6, designed for HAProxy: two 32-bit lanes complemented, rotated by data-dependent steps
/// and swapped for each byte; the result is their XOR.
pub fn wt6(data: &[u8]) -> u32 {
    let mut h0: u32 = 0xa53c_965a;
    let mut h1: u32 = 0x5ca6_953a;
    let mut step0: u32 = 6;
    let mut step1: u32 = 18;
    for &c in data {
        let t = c as u32;
        h0 = !(h0 ^ t);
        h1 = !h1.wrapping_add(t);
        let rotated = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = rotated;
        let mix = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = mix & 0x1f;
        step1 = mix >> 11;
    }
    h0 ^ h1
}

/// The common CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as in Ethernet, gzip and
/// PNG), bit by bit like HAProxy's: a table would only pollute the cache for short keys.
pub fn crc32(data: &[u8]) -> u32 {
    let mut h: u32 = !0;
    for &c in data {
        h ^= c as u32;
        for _ in 0..8 {
            h = (h >> 1) ^ (0xedb8_8320 & 0u32.wrapping_sub(h & 1));
        }
    }
    !h
}

/// The `avalanche` modifier and the ring's point placement: one of Bob Jenkins' full
/// avalanche integer hashes, then a multiplication by a prime close to 3/4 of 2^32 so small
/// inputs spread over the whole ring (HAProxy's `full_hash()`).
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// Key of a client address for `balance source`: the XOR of the address's 32-bit big-endian
/// words (one for IPv4, four for IPv6). As in HAProxy, `hash-type`'s function does not apply
/// to addresses; its `avalanche` modifier does (the balancer adds it).
pub fn source_hash(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.segments();
            let word = |hi: u16, lo: u16| u32::from(hi) << 16 | u32::from(lo);
            word(a, b) ^ word(c, d) ^ word(e, f) ^ word(g, h)
        }
    }
}

/// The part of a URI `balance uri` hashes: the path before `?` unless `whole`; at most `len`
/// bytes and `depth` directories when non-zero (HAProxy's rules).
pub(crate) fn uri_key(uri: &[u8], whole: bool, len: u32, depth: u32) -> &[u8] {
    let mut key = if whole {
        uri
    } else {
        uri.split(|&b| b == b'?').next().unwrap_or(uri)
    };
    if depth > 0 {
        let mut slashes = 0;
        if let Some(end) = key.iter().position(|&b| {
            if b == b'/' {
                slashes += 1;
            }
            slashes > depth
        }) {
            key = key.get(..end).unwrap_or(key);
        }
    }
    if len > 0 {
        key = key.get(..(len as usize).min(key.len())).unwrap_or(key);
    }
    key
}

/// `use_domain_only`: of `www.haproxy.org` keep `haproxy` (the label before the last one).
pub(crate) fn domain_only(host: &[u8]) -> &[u8] {
    let host = host.split(|&b| b == b':').next().unwrap_or(host);
    let mut labels = host.rsplit(|&b| b == b'.');
    let last = labels.next().unwrap_or(host);
    labels.next().unwrap_or(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_keys() {
        assert_eq!(uri_key(b"/a/b/c?x=1", false, 0, 0), b"/a/b/c");
        assert_eq!(uri_key(b"/a/b/c?x=1", true, 0, 0), b"/a/b/c?x=1");
        assert_eq!(uri_key(b"/a/b/c", false, 0, 2), b"/a/b");
        assert_eq!(uri_key(b"/a/b/c", false, 3, 0), b"/a/");
        assert_eq!(domain_only(b"www.haproxy.org:80"), b"haproxy");
        assert_eq!(domain_only(b"localhost"), b"localhost");
    }
}

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

/// Hash of an arbitrary key (URI, parameter or header value): sdbm, HAProxy's default hash
/// function, then the same avalanche as addresses.
pub fn bytes_hash(data: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in data {
        h = (b as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h);
    }
    avalanche(h)
}

/// The part of a URI `balance uri` hashes: the path before `?` unless `whole`; at most `len`
/// bytes and `depth` directories when non-zero (HAProxy's rules).
pub fn uri_key(uri: &[u8], whole: bool, len: u32, depth: u32) -> &[u8] {
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
pub fn domain_only(host: &[u8]) -> &[u8] {
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
        assert_ne!(bytes_hash(b"/a"), bytes_hash(b"/b"));
    }
}

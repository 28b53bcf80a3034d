//! Identifiers, names and timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Random bytes from the kernel: one system call, no generator to seed or CPU to probe.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0; N];
    // The kernel's generator cannot fail once it is seeded, which happens early in boot.
    getrandom::fill(&mut buf).expect("the kernel's random number generator failed");
    buf
}

fn random_hex<const N: usize>() -> String {
    random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A 64-hex-digit network id, as Docker's.
pub fn network_id() -> String {
    random_hex::<32>()
}

/// Whether `id` has the shape of a network id (64 lowercase hex digits, as Docker's).
pub fn is_network_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A 64-hex-digit endpoint id.
pub fn endpoint_id() -> String {
    random_hex::<32>()
}

/// Temporary link name for an endpoint being created (`ul` + 8 hex digits; 10 bytes, so the
/// retry variants with one more character still fit IFNAMSIZ).
pub fn tmp_link_name() -> String {
    format!("ul{}", random_hex::<4>())
}

/// A random number (where a node starts looking in a shared pool after a collision).
pub fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

/// Random locally-administered unicast MAC.
pub fn random_mac() -> netlink::Mac {
    netlink::Mac::local(random_bytes::<6>())
}

/// Now as RFC 3339 in UTC with nanoseconds, like Docker's `Created`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// Format seconds since the epoch (UTC) as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_852_800, 0), "2026-11-28T08:00:00.000000000Z");
    }

    #[test]
    fn macs_are_local_unicast() {
        for _ in 0..100 {
            let m = random_mac();
            assert_eq!(m.0[0] & 1, 0);
            assert_eq!(m.0[0] & 2, 2);
        }
    }

    #[test]
    fn ids_have_docker_shape() {
        let id = network_id();
        assert_eq!(id.len(), 64);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(tmp_link_name().len(), 10);
    }
}

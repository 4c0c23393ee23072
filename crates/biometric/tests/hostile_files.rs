//! Hostile and broken files are errors with stable codes, never panics, and never allocate what a
//! header claims before the size limits are checked. The last test fuzzes the decoder: mutated
//! JPEG, PNG and WebP files for `FACEPAY_FUZZ_SECONDS` (3 by default, 60 in CI) from a printed
//! seed (`FACEPAY_FUZZ_SEED` replays one).

use std::io::Cursor;

use facepay_biometric::{DecodeLimits, Photo};

fn code(bytes: &[u8]) -> &'static str {
    Photo::decode(bytes, &DecodeLimits::default()).unwrap_err().code()
}

fn jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    bytes
}

#[test]
fn a_zero_byte_file_is_empty() {
    assert_eq!(code(&[]), "image_empty");
}

#[test]
fn wrong_magic_is_an_unsupported_format() {
    assert_eq!(code(b"GIF89a\x01\x00\x01\x00"), "image_unsupported_format");
    assert_eq!(code(b"this is not an image at all"), "image_unsupported_format");
    assert_eq!(code(b"%PDF-1.7\n"), "image_unsupported_format");
}

#[test]
fn a_truncated_jpeg_is_corrupt_at_every_cut() {
    let whole = jpeg();
    assert!(Photo::decode(&whole, &DecodeLimits::default()).is_ok());
    for cut in (4..whole.len() - 2).step_by(7) {
        // Some decoders fill a cut-off scan with grey; whichever way, no panic and no junk size.
        if let Ok(photo) = Photo::decode(&whole[..cut], &DecodeLimits::default()) {
            assert_eq!((photo.width(), photo.height()), (64, 48));
        }
    }
    assert_eq!(code(&whole[..whole.len() / 3]), "image_corrupt");
}

/// A valid PNG signature and IHDR claiming 20000x20000 RGBA (1.6 GB of pixels), and no data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let crc = crc32(&ihdr);
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(13u32.to_be_bytes());
    bytes.extend(&ihdr);
    bytes.extend(crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_20000_by_20000_png_header_is_refused_before_allocation() {
    assert_eq!(code(&png_header(20_000, 20_000)), "image_too_large");
    let narrow = DecodeLimits { max_side: 19_999, ..DecodeLimits::default() };
    assert_eq!(Photo::decode(&png_header(19_999, 20_000), &narrow).unwrap_err().code(), "image_too_large");
    // A small header with no pixel data is corrupt, not too large.
    assert_eq!(code(&png_header(16, 16)), "image_corrupt");
}

#[test]
fn an_oversized_file_is_refused_before_decoding() {
    let limits = DecodeLimits { max_bytes: 100, ..DecodeLimits::default() };
    assert_eq!(Photo::decode(&jpeg(), &limits).unwrap_err().code(), "image_too_many_bytes");
}

#[test]
fn random_bytes_after_a_valid_signature_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for signature in [&b"\xff\xd8\xff"[..], b"\x89PNG\r\n\x1a\n", b"RIFF\x10\x00\x00\x00WEBPVP8 "] {
        for length in [0usize, 10, 100, 1000] {
            let mut bytes = signature.to_vec();
            for _ in 0..length {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(state as u8);
            }
            let _ = Photo::decode(&bytes, &DecodeLimits::default());
        }
    }
}

/// A small photo of each format the decoder takes: the fuzzer's seeds.
fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let image = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([x as u8 * 6, y as u8 * 8, 120]));
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
    bytes
}

#[test]
// The budget is wall time, the seed comes from the clock, and both are printed to replay a run.
#[allow(clippy::disallowed_methods, clippy::print_stdout)]
fn fuzz_the_decoder_with_mutated_files() {
    let seconds: u64 = std::env::var("FACEPAY_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed = std::env::var("FACEPAY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("fuzz image decoder: {seconds} s from FACEPAY_FUZZ_SEED={seed}");
    let mut rng = facepay_domain::SplitMix64::new(seed);
    let seeds = [image::ImageFormat::Jpeg, image::ImageFormat::Png, image::ImageFormat::WebP].map(encoded);
    let limits = DecodeLimits { max_bytes: 1 << 20, max_side: 4096, max_pixels: 4_000_000 };
    let (started, mut decoded, mut refused) =
        (std::time::Instant::now(), 0u64, std::collections::BTreeSet::new());
    while started.elapsed() < std::time::Duration::from_secs(seconds) {
        let mut bytes = seeds[(rng.next_u64() % 3) as usize].clone();
        // A few bytes changed, and sometimes the end cut off or junk appended.
        for _ in 0..1 + rng.next_u64() % 8 {
            let at = (rng.next_u64() % bytes.len() as u64) as usize;
            bytes[at] = rng.next_u64() as u8;
        }
        match rng.next_u64() % 4 {
            0 => bytes.truncate((rng.next_u64() % bytes.len() as u64) as usize),
            1 => bytes.extend((0..rng.next_u64() % 64).map(|_| rng.next_u64() as u8)),
            _ => {}
        }
        match Photo::decode(&bytes, &limits) {
            Ok(photo) => {
                assert!(u64::from(photo.width()) * u64::from(photo.height()) <= limits.max_pixels);
                decoded += 1;
            }
            Err(err) => {
                refused.insert(err.code());
            }
        }
    }
    println!("fuzz image decoder: {decoded} decoded, refused with {refused:?}");
    assert!(decoded > 0 && !refused.is_empty(), "the mutations reach both outcomes");
}

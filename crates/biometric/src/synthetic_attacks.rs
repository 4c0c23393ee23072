//! Presentation attacks made from bona fide photos, for `facepay eval liveness` (here, since only
//! this crate sees pixels): no labelled
//! attack set is reachable here beyond Silent-Face's two samples, and printing and
//! re-photographing is not possible, so each species synthesises an artefact a photo of a screen
//! or a print carries. They are labelled synthetic wherever they are reported: a model that
//! refuses them may still accept a real replay, and the reverse.

use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::{ImageEncoder, RgbImage};

/// One kind of synthetic attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Species {
    /// Shrunk to a quarter and enlarged again: a low-resolution print or screen.
    Resampled,
    /// JPEG at quality 10: a photo sent around and shown again.
    Recompressed,
    /// A screen's cold white point and flattened contrast.
    ColourCast,
    /// Interference between a screen's pixel grid and the camera's: fine diagonal stripes.
    Moire,
    /// A screen replay: half resolution, the colour cast, moiré and JPEG at quality 30 together.
    Replay,
}

impl Species {
    pub const ALL: [Species; 5] =
        [Species::Resampled, Species::Recompressed, Species::ColourCast, Species::Moire, Species::Replay];

    pub fn name(self) -> &'static str {
        match self {
            Species::Resampled => "resampled (1/4, synthetic)",
            Species::Recompressed => "JPEG quality 10 (synthetic)",
            Species::ColourCast => "screen colour cast (synthetic)",
            Species::Moire => "moire (synthetic)",
            Species::Replay => "screen replay, all four (synthetic)",
        }
    }

    /// The attack made from an encoded photo, as the JPEG a terminal would send; `None` if the
    /// photo does not decode.
    pub fn make(self, encoded: &[u8]) -> Option<Vec<u8>> {
        let photo = image::load_from_memory(encoded).ok()?.to_rgb8();
        Some(self.make_from(&photo))
    }

    fn make_from(self, photo: &RgbImage) -> Vec<u8> {
        match self {
            Species::Resampled => jpeg(&resampled(photo, 4), 90),
            Species::Recompressed => jpeg(photo, 10),
            Species::ColourCast => jpeg(&colour_cast(photo), 90),
            Species::Moire => jpeg(&moire(photo), 90),
            Species::Replay => jpeg(&moire(&colour_cast(&resampled(photo, 2))), 30),
        }
    }
}

fn jpeg(photo: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .write_image(photo.as_raw(), photo.width(), photo.height(), image::ExtendedColorType::Rgb8)
        .expect("a JPEG of an image in memory encodes");
    bytes
}

fn resampled(photo: &RgbImage, factor: u32) -> RgbImage {
    let small = imageops::resize(
        photo,
        (photo.width() / factor).max(1),
        (photo.height() / factor).max(1),
        FilterType::Triangle,
    );
    imageops::resize(&small, photo.width(), photo.height(), FilterType::Triangle)
}

fn colour_cast(photo: &RgbImage) -> RgbImage {
    let mut cast = photo.clone();
    for pixel in cast.pixels_mut() {
        let flat = |v: u8| 255.0 * (f32::from(v) / 255.0).powf(0.8);
        let [r, g, b] = pixel.0;
        pixel.0 =
            [flat(r) * 0.85, flat(g) * 0.97 + 4.0, flat(b) * 1.12 + 14.0].map(|v| v.clamp(0.0, 255.0) as u8);
    }
    cast
}

fn moire(photo: &RgbImage) -> RgbImage {
    let mut striped = photo.clone();
    let (cos, sin) = (0.3f32.cos(), 0.3f32.sin());
    for (x, y, pixel) in striped.enumerate_pixels_mut() {
        let phase = std::f32::consts::TAU * (x as f32 * cos + y as f32 * sin) / 3.3;
        let gain = 1.0 + 0.12 * phase.sin();
        pixel.0 = pixel.0.map(|v| (f32::from(v) * gain).clamp(0.0, 255.0) as u8);
    }
    striped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_species_changes_the_photo_and_keeps_its_size() {
        let photo = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
        for species in Species::ALL {
            let decoded =
                image::load_from_memory(&species.make(&jpeg(&photo, 95)).unwrap()).unwrap().to_rgb8();
            assert_eq!(decoded.dimensions(), photo.dimensions(), "{species:?}");
            let change: u64 =
                decoded.as_raw().iter().zip(photo.as_raw()).map(|(a, b)| u64::from(a.abs_diff(*b))).sum();
            assert!(change > 64 * 48, "{species:?} changed the pixels by {change}");
            assert!(species.make(b"not an image").is_none());
        }
    }
}

//! A decoded photo and the one way to make it from untrusted bytes: size limits checked before
//! any pixel is allocated, only JPEG, PNG and WebP, EXIF orientation applied so the face is
//! upright. A corrupt or hostile file is an error with a stable code, never a panic.

use std::fmt;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use zeroize::Zeroize;

/// An upright 8-bit RGB photo, row-major, 3 bytes per pixel. Its pixels are biometric data: the
/// buffer is wiped on drop and `Debug` shows only the size.
pub struct Photo {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

/// What the decoder accepts. The defaults admit any phone or kiosk camera frame and refuse
/// decompression bombs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    pub max_bytes: usize,
    pub max_side: u32,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_bytes: 20 << 20, max_side: 8192, max_pixels: 40_000_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the image is empty")]
    Empty,
    #[error("the image is {bytes} bytes; at most {max} are accepted")]
    TooManyBytes { bytes: usize, max: usize },
    #[error("the image is not JPEG, PNG or WebP")]
    UnsupportedFormat,
    #[error(
        "the image is {width}x{height} pixels; at most {max_side} per side and {max_pixels} in all are accepted"
    )]
    TooLarge { width: u32, height: u32, max_side: u32, max_pixels: u64 },
    #[error("the image could not be decoded: {0}")]
    Corrupt(String),
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Empty => "image_empty",
            DecodeError::TooManyBytes { .. } => "image_too_many_bytes",
            DecodeError::UnsupportedFormat => "image_unsupported_format",
            DecodeError::TooLarge { .. } => "image_too_large",
            DecodeError::Corrupt(_) => "image_corrupt",
        }
    }
}

impl Photo {
    /// Decodes untrusted bytes. The format comes from the magic bytes, never from a name.
    pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Photo, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        if bytes.len() > limits.max_bytes {
            return Err(DecodeError::TooManyBytes { bytes: bytes.len(), max: limits.max_bytes });
        }
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        if !matches!(reader.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) {
            return Err(DecodeError::UnsupportedFormat);
        }
        let mut reader = reader;
        let mut image_limits = Limits::default();
        image_limits.max_image_width = Some(limits.max_side);
        image_limits.max_image_height = Some(limits.max_side);
        image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(64 << 20));
        reader.limits(image_limits);
        let mut decoder = reader.into_decoder().map_err(|e| classify(e, limits))?;
        let (width, height) = decoder.dimensions();
        check_size(width, height, limits)?;
        let orientation = decoder.orientation().map_err(|e| DecodeError::Corrupt(e.to_string()))?;
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, limits))?;
        image.apply_orientation(orientation);
        let rgb = image.into_rgb8();
        Ok(Photo { width: rgb.width(), height: rgb.height(), rgb: rgb.into_raw() })
    }

    /// A photo from raw RGB pixels (camera frames that never were a file). The length must match.
    pub fn from_rgb(width: u32, height: u32, rgb: Vec<u8>) -> Option<Photo> {
        let expected = (width as usize).checked_mul(height as usize)?.checked_mul(3)?;
        (width > 0 && height > 0 && rgb.len() == expected).then_some(Photo { width, height, rgb })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row-major RGB.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

fn check_size(width: u32, height: u32, limits: &DecodeLimits) -> Result<(), DecodeError> {
    let too_large = width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels;
    if too_large {
        return Err(DecodeError::TooLarge {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

/// The image crate reports its own limits as `Limits` errors; those are our `TooLarge`.
fn classify(error: image::ImageError, limits: &DecodeLimits) -> DecodeError {
    match error {
        image::ImageError::Limits(_) => DecodeError::TooLarge {
            width: 0,
            height: 0,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        },
        other => DecodeError::Corrupt(other.to_string()),
    }
}

impl Drop for Photo {
    fn drop(&mut self) {
        self.rgb.zeroize();
    }
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Photo({}x{}, pixels redacted)", self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_pixel(width, height, image::Rgb([10, 20, 30]));
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn a_small_png_decodes_to_its_pixels() {
        let photo = Photo::decode(&png(3, 2), &DecodeLimits::default()).unwrap();
        assert_eq!((photo.width(), photo.height()), (3, 2));
        assert_eq!(&photo.rgb()[..3], &[10, 20, 30]);
        assert_eq!(format!("{photo:?}"), "Photo(3x2, pixels redacted)");
    }

    #[test]
    fn limits_are_enforced_at_their_edge() {
        let bytes = png(40, 25);
        let exact = DecodeLimits { max_bytes: bytes.len(), max_side: 40, max_pixels: 1000 };
        assert!(Photo::decode(&bytes, &exact).is_ok());
        let fewer_bytes = DecodeLimits { max_bytes: bytes.len() - 1, ..exact };
        assert_eq!(Photo::decode(&bytes, &fewer_bytes).unwrap_err().code(), "image_too_many_bytes");
        let narrower = DecodeLimits { max_side: 39, ..exact };
        assert_eq!(Photo::decode(&bytes, &narrower).unwrap_err().code(), "image_too_large");
        let fewer_pixels = DecodeLimits { max_pixels: 999, ..exact };
        assert_eq!(Photo::decode(&bytes, &fewer_pixels).unwrap_err().code(), "image_too_large");
    }

    #[test]
    fn raw_frames_must_match_their_size() {
        assert!(Photo::from_rgb(2, 2, vec![0; 12]).is_some());
        assert!(Photo::from_rgb(2, 2, vec![0; 11]).is_none());
        assert!(Photo::from_rgb(0, 2, vec![]).is_none());
    }
}

//! Bilinear resampling of RGB pixels: resizing a rectangle (detector letterbox, liveness crops) and
//! warping through an affine map (face alignment), plus packing pixels into the NCHW float tensor a
//! model takes. Sampling follows OpenCV's conventions (pixel centres at +0.5 when resizing, a
//! constant black border when warping), so the models see what they saw in training and what the
//! Python reference pipeline feeds them.

use facepay_model_store::Channels;

/// An RGB buffer of known size, row-major, 3 bytes per pixel.
#[derive(Clone, Copy)]
pub struct Pixels<'a> {
    pub width: usize,
    pub height: usize,
    pub rgb: &'a [u8],
}

/// A pixel rectangle, inclusive of both corners, inside its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

/// For each destination index along one axis: the two source indices and the weight of the second.
fn axis_taps(dst_len: usize, src_start: usize, src_len: usize) -> Vec<(usize, usize, f32)> {
    let scale = src_len as f32 / dst_len as f32;
    (0..dst_len)
        .map(|d| {
            let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
            let i0 = s.floor() as usize;
            if i0 + 1 >= src_len {
                (src_start + src_len - 1, src_start + src_len - 1, 0.0)
            } else {
                (src_start + i0, src_start + i0 + 1, s - i0 as f32)
            }
        })
        .collect()
}

/// Resizes `rect` of `src` to `dst_width` x `dst_height` RGB pixels.
pub fn resize_rect(src: Pixels<'_>, rect: PixelRect, dst_width: usize, dst_height: usize) -> Vec<u8> {
    let xs = axis_taps(dst_width, rect.left, rect.right - rect.left + 1);
    let ys = axis_taps(dst_height, rect.top, rect.bottom - rect.top + 1);
    let mut out = vec![0u8; dst_width * dst_height * 3];
    let stride = src.width * 3;
    for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
        let (row0, row1) = (&src.rgb[y0 * stride..][..stride], &src.rgb[y1 * stride..][..stride]);
        let out_row = &mut out[dy * dst_width * 3..][..dst_width * 3];
        for (dx, &(x0, x1, fx)) in xs.iter().enumerate() {
            for c in 0..3 {
                let top = f32::from(row0[x0 * 3 + c]) * (1.0 - fx) + f32::from(row0[x1 * 3 + c]) * fx;
                let bottom = f32::from(row1[x0 * 3 + c]) * (1.0 - fx) + f32::from(row1[x1 * 3 + c]) * fx;
                out_row[dx * 3 + c] = (top * (1.0 - fy) + bottom * fy).round() as u8;
            }
        }
    }
    out
}

/// Resizes all of `src` to `dst_width` x `dst_height` straight into the top-left corner of a
/// `canvas` x `canvas` planar float tensor, in `channels` order and 0..255, with black elsewhere:
/// the letterbox a fixed-size detector takes. Separable (each source row is resized horizontally
/// once, then output rows blend two of those), so it costs a few operations per output value.
pub fn letterbox_planar(
    src: Pixels<'_>,
    dst_width: usize,
    dst_height: usize,
    canvas: usize,
    channels: Channels,
    out: &mut Vec<f32>,
) {
    let plane = canvas * canvas;
    out.resize(plane * 3, 0.0);
    let xs = axis_taps(dst_width, 0, src.width);
    let ys = axis_taps(dst_height, 0, src.height);
    let order = match channels {
        Channels::Rgb => [0, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    let stride = src.width * 3;
    let horizontal = |y: usize, row: &mut Vec<f32>| {
        let line = &src.rgb[y * stride..][..stride];
        row.clear();
        for &(x0, x1, fx) in &xs {
            for c in 0..3 {
                row.push(f32::from(line[x0 * 3 + c]) * (1.0 - fx) + f32::from(line[x1 * 3 + c]) * fx);
            }
        }
    };
    let (mut row0, mut row1) = (Vec::with_capacity(dst_width * 3), Vec::with_capacity(dst_width * 3));
    let mut cached = (usize::MAX, usize::MAX);
    for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
        if cached.0 != y0 {
            if cached.1 == y0 {
                std::mem::swap(&mut row0, &mut row1);
            } else {
                horizontal(y0, &mut row0);
            }
            cached.0 = y0;
        }
        if cached.1 != y1 || cached.0 == cached.1 {
            horizontal(y1, &mut row1);
            cached.1 = y1;
        }
        for (slot, &source) in order.iter().enumerate() {
            let target = &mut out[slot * plane + dy * canvas..][..canvas];
            for (dx, value) in target[..dst_width].iter_mut().enumerate() {
                *value = row0[dx * 3 + source] * (1.0 - fy) + row1[dx * 3 + source] * fy;
            }
            target[dst_width..].fill(0.0);
        }
    }
    for slot in 0..3 {
        out[slot * plane + dst_height * canvas..(slot + 1) * plane].fill(0.0);
    }
}

/// Warps `src` into a `size` x `size` image: destination pixel (x, y) samples the source at
/// `inverse` applied to (x, y), bilinearly, with black outside the source.
pub fn warp_affine(src: Pixels<'_>, inverse: [f32; 6], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size * size * 3];
    let [a, b, c, d, e, f] = inverse;
    let (width, height) = (src.width as isize, src.height as isize);
    let texel = |x: isize, y: isize, channel: usize| -> f32 {
        if x < 0 || y < 0 || x >= width || y >= height {
            0.0
        } else {
            f32::from(src.rgb[(y as usize * src.width + x as usize) * 3 + channel])
        }
    };
    for y in 0..size {
        for x in 0..size {
            let sx = a * x as f32 + b * y as f32 + c;
            let sy = d * x as f32 + e * y as f32 + f;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            for channel in 0..3 {
                let top = texel(x0, y0, channel) * (1.0 - fx) + texel(x0 + 1, y0, channel) * fx;
                let bottom = texel(x0, y0 + 1, channel) * (1.0 - fx) + texel(x0 + 1, y0 + 1, channel) * fx;
                out[(y * size + x) * 3 + channel] =
                    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Packs RGB pixels into a planar float tensor in the model's channel order, each value
/// `(pixel - mean) / std`.
pub fn to_planar(rgb: &[u8], channels: Channels, mean: [f32; 3], std: [f32; 3], out: &mut Vec<f32>) {
    let plane = rgb.len() / 3;
    let order = match channels {
        Channels::Rgb => [0, 1, 2],
        Channels::Bgr => [2, 1, 0],
    };
    out.clear();
    out.resize(plane * 3, 0.0);
    for (slot, &source) in order.iter().enumerate() {
        let (m, s) = (mean[slot], std[slot]);
        let target = &mut out[slot * plane..][..plane];
        for (value, pixel) in target.iter_mut().zip(rgb.chunks_exact(3)) {
            *value = (f32::from(pixel[source]) - m) / s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(width: usize, height: usize) -> Vec<u8> {
        (0..width * height).flat_map(|i| [(i % width * 10) as u8, (i / width * 10) as u8, 7]).collect()
    }

    #[test]
    fn resizing_to_the_same_size_is_the_identity() {
        let rgb = ramp(5, 4);
        let src = Pixels { width: 5, height: 4, rgb: &rgb };
        assert_eq!(resize_rect(src, PixelRect { left: 0, top: 0, right: 4, bottom: 3 }, 5, 4), rgb);
    }

    #[test]
    fn halving_averages_neighbours_like_opencv() {
        // cv2.resize of [0, 10, 20, 30] to 2 pixels gives [5, 25].
        let rgb: Vec<u8> = [0u8, 10, 20, 30].iter().flat_map(|&v| [v, v, v]).collect();
        let out = resize_rect(
            Pixels { width: 4, height: 1, rgb: &rgb },
            PixelRect { left: 0, top: 0, right: 3, bottom: 0 },
            2,
            1,
        );
        assert_eq!(out, [5, 5, 5, 25, 25, 25]);
    }

    #[test]
    fn the_letterbox_equals_resize_then_pad() {
        let rgb = ramp(7, 5);
        let src = Pixels { width: 7, height: 5, rgb: &rgb };
        let mut out = vec![9.0; 3]; // stale contents must not survive
        letterbox_planar(src, 12, 9, 16, Channels::Bgr, &mut out);
        let resized = resize_rect(src, PixelRect { left: 0, top: 0, right: 6, bottom: 4 }, 12, 9);
        for y in 0..16 {
            for x in 0..16 {
                for (slot, source) in [2, 1, 0].into_iter().enumerate() {
                    let got = out[slot * 256 + y * 16 + x];
                    let want =
                        if x < 12 && y < 9 { f32::from(resized[(y * 12 + x) * 3 + source]) } else { 0.0 };
                    assert!((got - want).abs() <= 0.5, "({x}, {y}) channel {slot}: {got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn the_identity_warp_copies_and_the_border_is_black() {
        let rgb = ramp(4, 4);
        let src = Pixels { width: 4, height: 4, rgb: &rgb };
        assert_eq!(warp_affine(src, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], 4), rgb);
        let shifted = warp_affine(src, [1.0, 0.0, 10.0, 0.0, 1.0, 0.0], 4);
        assert!(shifted.iter().all(|&v| v == 0));
    }

    #[test]
    fn planar_packing_orders_channels_and_normalises() {
        let rgb = [10u8, 20, 30, 40, 50, 60];
        let mut out = Vec::new();
        to_planar(&rgb, Channels::Bgr, [0.0; 3], [1.0; 3], &mut out);
        assert_eq!(out, [30.0, 60.0, 20.0, 50.0, 10.0, 40.0]);
        to_planar(&rgb, Channels::Rgb, [10.0, 20.0, 30.0], [2.0, 2.0, 2.0], &mut out);
        assert_eq!(out, [0.0, 15.0, 0.0, 15.0, 0.0, 15.0]);
    }
}

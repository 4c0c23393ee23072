//! Presentation-attack detection with Silent-Face's two MiniFASNet models, fused as upstream does:
//! each sees the detector box scaled around its centre (2.7x for V2, 4.0x for V1SE, shifted back
//! inside the photo where it would leave it) resized to 80x80 BGR, and the live score is the mean
//! of the two softmax probabilities of class 1 ("real").

use facepay_model_store::InputSpec;

use crate::detect::Detection;
use crate::onnx::{LoadedModel, OnnxError};
use crate::photo::Photo;
use crate::resample::{PixelRect, Pixels, resize_rect, to_planar};

/// Side of the MiniFASNet input.
const SIDE: usize = 80;
/// Index of the "real" class in MiniFASNet's three outputs.
const REAL: usize = 1;

/// One anti-spoofing model and the crop it was trained on.
#[derive(Debug)]
pub struct LivenessModel {
    pub model: LoadedModel,
    pub input: InputSpec,
}

/// The crop upstream's `CropImage._get_new_box` takes: the box scaled by `scale` around its centre
/// (less when the photo is too small), moved back inside the photo.
pub fn crop_rect(face: &Detection, width: u32, height: u32, scale: f32) -> PixelRect {
    let (w, h) = (width as f32, height as f32);
    let (box_w, box_h) = (face.width.max(1.0), face.height.max(1.0));
    let scale = scale.min((h - 1.0) / box_h).min((w - 1.0) / box_w);
    let (new_w, new_h) = (box_w * scale, box_h * scale);
    let (cx, cy) = (face.left + box_w / 2.0, face.top + box_h / 2.0);
    let (mut left, mut top) = (cx - new_w / 2.0, cy - new_h / 2.0);
    let (mut right, mut bottom) = (cx + new_w / 2.0, cy + new_h / 2.0);
    if left < 0.0 {
        right -= left;
        left = 0.0;
    }
    if top < 0.0 {
        bottom -= top;
        top = 0.0;
    }
    if right > w - 1.0 {
        left -= right - w + 1.0;
        right = w - 1.0;
    }
    if bottom > h - 1.0 {
        top -= bottom - h + 1.0;
        bottom = h - 1.0;
    }
    let clamp_x = |v: f32| (v.max(0.0) as usize).min(width as usize - 1);
    let clamp_y = |v: f32| (v.max(0.0) as usize).min(height as usize - 1);
    PixelRect { left: clamp_x(left), top: clamp_y(top), right: clamp_x(right), bottom: clamp_y(bottom) }
}

/// The probability (0..1) that `face` is a live person rather than a photo, screen or mask.
pub fn live_score(
    models: &mut [LivenessModel],
    photo: &Photo,
    face: &Detection,
    tensor: &mut Vec<f32>,
) -> Result<f32, OnnxError> {
    let src = Pixels { width: photo.width() as usize, height: photo.height() as usize, rgb: photo.rgb() };
    let mut total = 0.0;
    for liveness in models.iter_mut() {
        let scale = liveness.input.crop_scale.unwrap_or(1.0);
        let rect = crop_rect(face, photo.width(), photo.height(), scale);
        let crop = resize_rect(src, rect, SIDE, SIDE);
        to_planar(&crop, liveness.input.channels, liveness.input.mean, liveness.input.std, tensor);
        let outputs = liveness.model.run([1, 3, SIDE, SIDE], tensor)?;
        let logits = outputs.first().map(|o| o.data.as_slice()).unwrap_or_default();
        if logits.len() != 3 {
            return Err(OnnxError::Run {
                model: liveness.model.name.clone(),
                reason: "expected 3 logits".into(),
            });
        }
        total += softmax(logits)[REAL];
    }
    Ok(total / models.len().max(1) as f32)
}

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crop_is_scaled_around_the_centre() {
        let rect = crop_rect(&Detection::square(400.0, 400.0, 100.0), 1000, 1000, 2.7);
        assert_eq!(rect, PixelRect { left: 315, top: 315, right: 585, bottom: 585 });
    }

    #[test]
    fn a_crop_leaving_the_photo_is_moved_back_inside() {
        let rect = crop_rect(&Detection::square(0.0, 0.0, 100.0), 1000, 800, 4.0);
        assert_eq!((rect.left, rect.top), (0, 0));
        assert_eq!((rect.right, rect.bottom), (400, 400));
    }

    #[test]
    fn a_photo_too_small_for_the_scale_shrinks_the_crop() {
        let rect = crop_rect(&Detection::square(50.0, 50.0, 100.0), 200, 200, 4.0);
        assert_eq!(rect, PixelRect { left: 0, top: 0, right: 199, bottom: 199 });
    }

    #[test]
    fn softmax_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6 && p[2] > p[1]);
    }
}

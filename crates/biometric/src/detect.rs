//! Face detection with YuNet: the photo is letterboxed into the model's 640x640 input, the stride
//! 8/16/32 heads are decoded into boxes with five landmarks, overlapping boxes are suppressed, and
//! everything is mapped back to the photo's own pixel coordinates.

use facepay_model_store::Channels;

use crate::onnx::{LoadedModel, OnnxError, Output};
use crate::photo::Photo;
use crate::resample::{Pixels, letterbox_planar};

/// YuNet 2023mar's fixed input side.
pub const DETECTOR_INPUT: usize = 640;
const STRIDES: [usize; 3] = [8, 16, 32];

/// A point in photo pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// One detected face in photo pixels. Landmarks, as YuNet orders them: the person's right eye,
/// left eye, nose tip, right and left mouth corner (the person's right eye is on the image's left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub left: f32,
    pub top: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
    pub landmarks: [Point; 5],
}

impl Detection {
    /// A square box with its landmarks at the origin, for tests of box geometry.
    #[cfg(test)]
    pub(crate) fn square(left: f32, top: f32, side: f32) -> Detection {
        Detection {
            left,
            top,
            width: side,
            height: side,
            score: 0.9,
            landmarks: [Point { x: 0.0, y: 0.0 }; 5],
        }
    }

    pub fn area(&self) -> f32 {
        self.width * self.height
    }

    fn iou(&self, other: &Detection) -> f32 {
        let overlap_w = (self.left + self.width).min(other.left + other.width) - self.left.max(other.left);
        let overlap_h = (self.top + self.height).min(other.top + other.height) - self.top.max(other.top);
        if overlap_w <= 0.0 || overlap_h <= 0.0 {
            return 0.0;
        }
        let overlap = overlap_w * overlap_h;
        overlap / (self.area() + other.area() - overlap)
    }

    /// Distance between the eye centres, the usual measure of how many pixels a face has.
    pub fn eye_distance(&self) -> f32 {
        let [right, left, ..] = self.landmarks;
        ((left.x - right.x).powi(2) + (left.y - right.y).powi(2)).sqrt()
    }
}

/// Detector settings. The defaults are OpenCV's for YuNet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Minimum sqrt(class * objectness) score for a face.
    pub score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU are dropped.
    pub nms_iou: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { score_threshold: 0.6, nms_iou: 0.3 }
    }
}

/// Reusable buffers for one detector session.
#[derive(Debug, Default)]
pub struct DetectorInput {
    tensor: Vec<f32>,
}

/// Detects faces, best score first.
pub fn detect(
    model: &mut LoadedModel,
    input: &mut DetectorInput,
    photo: &Photo,
    config: &DetectorConfig,
) -> Result<Vec<Detection>, OnnxError> {
    let scale = letterbox(photo, &mut input.tensor);
    let outputs = model.run([1, 3, DETECTOR_INPUT, DETECTOR_INPUT], &input.tensor)?;
    let mut found = decode(&outputs, config.score_threshold)
        .map_err(|reason| OnnxError::Run { model: model.name.clone(), reason: reason.to_owned() })?;
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for candidate in found {
        if kept.iter().all(|k| k.iou(&candidate) <= config.nms_iou) {
            kept.push(candidate);
        }
    }
    for face in &mut kept {
        face.left /= scale;
        face.top /= scale;
        face.width /= scale;
        face.height /= scale;
        for point in &mut face.landmarks {
            point.x /= scale;
            point.y /= scale;
        }
    }
    Ok(kept)
}

/// Scales the photo to fit 640x640 (keeping its aspect ratio), pads the rest with black at the
/// right and bottom, and packs it as BGR 0..255. Returns the scale applied.
fn letterbox(photo: &Photo, tensor: &mut Vec<f32>) -> f32 {
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    let scale = DETECTOR_INPUT as f32 / width.max(height) as f32;
    let scaled_w = ((width as f32 * scale).round() as usize).clamp(1, DETECTOR_INPUT);
    let scaled_h = ((height as f32 * scale).round() as usize).clamp(1, DETECTOR_INPUT);
    let src = Pixels { width, height, rgb: photo.rgb() };
    letterbox_planar(src, scaled_w, scaled_h, DETECTOR_INPUT, Channels::Bgr, tensor);
    scale
}

fn output<'a>(
    outputs: &'a [Output],
    name: &str,
    per_cell: usize,
    cells: usize,
) -> Result<&'a [f32], &'static str> {
    let found = outputs.iter().find(|o| o.name == name).ok_or("YuNet output missing")?;
    if found.data.len() != per_cell * cells {
        return Err("YuNet output has an unexpected size");
    }
    Ok(&found.data)
}

/// Decodes every cell of the three heads whose score clears `threshold` (in 640x640 pixels).
fn decode(outputs: &[Output], threshold: f32) -> Result<Vec<Detection>, &'static str> {
    let mut faces = Vec::new();
    for stride in STRIDES {
        let cols = DETECTOR_INPUT / stride;
        let cells = cols * cols;
        let cls = output(outputs, &format!("cls_{stride}"), 1, cells)?;
        let obj = output(outputs, &format!("obj_{stride}"), 1, cells)?;
        let bbox = output(outputs, &format!("bbox_{stride}"), 4, cells)?;
        let kps = output(outputs, &format!("kps_{stride}"), 10, cells)?;
        for cell in 0..cells {
            let score = (cls[cell].clamp(0.0, 1.0) * obj[cell].clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let (row, col) = ((cell / cols) as f32, (cell % cols) as f32);
            let s = stride as f32;
            let b = &bbox[cell * 4..][..4];
            let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let k = &kps[cell * 10..][..10];
            let landmarks =
                std::array::from_fn(|i| Point { x: (k[2 * i] + col) * s, y: (k[2 * i + 1] + row) * s });
            faces.push(Detection {
                left: cx - w / 2.0,
                top: cy - h / 2.0,
                width: w,
                height: h,
                score,
                landmarks,
            });
        }
    }
    Ok(faces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        assert_eq!(Detection::square(0.0, 0.0, 10.0).iou(&Detection::square(0.0, 0.0, 10.0)), 1.0);
        assert_eq!(Detection::square(0.0, 0.0, 10.0).iou(&Detection::square(20.0, 0.0, 10.0)), 0.0);
        let half = Detection::square(0.0, 0.0, 10.0)
            .iou(&Detection { width: 10.0, ..Detection::square(5.0, 0.0, 10.0) });
        assert!((half - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn decoding_places_a_cell_at_its_grid_position() {
        let mut outputs = Vec::new();
        for stride in STRIDES {
            let cells = (DETECTOR_INPUT / stride).pow(2);
            for (head, per_cell) in [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)] {
                outputs.push(Output {
                    name: format!("{head}_{stride}"),
                    shape: vec![],
                    data: vec![0.0; cells * per_cell],
                });
            }
        }
        // stride 32, row 2, col 3: a face centred at (3.5*32, 2.5*32), 32 pixels wide.
        let cell = 2 * 20 + 3;
        for o in outputs.iter_mut().filter(|o| o.name.ends_with("_32")) {
            match &o.name[..3] {
                "cls" | "obj" => o.data[cell] = 0.81,
                "bbo" => o.data[cell * 4..][..4].copy_from_slice(&[0.5, 0.5, 0.0, 0.0]),
                _ => o.data[cell * 10] = 1.0,
            }
        }
        let faces = decode(&outputs, 0.5).unwrap();
        assert_eq!(faces.len(), 1);
        let f = faces[0];
        assert!((f.score - 0.81).abs() < 1e-6);
        assert_eq!((f.left, f.top, f.width), (3.5 * 32.0 - 16.0, 2.5 * 32.0 - 16.0, 32.0));
        assert_eq!(f.landmarks[0], Point { x: 4.0 * 32.0, y: 2.0 * 32.0 });
        assert!(decode(&outputs[1..], 0.5).is_err(), "a missing head is an error");
    }
}

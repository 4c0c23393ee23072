//! Capture quality: is this photo good enough to enroll or pay with? Each gate measures one thing a
//! person at a kiosk can fix (move closer, face the camera, find light, hold still, be alone in the
//! frame) and fails with a stable code and a message in those words.
//!
//! The defaults are checked against real faces with `facepay eval lfw`, which prints how many
//! faces each gate turns away. On the LFW development set (news photos, so harder than a kiosk)
//! 5,975 of 6,922 pass; 760 are refused for a second prominent face (other people in the shot),
//! 157 for pose, 19 for blur, 10 for size and 1 for darkness. No kiosk capture set is available to
//! tune them further.

use crate::align::{ARCFACE_TEMPLATE, Similarity};
use crate::detect::{Detection, Point};

/// Thresholds of the quality gates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityConfig {
    /// A second face at least this share of the main face's box area means two people in frame.
    pub prominent_face_area: f32,
    /// Minimum distance between the eye centres, in photo pixels.
    pub min_eye_distance: f32,
    /// How far the face box may leave the photo, as a share of its width.
    pub max_outside_share: f32,
    /// Minimum variance of the Laplacian of the aligned face's luma (lower is blurrier).
    pub min_sharpness: f32,
    /// Accepted mean luma (0..255) of the aligned face's centre.
    pub min_brightness: f32,
    pub max_brightness: f32,
    /// Maximum horizontal offset of the nose from between the eyes, in eye distances (turned head).
    pub max_yaw: f32,
    /// Accepted nose height between eyes (0) and mouth (1) (tilted up or down); frontal is ~0.5.
    pub pitch_range: (f32, f32),
    /// Maximum angle of the eye line, in degrees (tilted sideways).
    pub max_roll_degrees: f32,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            prominent_face_area: 0.35,
            min_eye_distance: 24.0,
            max_outside_share: 0.05,
            min_sharpness: 20.0,
            min_brightness: 45.0,
            max_brightness: 215.0,
            max_yaw: 0.35,
            pitch_range: (0.25, 0.75),
            max_roll_degrees: 25.0,
        }
    }
}

/// Why a capture cannot be used, in words a person understands.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum QualityIssue {
    #[error("no face was found: look at the camera")]
    NoFace,
    #[error("more than one face is in view: only the person paying should be in front of the camera")]
    SeveralFaces,
    #[error("the face is too small: come closer to the camera")]
    TooSmall,
    #[error("the face is cut off by the edge of the picture: move to the centre")]
    AtEdge,
    #[error("the picture is blurred: hold still")]
    Blurred,
    #[error("the face is too dark: find more light")]
    TooDark,
    #[error("the face is too bright: step out of direct light")]
    TooBright,
    #[error("the head is turned or tilted: look straight at the camera")]
    NotFrontal,
}

impl QualityIssue {
    pub fn code(&self) -> &'static str {
        match self {
            QualityIssue::NoFace => "face_not_found",
            QualityIssue::SeveralFaces => "face_several",
            QualityIssue::TooSmall => "face_too_small",
            QualityIssue::AtEdge => "face_at_edge",
            QualityIssue::Blurred => "face_blurred",
            QualityIssue::TooDark => "face_too_dark",
            QualityIssue::TooBright => "face_too_bright",
            QualityIssue::NotFrontal => "face_not_frontal",
        }
    }
}

/// What the gates measured on one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityMeasures {
    pub eye_distance: f32,
    pub outside_share: f32,
    pub sharpness: f32,
    pub brightness: f32,
    pub yaw: f32,
    pub pitch: f32,
    pub roll_degrees: f32,
}

impl QualityMeasures {
    /// Measures the chosen `face` of a `width` x `height` photo and its aligned 112x112 RGB crop.
    pub fn measure(face: &Detection, width: u32, height: u32, aligned: &[u8]) -> QualityMeasures {
        let (w, h) = (width as f32, height as f32);
        let outside = [-face.left, -face.top, face.left + face.width - w, face.top + face.height - h];
        let outside_share = outside.into_iter().fold(0.0f32, f32::max) / face.width.max(1.0);

        let [right_eye, left_eye, ..] = face.landmarks;
        let roll_degrees = (left_eye.y - right_eye.y).atan2(left_eye.x - right_eye.x).to_degrees();
        // Pose is read in the aligned frame, where roll and scale are already removed.
        let (yaw, pitch) = match Similarity::estimate(&face.landmarks, &ARCFACE_TEMPLATE) {
            Some(t) => {
                let [re, le, nose, rm, lm] = face.landmarks.map(|p| t.apply(p));
                let eyes = Point { x: (re.x + le.x) / 2.0, y: (re.y + le.y) / 2.0 };
                let mouth_y = (rm.y + lm.y) / 2.0;
                let eye_distance = (le.x - re.x).abs().max(1e-3);
                ((nose.x - eyes.x) / eye_distance, (nose.y - eyes.y) / (mouth_y - eyes.y).max(1e-3))
            }
            None => (f32::INFINITY, f32::INFINITY),
        };
        let (sharpness, brightness) = luma_statistics(aligned);
        QualityMeasures {
            eye_distance: face.eye_distance(),
            outside_share,
            sharpness,
            brightness,
            yaw,
            pitch,
            roll_degrees,
        }
    }

    /// The first gate this face fails, in the order a person should fix them.
    pub fn first_issue(&self, config: &QualityConfig) -> Option<QualityIssue> {
        if self.outside_share > config.max_outside_share {
            Some(QualityIssue::AtEdge)
        } else if self.eye_distance < config.min_eye_distance {
            Some(QualityIssue::TooSmall)
        } else if self.yaw.abs() > config.max_yaw
            || !(config.pitch_range.0..=config.pitch_range.1).contains(&self.pitch)
            || self.roll_degrees.abs() > config.max_roll_degrees
        {
            Some(QualityIssue::NotFrontal)
        } else if self.brightness < config.min_brightness {
            Some(QualityIssue::TooDark)
        } else if self.brightness > config.max_brightness {
            Some(QualityIssue::TooBright)
        } else if self.sharpness < config.min_sharpness {
            Some(QualityIssue::Blurred)
        } else {
            None
        }
    }
}

/// Picks the face to use: the largest. Fails when there is none, or when another face is
/// prominent enough that it is unclear who is in front of the camera.
pub fn main_face<'a>(faces: &'a [Detection], config: &QualityConfig) -> Result<&'a Detection, QualityIssue> {
    let mut by_area: Vec<&Detection> = faces.iter().collect();
    by_area.sort_by(|a, b| b.area().total_cmp(&a.area()));
    match by_area.as_slice() {
        [] => Err(QualityIssue::NoFace),
        [main, second, ..] if second.area() >= config.prominent_face_area * main.area() => {
            Err(QualityIssue::SeveralFaces)
        }
        [main, ..] => Ok(main),
    }
}

/// Variance of the 3x3 Laplacian and mean of the luma over the inner 64x64 of an aligned face
/// (the eyes, nose and mouth; not the background).
fn luma_statistics(aligned: &[u8]) -> (f32, f32) {
    const SIDE: usize = crate::align::ALIGNED_SIDE;
    const INNER: std::ops::Range<usize> = 24..88;
    let luma = |x: usize, y: usize| {
        let p = &aligned[(y * SIDE + x) * 3..][..3];
        0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
    };
    let (mut sum, mut lap_sum, mut lap_sq, mut count) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in INNER {
        for x in INNER {
            let centre = luma(x, y);
            let laplacian = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1) - 4.0 * centre;
            sum += f64::from(centre);
            lap_sum += f64::from(laplacian);
            lap_sq += f64::from(laplacian) * f64::from(laplacian);
            count += 1.0;
        }
    }
    let mean_lap = lap_sum / count;
    ((lap_sq / count - mean_lap * mean_lap) as f32, (sum / count) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal(left: f32, top: f32, scale: f32) -> Detection {
        let landmarks = ARCFACE_TEMPLATE.map(|p| Point { x: left + p.x * scale, y: top + p.y * scale });
        Detection { left, top, width: 112.0 * scale, height: 112.0 * scale, score: 0.9, landmarks }
    }

    fn textured(level: u8, contrast: u8) -> Vec<u8> {
        (0..112 * 112)
            .flat_map(|i| {
                let v = if (i % 112 + i / 112) % 2 == 0 { level.saturating_add(contrast) } else { level };
                [v, v, v]
            })
            .collect()
    }

    #[test]
    fn a_frontal_sharp_well_lit_face_passes() {
        let m = QualityMeasures::measure(&frontal(50.0, 50.0, 1.0), 300, 300, &textured(110, 40));
        assert!(m.yaw.abs() < 0.01 && (m.pitch - 0.5).abs() < 0.01 && m.roll_degrees.abs() < 0.5, "{m:?}");
        assert_eq!(m.first_issue(&QualityConfig::default()), None);
    }

    #[test]
    fn each_gate_fails_past_its_threshold() {
        let config = QualityConfig::default();
        let issue = |face: &Detection, aligned: &[u8]| {
            QualityMeasures::measure(face, 300, 300, aligned).first_issue(&config)
        };
        let sharp = textured(110, 40);
        assert_eq!(issue(&frontal(250.0, 50.0, 1.0), &sharp), Some(QualityIssue::AtEdge));
        assert_eq!(issue(&frontal(50.0, 50.0, 0.3), &sharp), Some(QualityIssue::TooSmall));
        assert_eq!(issue(&frontal(50.0, 50.0, 1.0), &textured(10, 20)), Some(QualityIssue::TooDark));
        assert_eq!(issue(&frontal(50.0, 50.0, 1.0), &textured(225, 20)), Some(QualityIssue::TooBright));
        assert_eq!(issue(&frontal(50.0, 50.0, 1.0), &textured(120, 0)), Some(QualityIssue::Blurred));
        let mut turned = frontal(50.0, 50.0, 1.0);
        turned.landmarks[2].x += 20.0;
        assert_eq!(issue(&turned, &sharp), Some(QualityIssue::NotFrontal));
    }

    #[test]
    fn the_main_face_is_the_largest_unless_another_is_prominent() {
        let config = QualityConfig::default();
        assert_eq!(main_face(&[], &config), Err(QualityIssue::NoFace));
        let big = frontal(0.0, 0.0, 2.0);
        let small = frontal(200.0, 0.0, 0.5);
        assert_eq!(main_face(&[small, big], &config), Ok(&big));
        let rival = frontal(200.0, 0.0, 1.5);
        assert_eq!(main_face(&[big, rival], &config), Err(QualityIssue::SeveralFaces));
        assert_eq!(QualityIssue::SeveralFaces.code(), "face_several");
    }
}

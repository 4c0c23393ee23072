//! Alignment: the similarity transform (rotation, uniform scale, translation) that best maps the
//! five detected landmarks onto the standard ArcFace 112x112 template in the least-squares sense,
//! and the 112x112 face it produces. Both recognizers were trained on faces aligned this way.

use crate::detect::Point;
use crate::photo::Photo;
use crate::resample::{Pixels, warp_affine};

/// Side of an aligned face.
pub const ALIGNED_SIDE: usize = 112;

/// Where the five landmarks sit in an aligned 112x112 face (insightface's ArcFace template).
pub const ARCFACE_TEMPLATE: [Point; 5] = [
    Point { x: 38.2946, y: 51.6963 },
    Point { x: 73.5318, y: 51.5014 },
    Point { x: 56.0252, y: 71.7366 },
    Point { x: 41.5493, y: 92.3655 },
    Point { x: 70.7299, y: 92.2041 },
];

/// A 2x3 similarity transform `[p, -q, tx; q, p, ty]`: scale * rotation, then translation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub p: f32,
    pub q: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    /// The least-squares similarity mapping `from` onto `to` (Umeyama's method, which in 2D has
    /// this closed form). `None` when the points coincide.
    pub fn estimate(from: &[Point; 5], to: &[Point; 5]) -> Option<Similarity> {
        let centroid = |points: &[Point; 5]| {
            let (sx, sy) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
            Point { x: sx / 5.0, y: sy / 5.0 }
        };
        let (cf, ct) = (centroid(from), centroid(to));
        let (mut dot, mut cross, mut spread) = (0.0f32, 0.0f32, 0.0f32);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy, tx, ty) = (f.x - cf.x, f.y - cf.y, t.x - ct.x, t.y - ct.y);
            dot += fx * tx + fy * ty;
            cross += fx * ty - fy * tx;
            spread += fx * fx + fy * fy;
        }
        if spread <= f32::EPSILON {
            return None;
        }
        let (p, q) = (dot / spread, cross / spread);
        Some(Similarity { p, q, tx: ct.x - (p * cf.x - q * cf.y), ty: ct.y - (q * cf.x + p * cf.y) })
    }

    pub fn apply(&self, point: Point) -> Point {
        Point {
            x: self.p * point.x - self.q * point.y + self.tx,
            y: self.q * point.x + self.p * point.y + self.ty,
        }
    }

    /// The inverse map as the 2x3 row-major matrix `warp_affine` takes.
    fn inverse_matrix(&self) -> [f32; 6] {
        let det = self.p * self.p + self.q * self.q;
        let (a, b, d, e) = (self.p / det, self.q / det, -self.q / det, self.p / det);
        [a, b, -(a * self.tx + b * self.ty), d, e, -(d * self.tx + e * self.ty)]
    }
}

/// The 112x112 RGB face for `landmarks`, or `None` for degenerate landmarks.
pub fn align(photo: &Photo, landmarks: &[Point; 5]) -> Option<Vec<u8>> {
    let transform = Similarity::estimate(landmarks, &ARCFACE_TEMPLATE)?;
    let src = Pixels { width: photo.width() as usize, height: photo.height() as usize, rgb: photo.rgb() };
    Some(warp_affine(src, transform.inverse_matrix(), ALIGNED_SIDE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_similarity_is_recovered_exactly() {
        let truth = Similarity { p: 0.8, q: 0.3, tx: 5.0, ty: -7.0 };
        let from = ARCFACE_TEMPLATE.map(|p| Point { x: p.x * 1.7 + 20.0, y: p.y * 1.1 - 3.0 });
        let to = from.map(|p| truth.apply(p));
        let found = Similarity::estimate(&from, &to).unwrap();
        for (a, b) in [(found.p, truth.p), (found.q, truth.q), (found.tx, truth.tx), (found.ty, truth.ty)] {
            assert!((a - b).abs() < 1e-3, "{found:?} vs {truth:?}");
        }
    }

    #[test]
    fn the_inverse_undoes_the_transform() {
        let t = Similarity { p: 0.5, q: -0.2, tx: 3.0, ty: 9.0 };
        let [a, b, c, d, e, f] = t.inverse_matrix();
        let moved = t.apply(Point { x: 11.0, y: -4.0 });
        let back = Point { x: a * moved.x + b * moved.y + c, y: d * moved.x + e * moved.y + f };
        assert!((back.x - 11.0).abs() < 1e-4 && (back.y + 4.0).abs() < 1e-4);
    }

    #[test]
    fn coincident_landmarks_cannot_be_aligned() {
        assert!(Similarity::estimate(&[Point { x: 3.0, y: 3.0 }; 5], &ARCFACE_TEMPLATE).is_none());
    }
}

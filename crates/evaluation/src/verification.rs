//! Verification metrics. `kfold_accuracy` is LFW's protocol: for each fold, the threshold that is
//! most accurate on the other folds is applied to it. `Verification` holds every genuine and
//! impostor score of an all-pairs run and answers EER, TAR at a FAR and the DET curve from them.

/// One scored pair of the pairs protocol. A pair whose face was not found scores `f32::MIN`,
/// which no threshold accepts: a failure to detect counts against accuracy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScorePair {
    pub fold: usize,
    pub score: f32,
    pub same: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FoldAccuracy {
    pub mean: f64,
    pub std: f64,
    /// Per fold: the threshold chosen on the other folds and the accuracy it gave here.
    pub folds: Vec<(f32, f64)>,
}

/// The k-fold accuracy over `folds` folds, numbered from 0.
pub fn kfold_accuracy(pairs: &[ScorePair], folds: usize) -> FoldAccuracy {
    let per_fold: Vec<(f32, f64)> = (0..folds)
        .map(|fold| {
            let train: Vec<(f32, bool)> =
                pairs.iter().filter(|p| p.fold != fold).map(|p| (p.score, p.same)).collect();
            let threshold = best_threshold(&train);
            let test: Vec<&ScorePair> = pairs.iter().filter(|p| p.fold == fold).collect();
            let right = test.iter().filter(|p| (p.score > threshold) == p.same).count();
            (threshold, right as f64 / test.len().max(1) as f64)
        })
        .collect();
    let mean = per_fold.iter().map(|(_, a)| a).sum::<f64>() / folds as f64;
    let variance = per_fold.iter().map(|(_, a)| (a - mean).powi(2)).sum::<f64>() / folds as f64;
    FoldAccuracy { mean, std: variance.sqrt(), folds: per_fold }
}

/// The threshold (accept when score > threshold) with the most right answers on `pairs`: the
/// midpoint between the two scores where the best split falls.
fn best_threshold(pairs: &[(f32, bool)]) -> f32 {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below everything: every genuine pair is right, no impostor is.
    let mut right = sorted.iter().filter(|p| p.1).count() as i64;
    let (mut best_right, mut best) = (right, sorted.first().map_or(0.0, |p| p.0) - 1e-6);
    for (i, &(score, same)) in sorted.iter().enumerate() {
        right += if same { -1 } else { 1 };
        let next = sorted.get(i + 1).map(|p| p.0);
        if next == Some(score) {
            continue; // a threshold cannot split equal scores
        }
        if right > best_right {
            best_right = right;
            best = next.map_or(score + 1e-6, |n| (score + n) / 2.0);
        }
    }
    best
}

/// TAR at one FAR, with how many impostor pairs the FAR was measured on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TarAtFar {
    pub far: f64,
    pub tar: f64,
    pub threshold: f32,
    pub impostor_pairs: usize,
}

/// Every genuine and impostor score of an all-pairs run, sorted ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    genuine: Vec<f32>,
    impostor: Vec<f32>,
}

impl Verification {
    pub fn new(mut genuine: Vec<f32>, mut impostor: Vec<f32>) -> Verification {
        genuine.sort_unstable_by(f32::total_cmp);
        impostor.sort_unstable_by(f32::total_cmp);
        Verification { genuine, impostor }
    }

    pub fn genuine_pairs(&self) -> usize {
        self.genuine.len()
    }

    pub fn impostor_pairs(&self) -> usize {
        self.impostor.len()
    }

    /// Share of impostor scores strictly above `threshold`.
    pub fn false_accept_rate(&self, threshold: f32) -> f64 {
        let above = self.impostor.len() - self.impostor.partition_point(|s| *s <= threshold);
        above as f64 / self.impostor.len().max(1) as f64
    }

    /// Share of genuine scores at or below `threshold`.
    pub fn false_reject_rate(&self, threshold: f32) -> f64 {
        self.genuine.partition_point(|s| *s <= threshold) as f64 / self.genuine.len().max(1) as f64
    }

    /// The lowest threshold whose FAR is at most `far`, and the TAR there. `None` when there are
    /// too few impostor pairs to measure that FAR (fewer than 1 / far).
    pub fn tar_at_far(&self, far: f64) -> Option<TarAtFar> {
        let n = self.impostor.len();
        if self.genuine.is_empty() || (n as f64) * far < 1.0 {
            return None;
        }
        let allowed = ((far * n as f64).floor() as usize).min(n - 1);
        // Accepting scores above the (allowed+1)-th highest impostor lets at most `allowed` through.
        let threshold = self.impostor[n - 1 - allowed];
        let accepted = self.genuine.len() - self.genuine.partition_point(|s| *s <= threshold);
        Some(TarAtFar { far, tar: accepted as f64 / self.genuine.len() as f64, threshold, impostor_pairs: n })
    }

    /// The equal error rate: where FAR and FRR cross, as their mean at the closest threshold.
    pub fn eer(&self) -> f64 {
        let mut best = (f64::INFINITY, 1.0);
        for &threshold in self.genuine.iter().chain(self.impostor.iter().rev().take(1)) {
            let (far, frr) = (self.false_accept_rate(threshold), self.false_reject_rate(threshold));
            if (far - frr).abs() < best.0 {
                best = ((far - frr).abs(), (far + frr) / 2.0);
            }
        }
        best.1
    }

    /// `(FAR, FRR)` points from the smallest measurable FAR up to 1, evenly spaced in log FAR.
    pub fn det_curve(&self, points: usize) -> Vec<(f64, f64)> {
        let n = self.impostor.len().max(1) as f64;
        let (low, high) = ((1.0 / n).log10(), 0.0);
        (0..points)
            .filter_map(|i| {
                let far = 10f64.powf(low + (high - low) * i as f64 / (points - 1).max(1) as f64);
                self.tar_at_far(far).map(|t| (self.false_accept_rate(t.threshold).max(1.0 / n), 1.0 - t.tar))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn separable_scores_give_full_accuracy_and_zero_eer() {
        let pairs: Vec<ScorePair> = (0..40)
            .map(|i| ScorePair { fold: i % 4, score: if i % 2 == 0 { 0.8 } else { 0.1 }, same: i % 2 == 0 })
            .collect();
        let accuracy = kfold_accuracy(&pairs, 4);
        assert_eq!(accuracy.mean, 1.0);
        assert!(accuracy.folds.iter().all(|(t, _)| *t > 0.1 && *t < 0.8));
        let v = Verification::new(vec![0.8; 20], vec![0.1; 20]);
        assert_eq!(v.eer(), 0.0);
        assert_eq!(v.tar_at_far(0.05).unwrap().tar, 1.0);
    }

    #[test]
    fn tar_at_far_counts_exactly() {
        // 1000 impostors 0.000..0.999, genuine 0.5..1.0: at FAR 1e-2, 10 impostors may pass,
        // so the threshold is the 11th highest impostor (0.989) and genuine above it pass.
        let impostor: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let genuine: Vec<f32> = (0..100).map(|i| 0.5 + i as f32 / 200.0).collect();
        let v = Verification::new(genuine, impostor);
        let t = v.tar_at_far(1e-2).unwrap();
        assert_eq!(t.threshold, 0.989);
        assert!((v.false_accept_rate(t.threshold) - 0.010).abs() < 1e-9);
        assert_eq!(t.tar, 2.0 / 100.0);
        assert_eq!(t.impostor_pairs, 1000);
        assert!(v.tar_at_far(1e-4).is_none(), "1000 impostors cannot measure 1e-4");
        assert_eq!(v.tar_at_far(1.0).unwrap().threshold, 0.0, "FAR 1 is the lowest impostor");
        assert_eq!(v.det_curve(50).len(), 50);
    }

    #[test]
    fn undetected_faces_count_as_errors() {
        let mut pairs: Vec<ScorePair> = (0..20)
            .map(|i| ScorePair { fold: i % 2, score: if i % 2 == 0 { 0.9 } else { 0.0 }, same: i % 2 == 0 })
            .collect();
        pairs[0].score = f32::MIN;
        assert!(kfold_accuracy(&pairs, 2).mean < 1.0);
    }

    proptest! {
        #[test]
        fn far_never_exceeds_the_target(imp in prop::collection::vec(-1.0f32..1.0, 10..400), genuine in prop::collection::vec(-1.0f32..1.0, 1..50), far in 0.01f64..1.0) {
            let v = Verification::new(genuine, imp);
            if let Some(t) = v.tar_at_far(far) {
                prop_assert!(v.false_accept_rate(t.threshold) <= far + 1e-12);
            }
        }

        #[test]
        fn the_chosen_threshold_is_as_accurate_as_any(scores in prop::collection::vec((-1.0f32..1.0, any::<bool>()), 1..60)) {
            let best = best_threshold(&scores);
            let right = |t: f32| scores.iter().filter(|(s, same)| (*s > t) == *same).count();
            for &(candidate, _) in &scores {
                prop_assert!(right(best) >= right(candidate));
                prop_assert!(right(best) >= right(candidate - 1e-3));
            }
        }
    }
}

//! The identification decision, as a pure function of the search result: a match only when the
//! best score clears the threshold for where it searched and leads the runner-up by a margin; ask
//! for the phone digits when someone is plausible but not certain; otherwise no match. A match
//! weaker than the PIN-free level pays only with the shopper's PIN. `DecisionRule::default()` is
//! the rule `facepay serve` runs, and the one `eval identify`, `bench index` and `demo` print.
//!
//! There are two search thresholds because a search among everyone and a search among the few
//! who share the last 4 phone digits face different numbers of strangers. The bucket threshold
//! is a 1:1 threshold: the cosine at which mobilefacenet_128 with flip fusion falsely accepts one
//! impostor pair in 1,000 on LFW (0.34, `facepay eval lfw`). Phone digits are no secret, though:
//! a stranger who knows a victim's digits searches the victim's bucket, so a bucket match above
//! 0.34 is a 1:1 match at FAR 1e-3, too weak to spend money on alone. Such a match is asked for
//! the PIN unless it clears `pin_free_threshold`, the cosine of FAR 1e-5 over all impostor
//! pairs of LFW dev (`facepay eval lfw`), the false-match budget of a face alone.
//!
//! Among everyone the same 0.34 matched 6% of strangers to someone at 3,554 enrolled, so the
//! open threshold is far higher: 0.94, where `facepay eval identify` on LFW dev puts FPIR 1e-3
//! (at 0.65, 41 of 6,096 strangers matched someone). Since the chance that some stranger scores
//! above it grows with the gallery, an operator should re-measure it at their own gallery size
//! (`facepay eval identify --gallery-extra`).

use facepay_domain::ShopperId;

use crate::index::Candidate;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// The best score that identifies someone among everyone enrolled, without the phone digits.
    pub open_threshold: f32,
    /// The best score that identifies someone among those who share the phone digits; below it,
    /// nobody is plausible even with the digits.
    pub bucket_threshold: f32,
    /// The weakest match that pays without the PIN; a weaker one (only a bucket's can be, see
    /// `check`) is asked for it.
    pub pin_free_threshold: f32,
    /// How far the best must lead the runner-up to be a match.
    pub margin: f32,
}

impl Default for DecisionRule {
    /// The rule `facepay serve` runs with.
    fn default() -> Self {
        DecisionRule {
            open_threshold: 0.94,
            bucket_threshold: 0.34,
            pin_free_threshold: PIN_FREE,
            margin: 0.08,
        }
    }
}

/// FAR 1e-5 over all 23,894,183 impostor pairs of LFW dev, mobilefacenet_128 with flip fusion:
/// 0.4634 (`facepay eval lfw`, where TAR is 96.19% there), rounded up to be no looser.
const PIN_FREE: f32 = 0.47;

impl DecisionRule {
    /// Refuses a rule whose thresholds are out of order: nobody may be matched among everyone
    /// more weakly than the PIN-free level, nor in a bucket below where the digits are asked.
    pub fn check(&self) -> Result<(), String> {
        let DecisionRule { open_threshold, bucket_threshold, pin_free_threshold, margin } = *self;
        if !(0.0..=1.0).contains(&bucket_threshold) || !(0.0..=0.5).contains(&margin) {
            return Err(format!(
                "the bucket threshold is from 0 to 1 and the margin from 0 to 0.5 (got {bucket_threshold}, {margin})"
            ));
        }
        if !(bucket_threshold <= pin_free_threshold && pin_free_threshold <= open_threshold) {
            return Err(format!(
                "thresholds must rise from the bucket's ({bucket_threshold}) to the PIN-free level \
                 ({pin_free_threshold}) to the open one ({open_threshold})"
            ));
        }
        Ok(())
    }
}

/// The thresholds as a line of a report.
impl std::fmt::Display for DecisionRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "open {:.2}, bucket {:.2}, PIN-free {:.2}, margin {:.2}",
            self.open_threshold, self.bucket_threshold, self.pin_free_threshold, self.margin
        )
    }
}

/// Where the candidates were searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone enrolled (no phone digits yet).
    Everyone,
    /// Only those whose phone ends in the digits the shopper typed.
    PhoneBucket,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Match {
        shopper: ShopperId,
        score: f32,
        /// Below the PIN-free level: the payment asks for the shopper's PIN whatever it costs.
        pin_required: bool,
    },
    /// Someone is plausible but not certain: the phone digits narrow the search to a bucket.
    AskHint,
    NoMatch,
}

impl Decision {
    pub fn code(&self) -> &'static str {
        match self {
            Decision::Match { .. } => "identify_match",
            Decision::AskHint => "identify_ask_hint",
            Decision::NoMatch => "identify_no_match",
        }
    }
}

/// Decides from candidates sorted best first (as `FaceIndex::search` returns them).
///
/// Among everyone: a clear leader above the open threshold matches; otherwise, if anyone clears
/// the bucket threshold, the phone digits are asked for. In a bucket there is nothing more to
/// ask, so a runner-up too close to the best (two people who share the digits and look alike)
/// is no match rather than a guess.
pub fn decide(candidates: &[Candidate], rule: &DecisionRule, scope: Scope) -> Decision {
    let Some(best) = candidates.first().filter(|c| c.score >= rule.bucket_threshold) else {
        return Decision::NoMatch;
    };
    let threshold = match scope {
        Scope::Everyone => rule.open_threshold,
        Scope::PhoneBucket => rule.bucket_threshold,
    };
    // A runner-up within the margin, counting one just under the threshold too.
    let contested = candidates
        .get(1)
        .is_some_and(|c| best.score - c.score < rule.margin && c.score >= threshold - rule.margin);
    if best.score >= threshold && !contested {
        let pin_required = best.score < rule.pin_free_threshold;
        return Decision::Match { shopper: best.shopper, score: best.score, pin_required };
    }
    match scope {
        Scope::Everyone => Decision::AskHint,
        Scope::PhoneBucket => Decision::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: u128, score: f32) -> Candidate {
        Candidate { shopper: ShopperId::from_u128(id), score }
    }

    fn matched(id: u128, score: f32, pin_required: bool) -> Decision {
        Decision::Match { shopper: ShopperId::from_u128(id), score, pin_required }
    }

    const RULE: DecisionRule =
        DecisionRule { open_threshold: 0.6, bucket_threshold: 0.4, pin_free_threshold: 0.5, margin: 0.1 };

    #[test]
    fn a_clear_leader_above_the_open_threshold_matches_without_the_digits() {
        let decision = decide(&[candidate(1, 0.75), candidate(2, 0.55)], &RULE, Scope::Everyone);
        assert_eq!(decision, matched(1, 0.75, false));
        assert_eq!(decision.code(), "identify_match");
        assert_eq!(
            decide(&[candidate(1, 0.6)], &RULE, Scope::Everyone).code(),
            "identify_match",
            "the threshold itself"
        );
    }

    #[test]
    fn a_plausible_best_below_the_open_threshold_asks_for_the_digits() {
        let decision =
            decide(&[candidate(1, 0.59), candidate(2, 0.45), candidate(3, 0.39)], &RULE, Scope::Everyone);
        assert_eq!(decision, Decision::AskHint);
        assert_eq!(decision.code(), "identify_ask_hint");
    }

    #[test]
    fn a_close_runner_up_asks_for_the_digits_even_above_the_open_threshold() {
        let found = [candidate(1, 0.8), candidate(2, 0.71), candidate(3, 0.5), candidate(4, 0.3)];
        assert_eq!(decide(&found, &RULE, Scope::Everyone), Decision::AskHint);
        // A runner-up under the threshold by more than the margin does not contest.
        assert_eq!(
            decide(&[candidate(1, 0.62), candidate(2, 0.49)], &RULE, Scope::Everyone).code(),
            "identify_match"
        );
        assert_eq!(
            decide(&[candidate(1, 0.62), candidate(2, 0.53)], &RULE, Scope::Everyone).code(),
            "identify_ask_hint"
        );
    }

    #[test]
    fn in_a_bucket_the_bucket_threshold_decides_and_a_tie_is_no_match() {
        let decision = decide(&[candidate(1, 0.55), candidate(2, 0.2)], &RULE, Scope::PhoneBucket);
        assert_eq!(decision, matched(1, 0.55, false));
        assert_eq!(
            decide(&[candidate(1, 0.45), candidate(2, 0.4)], &RULE, Scope::PhoneBucket),
            Decision::NoMatch
        );
        assert_eq!(decide(&[candidate(1, 0.39)], &RULE, Scope::PhoneBucket), Decision::NoMatch);
    }

    #[test]
    fn a_bucket_match_below_the_pin_free_level_asks_for_the_pin() {
        let weak = decide(&[candidate(1, 0.45), candidate(2, 0.2)], &RULE, Scope::PhoneBucket);
        assert_eq!(weak, matched(1, 0.45, true));
        assert_eq!(
            decide(&[candidate(1, 0.5)], &RULE, Scope::PhoneBucket),
            matched(1, 0.5, false),
            "the level"
        );
    }

    #[test]
    fn a_rule_with_thresholds_out_of_order_is_refused() {
        assert!(RULE.check().is_ok() && DecisionRule::default().check().is_ok());
        for wrong in [
            DecisionRule { open_threshold: 0.45, ..RULE },
            DecisionRule { bucket_threshold: 0.55, ..RULE },
            DecisionRule { bucket_threshold: -0.1, ..RULE },
            DecisionRule { margin: 0.6, ..RULE },
        ] {
            assert!(wrong.check().is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn with_no_margin_the_best_above_the_threshold_matches_even_on_a_tie() {
        let rule = DecisionRule { margin: 0.0, ..RULE };
        let decision = decide(&[candidate(1, 0.7), candidate(2, 0.7)], &rule, Scope::Everyone);
        assert_eq!(decision, matched(1, 0.7, false));
    }

    #[test]
    fn nobody_above_the_bucket_threshold_is_no_match_anywhere() {
        for scope in [Scope::Everyone, Scope::PhoneBucket] {
            assert_eq!(decide(&[candidate(1, 0.39), candidate(2, 0.38)], &RULE, scope), Decision::NoMatch);
            assert_eq!(decide(&[], &RULE, scope), Decision::NoMatch);
        }
        assert_eq!(Decision::NoMatch.code(), "identify_no_match");
    }
}

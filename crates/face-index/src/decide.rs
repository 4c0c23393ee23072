//! The identification decision, as a pure function of the search result: a match only when the
//! best score clears the threshold for where it searched and leads the runner-up by a margin; ask
//! for the phone digits when someone is plausible but not certain; otherwise no match.
//!
//! There are two thresholds because a search among everyone and a search among the few who share
//! the last 4 phone digits face different numbers of strangers. The bucket threshold is a 1:1
//! threshold: the cosine at which mobilefacenet_128 with flip fusion falsely accepts one impostor
//! pair in 1,000 on LFW (0.34, `facepay eval lfw`), and `facepay eval identify` confirms FPIR 1e-3
//! inside a bucket there (0.347). Among everyone the same 0.34 matched 6% of strangers to someone
//! at 3,554 enrolled, so the open threshold is far higher; where to put it is measured by
//! `facepay eval identify` (the table of decisions by open threshold), and since the chance that
//! some stranger scores above it grows with the gallery, an operator should re-measure it at
//! their own gallery size.

use facepay_domain::ShopperId;

use crate::index::Candidate;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    /// The best score that identifies someone among everyone enrolled, without the phone digits.
    pub open_threshold: f32,
    /// The best score that identifies someone among those who share the phone digits; below it,
    /// nobody is plausible even with the digits.
    pub bucket_threshold: f32,
    /// How far the best must lead the runner-up to be a match.
    pub margin: f32,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule { open_threshold: 0.65, bucket_threshold: 0.34, margin: 0.08 }
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
    },
    /// Someone is plausible but not certain: the phone digits decide among these, best first.
    AskHint {
        candidates: Vec<ShopperId>,
    },
    NoMatch,
}

impl Decision {
    pub fn code(&self) -> &'static str {
        match self {
            Decision::Match { .. } => "identify_match",
            Decision::AskHint { .. } => "identify_ask_hint",
            Decision::NoMatch => "identify_no_match",
        }
    }
}

/// Decides from candidates sorted best first (as `FaceIndex::search` returns them).
///
/// Among everyone: a clear leader above the open threshold matches; otherwise everyone above the
/// bucket threshold is a candidate for the phone digits. In a bucket there is nothing more to
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
        return Decision::Match { shopper: best.shopper, score: best.score };
    }
    match scope {
        Scope::Everyone => Decision::AskHint {
            candidates: candidates
                .iter()
                .take_while(|c| c.score >= rule.bucket_threshold)
                .map(|c| c.shopper)
                .collect(),
        },
        Scope::PhoneBucket => Decision::NoMatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: u128, score: f32) -> Candidate {
        Candidate { shopper: ShopperId::from_u128(id), score }
    }

    fn ids(ids: &[u128]) -> Vec<ShopperId> {
        ids.iter().map(|&i| ShopperId::from_u128(i)).collect()
    }

    const RULE: DecisionRule = DecisionRule { open_threshold: 0.6, bucket_threshold: 0.4, margin: 0.1 };

    #[test]
    fn a_clear_leader_above_the_open_threshold_matches_without_the_digits() {
        let decision = decide(&[candidate(1, 0.75), candidate(2, 0.55)], &RULE, Scope::Everyone);
        assert_eq!(decision, Decision::Match { shopper: ShopperId::from_u128(1), score: 0.75 });
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
        // Everyone the digits could pick, which is everyone above the bucket threshold.
        assert_eq!(decision, Decision::AskHint { candidates: ids(&[1, 2]) });
        assert_eq!(decision.code(), "identify_ask_hint");
    }

    #[test]
    fn a_close_runner_up_asks_for_the_digits_even_above_the_open_threshold() {
        let found = [candidate(1, 0.8), candidate(2, 0.71), candidate(3, 0.5), candidate(4, 0.3)];
        assert_eq!(decide(&found, &RULE, Scope::Everyone), Decision::AskHint { candidates: ids(&[1, 2, 3]) });
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
        let decision = decide(&[candidate(1, 0.45), candidate(2, 0.2)], &RULE, Scope::PhoneBucket);
        assert_eq!(decision, Decision::Match { shopper: ShopperId::from_u128(1), score: 0.45 });
        assert_eq!(
            decide(&[candidate(1, 0.45), candidate(2, 0.4)], &RULE, Scope::PhoneBucket),
            Decision::NoMatch
        );
        assert_eq!(decide(&[candidate(1, 0.39)], &RULE, Scope::PhoneBucket), Decision::NoMatch);
    }

    #[test]
    fn with_no_margin_the_best_above_the_threshold_matches_even_on_a_tie() {
        let rule = DecisionRule { margin: 0.0, ..RULE };
        let decision = decide(&[candidate(1, 0.7), candidate(2, 0.7)], &rule, Scope::Everyone);
        assert_eq!(decision, Decision::Match { shopper: ShopperId::from_u128(1), score: 0.7 });
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

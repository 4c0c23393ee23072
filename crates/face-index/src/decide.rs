//! The identification decision, as a pure function of the search result: a match only when the
//! best score clears the match threshold and leads the runner-up by a margin; ask for the phone
//! digits when the best clears the threshold but others are too close behind; otherwise no match.
//!
//! The thresholds are the operator's, from measurements: the default match threshold is the
//! cosine at which mobilefacenet_128 with flip fusion falsely accepts one impostor pair in 1,000
//! on LFW (0.34, from `facepay eval lfw`). `facepay eval identify` shows that this 1:1 threshold
//! is right inside a phone-digit bucket (FPIR 1e-3 there at 0.347) but far too low for a search
//! among everyone: at 3,554 enrolled, margin 0.08 matched 6% of strangers to someone. Until the
//! rule gains a separate threshold for searches without the digits, callers should ask for the
//! digits before every match on galleries of that size.

use facepay_domain::ShopperId;

use crate::index::Candidate;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionRule {
    pub match_threshold: f32,
    /// How far the best must lead the runner-up to be a match without asking.
    pub margin: f32,
}

impl Default for DecisionRule {
    fn default() -> Self {
        DecisionRule { match_threshold: 0.34, margin: 0.08 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Match {
        shopper: ShopperId,
        score: f32,
    },
    /// Several enrolled faces are close: the phone digits decide among these, best first.
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
pub fn decide(candidates: &[Candidate], rule: &DecisionRule) -> Decision {
    let Some(best) = candidates.first().filter(|c| c.score >= rule.match_threshold) else {
        return Decision::NoMatch;
    };
    // The best, and everyone after it within the margin (with a margin of 0, nobody else).
    let close: Vec<ShopperId> = std::iter::once(best.shopper)
        .chain(
            candidates[1..]
                .iter()
                .take_while(|c| {
                    best.score - c.score < rule.margin && c.score >= rule.match_threshold - rule.margin
                })
                .map(|c| c.shopper),
        )
        .collect();
    if close.len() == 1 {
        Decision::Match { shopper: best.shopper, score: best.score }
    } else {
        Decision::AskHint { candidates: close }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: u128, score: f32) -> Candidate {
        Candidate { shopper: ShopperId::from_u128(id), score }
    }

    const RULE: DecisionRule = DecisionRule { match_threshold: 0.4, margin: 0.1 };

    #[test]
    fn a_clear_leader_above_the_threshold_is_a_match() {
        let decision = decide(&[candidate(1, 0.7), candidate(2, 0.55)], &RULE);
        assert_eq!(decision, Decision::Match { shopper: ShopperId::from_u128(1), score: 0.7 });
        assert_eq!(decision.code(), "identify_match");
        assert_eq!(
            decide(&[candidate(1, 0.4)], &RULE).code(),
            "identify_match",
            "the threshold itself matches"
        );
    }

    #[test]
    fn a_close_runner_up_asks_for_the_phone_digits() {
        let decision =
            decide(&[candidate(1, 0.7), candidate(2, 0.61), candidate(3, 0.59), candidate(4, 0.5)], &RULE);
        let expected = vec![ShopperId::from_u128(1), ShopperId::from_u128(2)];
        assert_eq!(decision, Decision::AskHint { candidates: expected });
        assert_eq!(decision.code(), "identify_ask_hint");
        // A runner-up below the threshold by more than the margin does not count as close.
        assert_eq!(decide(&[candidate(1, 0.42), candidate(2, 0.29)], &RULE).code(), "identify_match");
        assert_eq!(decide(&[candidate(1, 0.42), candidate(2, 0.33)], &RULE).code(), "identify_ask_hint");
    }

    #[test]
    fn with_no_margin_the_best_above_the_threshold_matches_even_on_a_tie() {
        let rule = DecisionRule { margin: 0.0, ..RULE };
        let decision = decide(&[candidate(1, 0.5), candidate(2, 0.5)], &rule);
        assert_eq!(decision, Decision::Match { shopper: ShopperId::from_u128(1), score: 0.5 });
    }

    #[test]
    fn nobody_above_the_threshold_is_no_match() {
        assert_eq!(decide(&[candidate(1, 0.39), candidate(2, 0.38)], &RULE), Decision::NoMatch);
        assert_eq!(decide(&[], &RULE), Decision::NoMatch);
        assert_eq!(Decision::NoMatch.code(), "identify_no_match");
    }
}

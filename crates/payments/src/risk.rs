//! Risk rules: what recent traffic says about a payment before money moves. Each rule looks at
//! one signal (velocity per shopper and per terminal, an amount far above the shopper's usual,
//! failed identifications piling up at a terminal, a terminal new to this shopper, the merchant's
//! standing) and yields allow, step-up (confirm with the PIN) or decline, with a stable code. Every
//! rule that does not simply allow becomes a [`RiskEvent`] the operator can see.
//!
//! The state is a rolling memory of recent attempts, pruned by time as it goes, so it stays small
//! and is a plain function of the commands so far (replay gives the same verdicts).

use std::collections::{HashMap, HashSet, VecDeque};

use facepay_domain::{PaymentId, ShopperId, TerminalId, Timestamp};
use serde::{Deserialize, Serialize};

/// What a rule says about a payment. Ordered: the strictest verdict of all rules applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RiskVerdict {
    Allow,
    /// Go on only if the shopper confirms with their PIN.
    StepUp,
    Decline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RiskRule {
    MerchantSuspended,
    MerchantBlacklisted,
    /// Many faces at this terminal recently matched nobody, or failed liveness: someone may be
    /// trying faces (or photos) until one passes.
    TerminalFailedIdentifications,
    /// This terminal is taking payments faster than a till can.
    TerminalVelocity,
    /// This shopper paid many times in a short while.
    ShopperVelocity,
    /// The amount is far above what this shopper usually pays.
    AmountSpike,
    /// The shopper has paid before, never at this terminal, and the amount is not small.
    NewTerminal,
}

impl RiskRule {
    pub fn code(&self) -> &'static str {
        match self {
            RiskRule::MerchantSuspended => "risk_merchant_suspended",
            RiskRule::MerchantBlacklisted => "risk_merchant_blacklisted",
            RiskRule::TerminalFailedIdentifications => "risk_terminal_failed_identifications",
            RiskRule::TerminalVelocity => "risk_terminal_velocity",
            RiskRule::ShopperVelocity => "risk_shopper_velocity",
            RiskRule::AmountSpike => "risk_amount_spike",
            RiskRule::NewTerminal => "risk_new_terminal",
        }
    }
}

/// One rule that fired for one payment: what the operator's risk view lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskEvent {
    pub payment: PaymentId,
    pub at: Timestamp,
    pub rule: RiskRule,
    pub verdict: RiskVerdict,
    /// The number behind the verdict, in words (counts and amounts only, never personal data).
    pub detail: String,
}

/// A count in a time window: step up from `step_up_at`, decline from `decline_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountRule {
    pub window_ms: i64,
    pub step_up_at: u32,
    pub decline_at: u32,
}

impl CountRule {
    /// The count beyond which no verdict changes: a window keeps no more instants than this.
    fn enough(&self) -> u32 {
        self.decline_at.max(self.step_up_at)
    }

    /// A count as `record` returns it, in words: a window holding `enough` may hold more.
    fn words(&self, count: u32) -> String {
        if count >= self.enough() { format!("at least {count}") } else { count.to_string() }
    }

    fn verdict(&self, count: u32) -> RiskVerdict {
        if count >= self.decline_at {
            RiskVerdict::Decline
        } else if count >= self.step_up_at {
            RiskVerdict::StepUp
        } else {
            RiskVerdict::Allow
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskConfig {
    /// Failed identifications (no match, still ambiguous, liveness failed) at one terminal.
    pub terminal_failures: CountRule,
    /// Payment attempts at one terminal, this one included.
    pub terminal_velocity: CountRule,
    /// Payment attempts identified as one shopper, this one included.
    pub shopper_velocity: CountRule,
    /// Step up when the amount exceeds this many times the shopper's average of their recent
    /// authorized payments...
    pub spike_factor: i64,
    /// ...once there are at least this many of them to average (at most `SPIKE_HISTORY`).
    pub spike_min_history: usize,
    /// Step up at a terminal the shopper never used, for amounts at or above this.
    pub new_terminal_from_minor: i64,
}

impl Default for RiskConfig {
    /// Starting points for a retail deployment; operators tune them to their traffic.
    fn default() -> Self {
        RiskConfig {
            terminal_failures: CountRule { window_ms: 10 * 60_000, step_up_at: 5, decline_at: 15 },
            terminal_velocity: CountRule { window_ms: 60_000, step_up_at: 20, decline_at: 60 },
            shopper_velocity: CountRule { window_ms: 10 * 60_000, step_up_at: 4, decline_at: 10 },
            spike_factor: 5,
            spike_min_history: 3,
            new_terminal_from_minor: 20_000,
        }
    }
}

/// How many recent authorized amounts a shopper's average is taken over.
pub const SPIKE_HISTORY: usize = 10;

/// What the rules remember.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskState {
    terminal_attempts: HashMap<TerminalId, VecDeque<Timestamp>>,
    terminal_failures: HashMap<TerminalId, VecDeque<Timestamp>>,
    shopper_attempts: HashMap<ShopperId, VecDeque<Timestamp>>,
    shopper_amounts: HashMap<ShopperId, VecDeque<i64>>,
    shopper_terminals: HashMap<ShopperId, HashSet<TerminalId>>,
}

/// The verdict for one payment, with every rule that did not simply allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub verdict: RiskVerdict,
    pub fired: Vec<(RiskRule, RiskVerdict, String)>,
}

impl Assessment {
    fn new() -> Assessment {
        Assessment { verdict: RiskVerdict::Allow, fired: Vec::new() }
    }

    fn add(&mut self, rule: RiskRule, verdict: RiskVerdict, detail: String) {
        if verdict != RiskVerdict::Allow {
            self.verdict = self.verdict.max(verdict);
            self.fired.push((rule, verdict, detail));
        }
    }
}

impl RiskState {
    /// Before identification: the terminal's own signals. Counts this attempt.
    pub fn assess_terminal(
        &mut self,
        config: &RiskConfig,
        terminal: TerminalId,
        now: Timestamp,
    ) -> Assessment {
        let mut assessment = Assessment::new();
        let attempts =
            record(self.terminal_attempts.entry(terminal).or_default(), config.terminal_velocity, now);
        let verdict = config.terminal_velocity.verdict(attempts);
        let window_s = config.terminal_velocity.window_ms / 1000;
        let attempts = config.terminal_velocity.words(attempts);
        assessment.add(RiskRule::TerminalVelocity, verdict, format!("{attempts} attempts in {window_s} s"));
        let failures = self.terminal_failures.entry(terminal).or_default();
        let failed = prune(failures, config.terminal_failures.window_ms, now);
        let verdict = config.terminal_failures.verdict(failed);
        let window_s = config.terminal_failures.window_ms / 1000;
        let failed = config.terminal_failures.words(failed);
        assessment.add(
            RiskRule::TerminalFailedIdentifications,
            verdict,
            format!("{failed} failed identifications in {window_s} s"),
        );
        assessment
    }

    /// After identification: the shopper's signals. Counts this attempt.
    pub fn assess_shopper(
        &mut self,
        config: &RiskConfig,
        shopper: ShopperId,
        terminal: TerminalId,
        amount_minor: i64,
        now: Timestamp,
    ) -> Assessment {
        let mut assessment = Assessment::new();
        let attempts =
            record(self.shopper_attempts.entry(shopper).or_default(), config.shopper_velocity, now);
        let window_s = config.shopper_velocity.window_ms / 1000;
        let (verdict, attempts) =
            (config.shopper_velocity.verdict(attempts), config.shopper_velocity.words(attempts));
        assessment.add(RiskRule::ShopperVelocity, verdict, format!("{attempts} payments in {window_s} s"));
        if let Some(amounts) = self.shopper_amounts.get(&shopper)
            && amounts.len() >= config.spike_min_history.max(1)
        {
            let average = amounts.iter().sum::<i64>() / amounts.len() as i64;
            if amount_minor > average.saturating_mul(config.spike_factor) {
                let detail = format!("{amount_minor} against an average of {average} over {}", amounts.len());
                assessment.add(RiskRule::AmountSpike, RiskVerdict::StepUp, detail);
            }
        }
        let known = self.shopper_terminals.get(&shopper);
        let is_new = known.is_some_and(|terminals| !terminals.contains(&terminal));
        if is_new && amount_minor >= config.new_terminal_from_minor {
            let detail = format!("first payment at this terminal, {amount_minor}");
            assessment.add(RiskRule::NewTerminal, RiskVerdict::StepUp, detail);
        }
        assessment
    }

    /// The face at `terminal` was not accepted (no match, still ambiguous, liveness failed).
    pub fn note_failed_identification(&mut self, config: &RiskConfig, terminal: TerminalId, now: Timestamp) {
        record(self.terminal_failures.entry(terminal).or_default(), config.terminal_failures, now);
    }

    /// An authorized payment: it becomes part of the shopper's usual amounts and terminals.
    pub fn note_authorized(&mut self, shopper: ShopperId, terminal: TerminalId, amount_minor: i64) {
        let amounts = self.shopper_amounts.entry(shopper).or_default();
        if amounts.len() == SPIKE_HISTORY {
            amounts.pop_front();
        }
        amounts.push_back(amount_minor);
        self.shopper_terminals.entry(shopper).or_default().insert(terminal);
    }
}

/// Adds `now` to a window and returns how many instants it holds, counted up to the rule's
/// highest threshold: beyond it no verdict changes, so only that many newest instants are kept
/// (a shopper paying all day at a busy till would otherwise hold every instant of the window,
/// and memory would grow with traffic).
fn record(times: &mut VecDeque<Timestamp>, rule: CountRule, now: Timestamp) -> u32 {
    times.push_back(now);
    let counted = prune(times, rule.window_ms, now);
    while times.len() > rule.enough() as usize {
        times.pop_front();
    }
    counted.min(rule.enough())
}

/// Forgets instants older than the window and returns how many remain.
fn prune(times: &mut VecDeque<Timestamp>, window_ms: i64, now: Timestamp) -> u32 {
    while times.front().is_some_and(|&t| now.ms_since(t) >= window_ms) {
        times.pop_front();
    }
    u32::try_from(times.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Assessment {
        /// The first rule that declined, if any.
        fn declined_by(&self) -> Option<RiskRule> {
            self.fired
                .iter()
                .find(|(_, verdict, _)| *verdict == RiskVerdict::Decline)
                .map(|(rule, _, _)| *rule)
        }
    }

    const T1: TerminalId = TerminalId::from_u128(1);
    const T2: TerminalId = TerminalId::from_u128(2);
    const ALICE: ShopperId = ShopperId::from_u128(7);

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_ms(1_000_000 + ms)
    }

    fn config() -> RiskConfig {
        RiskConfig {
            terminal_failures: CountRule { window_ms: 1_000, step_up_at: 2, decline_at: 3 },
            terminal_velocity: CountRule { window_ms: 1_000, step_up_at: 3, decline_at: 4 },
            shopper_velocity: CountRule { window_ms: 1_000, step_up_at: 2, decline_at: 3 },
            spike_factor: 5,
            spike_min_history: 2,
            new_terminal_from_minor: 500,
        }
    }

    #[test]
    fn count_rules_step_up_then_decline_and_forget_outside_their_window() {
        let config = config();
        let mut state = RiskState::default();
        let verdicts: Vec<_> = (0..4).map(|i| state.assess_terminal(&config, T1, at(i)).verdict).collect();
        assert_eq!(
            verdicts,
            [RiskVerdict::Allow, RiskVerdict::Allow, RiskVerdict::StepUp, RiskVerdict::Decline]
        );
        let declined = state.assess_terminal(&config, T1, at(5));
        assert_eq!(declined.declined_by(), Some(RiskRule::TerminalVelocity));
        assert_eq!(declined.fired[0].2, "at least 4 attempts in 1 s");
        // Another terminal has its own count; a second later the first one's count is gone.
        assert_eq!(state.assess_terminal(&config, T2, at(5)).verdict, RiskVerdict::Allow);
        assert_eq!(state.assess_terminal(&config, T1, at(1_004)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn a_window_keeps_no_more_instants_than_its_highest_threshold() {
        let config = config();
        let mut state = RiskState::default();
        for i in 0..900 {
            state.assess_terminal(&config, T1, at(i));
            state.assess_shopper(&config, ALICE, T1, 100, at(i));
        }
        assert_eq!(state.terminal_attempts[&T1].len(), 4);
        assert_eq!(state.shopper_attempts[&ALICE].len(), 3);
        // Still declined while the window is busy, and forgotten once it has passed.
        assert_eq!(state.assess_terminal(&config, T1, at(950)).verdict, RiskVerdict::Decline);
        assert_eq!(state.assess_terminal(&config, T1, at(2_000)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn failed_identifications_at_a_terminal_step_up_then_decline() {
        let config = config();
        let mut state = RiskState::default();
        state.note_failed_identification(&config, T1, at(0));
        state.note_failed_identification(&config, T1, at(1));
        let stepped = state.assess_terminal(&config, T1, at(2));
        assert_eq!(stepped.verdict, RiskVerdict::StepUp);
        assert_eq!(stepped.fired[0].0, RiskRule::TerminalFailedIdentifications);
        state.note_failed_identification(&config, T1, at(3));
        let declined = state.assess_terminal(&config, T1, at(500));
        assert_eq!(declined.declined_by(), Some(RiskRule::TerminalFailedIdentifications));
        assert_eq!(state.assess_terminal(&config, T2, at(500)).verdict, RiskVerdict::Allow);
        // Failures age out of the window.
        assert_eq!(state.assess_terminal(&config, T1, at(1_003)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn shopper_velocity_counts_the_shopper_across_terminals() {
        let config = config();
        let mut state = RiskState::default();
        let first = state.assess_shopper(&config, ALICE, T1, 100, at(0));
        assert_eq!(first.verdict, RiskVerdict::Allow);
        let second = state.assess_shopper(&config, ALICE, T2, 100, at(1));
        assert_eq!(
            second.fired,
            vec![(RiskRule::ShopperVelocity, RiskVerdict::StepUp, "2 payments in 1 s".into())]
        );
        let third = state.assess_shopper(&config, ALICE, T1, 100, at(2));
        assert_eq!(third.declined_by(), Some(RiskRule::ShopperVelocity));
        let bob = ShopperId::from_u128(8);
        assert_eq!(state.assess_shopper(&config, bob, T1, 100, at(2)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn an_amount_far_above_the_usual_steps_up_once_there_is_history() {
        let config = config();
        let mut state = RiskState::default();
        // No history yet: nothing to compare with.
        assert_eq!(state.assess_shopper(&config, ALICE, T1, 100_000, at(0)).verdict, RiskVerdict::Allow);
        state.note_authorized(ALICE, T1, 100);
        state.note_authorized(ALICE, T1, 300);
        let spike = state.assess_shopper(&config, ALICE, T1, 1_001, at(5_000));
        assert_eq!(
            spike.fired,
            vec![(
                RiskRule::AmountSpike,
                RiskVerdict::StepUp,
                "1001 against an average of 200 over 2".into()
            )]
        );
        assert_eq!(state.assess_shopper(&config, ALICE, T1, 1_000, at(10_000)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn the_average_covers_only_the_most_recent_payments() {
        let config = config();
        let mut state = RiskState::default();
        state.note_authorized(ALICE, T1, 1_000_000);
        for _ in 0..SPIKE_HISTORY {
            state.note_authorized(ALICE, T1, 10);
        }
        // The old large payment fell out of the history: 51 is a spike against 10.
        assert_eq!(state.assess_shopper(&config, ALICE, T1, 51, at(0)).verdict, RiskVerdict::StepUp);
    }

    #[test]
    fn a_new_terminal_steps_up_from_the_configured_amount_for_known_shoppers_only() {
        let config = config();
        let mut state = RiskState::default();
        assert_eq!(state.assess_shopper(&config, ALICE, T2, 500, at(0)).verdict, RiskVerdict::Allow);
        state.note_authorized(ALICE, T1, 500);
        let new_place = state.assess_shopper(&config, ALICE, T2, 500, at(5_000));
        assert_eq!(new_place.fired[0].0, RiskRule::NewTerminal);
        assert_eq!(new_place.verdict, RiskVerdict::StepUp);
        assert_eq!(state.assess_shopper(&config, ALICE, T2, 499, at(10_000)).verdict, RiskVerdict::Allow);
        assert_eq!(state.assess_shopper(&config, ALICE, T1, 500, at(15_000)).verdict, RiskVerdict::Allow);
    }

    #[test]
    fn rule_codes_are_distinct() {
        let rules = [
            RiskRule::MerchantSuspended,
            RiskRule::MerchantBlacklisted,
            RiskRule::TerminalFailedIdentifications,
            RiskRule::TerminalVelocity,
            RiskRule::ShopperVelocity,
            RiskRule::AmountSpike,
            RiskRule::NewTerminal,
        ];
        let codes: HashSet<_> = rules.iter().map(RiskRule::code).collect();
        assert_eq!(codes.len(), rules.len());
    }
}

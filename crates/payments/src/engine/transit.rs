//! Transit in the payment core: the operator's fare scheme and gates, the passages gates report
//! (live or uploaded later) recorded in the travel log, and the money. A rider's first passage
//! of a travel day holds `day_hold_minor` (the card schemes' nominal authorization, verifying the
//! account); once the day closes its capped total is captured from that hold, one capture per
//! rider and day. Late passages and claims bill a closed day again and only the difference
//! moves: a credit is refunded from the rider's latest transit payments, anything owed is
//! collected. What cannot be collected is the rider's debt: retried by the sweep once a day for
//! `DEBT_RETRY_DAYS`, tried again at the rider's next passage, and until it is paid the rider is
//! on the deny list gates keep.

use facepay_transit::{
    Billed, Direction, FareTable, Medium, NetworkId, Recorded, StopId, Tap, TapId, TravelCalendar, TravelDay,
    TravelLog,
};

use super::*;
use crate::risk::CountRule;

/// How long a debt is retried by the sweep, once a day, after its first failed collection.
pub const DEBT_RETRY_DAYS: i64 = 14;
/// The most passages one upload carries.
pub const PASSAGES_MAX: usize = 1_000;
/// How many travel days of passages the core keeps, for late uploads and claims.
pub const LATE_DAYS: i64 = 7;
/// How far a gate's clock may run ahead of the switch's.
const CLOCK_AHEAD_MS: i64 = 300_000;
const DAY_MS: i64 = 86_400_000;
/// The longest station name a gate is registered at.
const STATION_MAX: usize = 64;

/// The operator's transit scheme: whose account fares go to, what they are, and when days close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitScheme {
    /// The transit operator's merchant: fares are paid to its account, gates are its terminals.
    pub merchant: MerchantId,
    pub fares: FareTable,
    pub calendar: TravelCalendar,
    /// Held at a rider's first passage of a travel day; a day that costs more has the rest
    /// collected after its close like a debt.
    pub day_hold_minor: i64,
    /// How long after a travel day's last journey could have ended the day is closed and
    /// charged (uploads after that bill it again).
    pub close_delay_ms: i64,
    /// The gates' own risk rules (a till's terminal velocity rules would stop a gate at rush
    /// hour: 30 to 45 riders a minute pass one, and none of it is a payment).
    pub gate_risk: GateRisk,
}

/// What gates hold against one rider: entries passed within `rider_entries.window_ms` (on any
/// network, this one included). From `step_up_at` a face alone no longer opens an entry (the
/// rider's one-time payment code still does: it cannot be handed on); from `decline_at` no
/// entry opens. Several entries in minutes is one face letting others through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateRisk {
    pub rider_entries: CountRule,
}

impl Default for GateRisk {
    fn default() -> Self {
        GateRisk { rider_entries: CountRule { window_ms: 10 * 60_000, step_up_at: 3, decline_at: 6 } }
    }
}

/// Where a gate stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatePlace {
    pub network: NetworkId,
    pub station: StopId,
}

/// A passage a gate reports once its barrier opened for the rider: live, or uploaded in a batch
/// after the gate was offline. `seq` is the gate's own count, so an upload sent twice repeats it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatePassage {
    pub gate: TerminalId,
    pub seq: u64,
    pub rider: ShopperId,
    pub direction: Direction,
    pub medium: Medium,
    pub at: Timestamp,
    /// For a travel pass: the digest of the showing that opened the barrier. One showing opens
    /// one barrier: a picture of a rider's screen is not a second passage of theirs.
    #[serde(default)]
    pub shown: Option<[u8; 32]>,
}

/// What became of one passage of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PassageOutcome {
    Recorded,
    /// This gate's passage number was recorded before: an upload sent again.
    Duplicate,
    /// The rider's entry at this station within a minute of it was the same passage.
    SamePassage,
    RiderUnknown,
    /// Its travel day is older than the core keeps (`LATE_DAYS`).
    TooLate,
    /// Later than the switch's clock allows.
    ClockAhead,
    /// The travel pass showing that opened the barrier opened another before: a copy.
    ShownBefore,
}

impl PassageOutcome {
    pub fn code(&self) -> &'static str {
        match self {
            PassageOutcome::Recorded => "recorded",
            PassageOutcome::Duplicate => "duplicate",
            PassageOutcome::SamePassage => "same_passage",
            PassageOutcome::RiderUnknown => "rider_unknown",
            PassageOutcome::TooLate => "too_late",
            PassageOutcome::ClockAhead => "clock_ahead",
            PassageOutcome::ShownBefore => "shown_before",
        }
    }
}

/// What a rider owes the operator and how collecting it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RiderAccount {
    /// Billed less collected: above zero a debt, below zero a credit later days use up.
    owed_minor: i64,
    /// When a collection first failed, while the debt is unpaid.
    overdue_since: Option<Timestamp>,
    /// A collection waiting for the rider's bank.
    collecting: Option<PaymentId>,
    /// A day's hold was refused: the account did not verify.
    hold_refused: bool,
    /// The gate of the rider's latest passage: the terminal their collections are made at.
    last_gate: Option<TerminalId>,
    /// The rider's captured transit payments, oldest first, to refund a credit from.
    captured: Vec<PaymentId>,
}

impl RiderAccount {
    fn denied(&self) -> bool {
        self.hold_refused || (self.owed_minor > 0 && self.overdue_since.is_some())
    }
}

/// What the core made a transit payment for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    DayHold { rider: ShopperId, day: TravelDay },
    Collection { rider: ShopperId },
}

/// A rider's standing with the transit operator, as the shopper page and the operator see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiderStanding {
    pub owed_minor: i64,
    pub overdue_since: Option<Timestamp>,
    pub denied: bool,
}

/// Transit's part of the core's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TransitBook {
    scheme: Option<TransitScheme>,
    gates: BTreeMap<TerminalId, GatePlace>,
    log: TravelLog,
    /// Each rider's hold for a travel day not yet closed.
    holds: BTreeMap<(ShopperId, TravelDay), PaymentId>,
    riders: BTreeMap<ShopperId, RiderAccount>,
    /// When each overdue rider's collection is tried again.
    retries: BTreeSet<(Timestamp, ShopperId)>,
    /// The first travel day not closed; none before the first passage.
    next_close: Option<TravelDay>,
    /// Days a claim changed: billed again, for every rider of the day, with the next close.
    claimed: BTreeSet<TravelDay>,
    purposes: BTreeMap<PaymentId, Purpose>,
    /// Riders' days the fares could not price, for the operator; billed again at each close.
    unpriced: BTreeMap<(ShopperId, TravelDay), String>,
    /// The travel pass showings passages were recorded with, by travel day, kept as long as
    /// the log keeps the day.
    shown: BTreeMap<[u8; 32], TravelDay>,
    next_payment: u64,
}

impl PaymentCore {
    /// The operator's fare scheme, replacing the one before (gates stay, so each must still
    /// stand on one of its networks).
    pub fn set_transit_scheme(&mut self, scheme: &TransitScheme) -> Result<(), CoreError> {
        if !self.merchants.contains_key(&scheme.merchant) {
            return Err(CoreError::UnknownMerchant(scheme.merchant));
        }
        if scheme.fares.currency != self.config.currency {
            return Err(CoreError::CurrencyNotSupported);
        }
        positive_amount(scheme.day_hold_minor)?;
        let calendar = scheme.calendar;
        if !(-840..=840).contains(&calendar.utc_offset_minutes) || calendar.day_starts_minute >= 1_440 {
            return Err(CoreError::TransitSchemeMalformed(
                "the UTC offset is -840 to 840 minutes and a day starts 0 to 1439 minutes after midnight",
            ));
        }
        let entries = scheme.gate_risk.rider_entries;
        if !(1..=DAY_MS).contains(&entries.window_ms)
            || entries.step_up_at == 0
            || entries.decline_at < entries.step_up_at
        {
            return Err(CoreError::TransitSchemeMalformed(
                "a rider's entries are counted over 1 ms to 24 hours, from 1 entry, closing no earlier than asking for a code",
            ));
        }
        if !(0..=DAY_MS).contains(&scheme.close_delay_ms) {
            return Err(CoreError::TransitSchemeMalformed("the close delay is 0 to 24 hours"));
        }
        if self.transit.gates.values().any(|place| !scheme.fares.networks.contains_key(&place.network)) {
            return Err(CoreError::TransitSchemeMalformed("a registered gate's network is not in the fares"));
        }
        self.transit.scheme = Some(scheme.clone());
        Ok(())
    }

    /// Makes a terminal of the transit operator a gate at `place` (again, when it moved).
    pub fn register_gate(&mut self, terminal: TerminalId, place: &GatePlace) -> Result<(), CoreError> {
        let scheme = self.transit.scheme.as_ref().ok_or(CoreError::TransitNotConfigured)?;
        let owner = self.terminals.get(&terminal).ok_or(CoreError::UnknownTerminal(terminal))?;
        if owner.merchant != scheme.merchant {
            return Err(CoreError::GateNotTransitMerchant(terminal));
        }
        if !scheme.fares.networks.contains_key(&place.network) {
            return Err(CoreError::TransitSchemeMalformed("the gate's network is not in the fares"));
        }
        let station = &place.station.0;
        if station.is_empty() || station.len() > STATION_MAX || station.chars().any(char::is_control) {
            return Err(CoreError::TransitSchemeMalformed("a station is 1 to 64 characters"));
        }
        self.transit.gates.insert(terminal, place.clone());
        Ok(())
    }

    /// Records passages gates report, in any order and any number of times: one passage is one
    /// tap. A rider's first passage of a travel day not yet closed holds the day's amount; a
    /// passage of a closed day bills that day again at the next close; an entry by a rider
    /// who owes is a moment to collect. The whole upload is refused, changing nothing, when it
    /// is empty, too long or names a gate that is not registered.
    pub fn record_passages(
        &mut self,
        passages: &[GatePassage],
        now: Timestamp,
    ) -> Result<Vec<PassageOutcome>, CoreError> {
        let scheme = self.transit.scheme.as_ref().ok_or(CoreError::TransitNotConfigured)?;
        if passages.is_empty() || passages.len() > PASSAGES_MAX {
            return Err(CoreError::PassagesTooMany);
        }
        if let Some(unknown) = passages.iter().find(|passage| !self.transit.gates.contains_key(&passage.gate))
        {
            return Err(CoreError::GateUnknown(unknown.gate));
        }
        let calendar = scheme.calendar;
        let kept_from = self.transit.next_close.map(|day| TravelDay(day.0 - LATE_DAYS));
        let mut outcomes = Vec::with_capacity(passages.len());
        for passage in passages {
            let day = calendar.day_of(passage.at);
            let outcome = if !self.shoppers.contains_key(&passage.rider) {
                PassageOutcome::RiderUnknown
            } else if passage.at.ms_since(now) > CLOCK_AHEAD_MS {
                PassageOutcome::ClockAhead
            } else if kept_from.is_some_and(|kept_from| day < kept_from) {
                PassageOutcome::TooLate
            } else {
                self.record_passage(passage, day, now)
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn record_passage(&mut self, passage: &GatePassage, day: TravelDay, now: Timestamp) -> PassageOutcome {
        let place = &self.transit.gates[&passage.gate];
        let tap = Tap {
            id: TapId { gate: passage.gate, seq: passage.seq },
            rider: passage.rider,
            network: place.network.clone(),
            station: place.station.clone(),
            direction: passage.direction,
            medium: passage.medium,
            at: passage.at,
        };
        // An upload sent again is a duplicate, before its showing counts as shown twice.
        if !self.transit.log.knows(tap.id)
            && let Some(digest) = passage.shown
            && self.transit.shown.contains_key(&digest)
        {
            return PassageOutcome::ShownBefore;
        }
        match self.transit.log.record(tap) {
            Recorded::Duplicate => return PassageOutcome::Duplicate,
            Recorded::SamePassage => return PassageOutcome::SamePassage,
            Recorded::New => {}
        }
        if let Some(digest) = passage.shown {
            self.transit.shown.insert(digest, day);
        }
        let rider = passage.rider;
        self.transit.riders.entry(rider).or_default().last_gate = Some(passage.gate);
        // A passage of a closed day is billed at the next close, with the difference.
        let next_close = *self.transit.next_close.get_or_insert(day);
        if day >= next_close && !self.transit.holds.contains_key(&(rider, day)) {
            self.hold_day(rider, day, passage.gate, now);
        }
        let account = &self.transit.riders[&rider];
        if passage.direction == Direction::Entry && account.owed_minor > 0 && account.collecting.is_none() {
            self.collect(rider, now);
        }
        PassageOutcome::Recorded
    }

    /// Spends a payment code shown at a gate: its holder, if it was live. Spent or lapsed, it is
    /// gone either way, so a code copied from a rider's phone opens no second gate.
    pub fn admit_by_code(
        &mut self,
        gate: TerminalId,
        code_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Option<ShopperId>, CoreError> {
        self.transit.scheme.as_ref().ok_or(CoreError::TransitNotConfigured)?;
        if !self.transit.gates.contains_key(&gate) {
            return Err(CoreError::GateUnknown(gate));
        }
        Ok(self.payment_codes.redeem(code_hash, now))
    }

    /// A rider on the deny list stands at a gate: everything they owe is asked of their bank
    /// now, at that gate; one who owes nothing but whose day's hold was refused is held again
    /// (their account may verify now). The gate lets them in once that goes through. Refused
    /// when there is nothing to ask or the bank has not answered the last ask.
    pub fn collect_at_gate(
        &mut self,
        rider: ShopperId,
        gate: TerminalId,
        now: Timestamp,
    ) -> Result<(), CoreError> {
        let scheme = self.transit.scheme.as_ref().ok_or(CoreError::TransitNotConfigured)?;
        if !self.transit.gates.contains_key(&gate) {
            return Err(CoreError::GateUnknown(gate));
        }
        let today = scheme.calendar.day_of(now);
        let account = self.transit.riders.get(&rider).ok_or(CoreError::NothingToCollect(rider))?;
        if account.owed_minor > 0 && account.collecting.is_none() {
            self.transit.riders.get_mut(&rider).expect("the rider owes").last_gate = Some(gate);
            self.collect(rider, now);
            return Ok(());
        }
        // A refused hold of a day not yet closed is tried again; one under way is left alone.
        let refused_hold = |id: &PaymentId| {
            matches!(self.payments[id].payment.state, PaymentState::Declined(_) | PaymentState::Expired)
        };
        let open_day = self.transit.next_close.is_some_and(|next| today >= next);
        let hold = self.transit.holds.get(&(rider, today)).copied();
        if account.owed_minor > 0
            || !account.hold_refused
            || !open_day
            || !hold.is_none_or(|id| refused_hold(&id))
        {
            return Err(CoreError::NothingToCollect(rider));
        }
        if let Some(old) = hold {
            self.transit.purposes.remove(&old);
        }
        self.hold_day(rider, today, gate, now);
        Ok(())
    }

    /// A rider says where a journey with no exit ended; its day is billed again at the next close.
    pub fn claim_journey(
        &mut self,
        rider: ShopperId,
        entry: TapId,
        station: &StopId,
    ) -> Result<(), CoreError> {
        let scheme = self.transit.scheme.as_ref().ok_or(CoreError::TransitNotConfigured)?;
        let day = self.transit.log.claim(rider, entry, station.clone(), &scheme.fares, &scheme.calendar)?;
        self.transit.claimed.insert(day);
        Ok(())
    }

    /// Holds the day's amount for the rider's first passage of `day`; a refusal puts them on
    /// the deny list (the passage stands: the gate has opened).
    fn hold_day(&mut self, rider: ShopperId, day: TravelDay, gate: TerminalId, now: Timestamp) {
        let scheme = self.transit.scheme.as_ref().expect("passages are recorded under a scheme");
        // Held until well after the day closes, so the close finds it.
        let until = self.close_time(day).plus_ms(DAY_MS);
        let amount = scheme.day_hold_minor;
        let id = self.start_transit_payment(rider, gate, amount, Purpose::DayHold { rider, day }, until, now);
        self.transit.holds.insert((rider, day), id);
        self.transit_payment_moved(id, now);
    }

    /// Tries to collect all the rider owes.
    fn collect(&mut self, rider: ShopperId, now: Timestamp) {
        let account = &self.transit.riders[&rider];
        let Some(gate) = account.last_gate else { return };
        let amount = account.owed_minor;
        let until = now.plus_ms(self.config.outcome_timeout_ms);
        let id = self.start_transit_payment(rider, gate, amount, Purpose::Collection { rider }, until, now);
        self.transit.riders.get_mut(&rider).expect("the rider owes").collecting = Some(id);
        self.transit_payment_moved(id, now);
    }

    /// A payment the core makes itself, at a gate, authorized like any other (limits of the
    /// `Transit` type, funds, the bank), never asking for a PIN: the rider is not at a till.
    fn start_transit_payment(
        &mut self,
        rider: ShopperId,
        gate: TerminalId,
        amount_minor: i64,
        purpose: Purpose,
        outcome_due: Timestamp,
        now: Timestamp,
    ) -> PaymentId {
        let scheme = self.transit.scheme.as_ref().expect("transit payments are made under a scheme");
        let merchant = scheme.merchant;
        self.transit.next_payment += 1;
        let id = PaymentId::from_u128(u128::MAX - u128::from(self.transit.next_payment));
        let amount = Money::new(amount_minor, self.config.currency);
        let order = match purpose {
            Purpose::DayHold { day, .. } => format!("transit day {}", day.0),
            Purpose::Collection { .. } => "transit fares owed".to_owned(),
        };
        let request = StartPayment {
            payment_id: id,
            terminal: gate,
            idempotency_key: format!("transit-{}", self.transit.next_payment),
            amount,
            transaction_type: TransactionType::Transit,
            liveness_passed: true,
            identification: Identification::Match(rider),
            order_id: Some(order),
        };
        let mut payment = Payment::new(id, merchant, gate, amount);
        payment.shopper = Some(rider);
        self.idempotency.insert((gate, request.idempotency_key.clone()), id);
        let record = PaymentRecord {
            payment,
            request,
            created_at: now,
            outcome_due,
            // The hold outlives the outcome deadline by as much as a till payment's does.
            hold_ms: (outcome_due.ms_since(now).max(0) as u64).saturating_add(
                self.config.hold_timeout_ms.saturating_sub(self.config.outcome_timeout_ms as u64),
            ),
            funding: None,
            hold: None,
            reserved_day: None,
            risk_elevated: false,
            disputed_minor: 0,
            disputes: Vec::new(),
            refund_ids: Vec::new(),
            bank_trace: None,
        };
        self.payments.insert(id, Box::new(record));
        self.schedule_retirement(id, now);
        self.transit.purposes.insert(id, purpose);
        // A rider who deleted everything since has nothing left to pay from.
        let has_funding = self.shoppers.get(&rider).is_some_and(|shopper| shopper.default_funding.is_some());
        let decided = if has_funding {
            self.authorize(id, now)
        } else {
            self.decline(id, DeclineReason::InsufficientFunds)
        };
        decided.expect("a new transit payment takes its first decision");
        self.mark_changed(id);
        id
    }

    /// Follows a transit payment that moved: a refused hold denies the rider; a collection
    /// authorized is captured at once, a refused one is tried again later.
    pub(crate) fn transit_payment_moved(&mut self, id: PaymentId, now: Timestamp) {
        let Some(&purpose) = self.transit.purposes.get(&id) else { return };
        let state = self.payments[&id].payment.state;
        match purpose {
            Purpose::DayHold { rider, .. } => {
                let account = self.transit.riders.entry(rider).or_default();
                match state {
                    PaymentState::Declined(_) | PaymentState::Expired => account.hold_refused = true,
                    // The account verified: only a debt still denies the rider.
                    PaymentState::Authorized => account.hold_refused = false,
                    _ => {}
                }
            }
            Purpose::Collection { rider } => match state {
                PaymentState::Authorized => {
                    let amount = self.payments[&id].payment.amount.amount_minor;
                    self.capture_part(id, amount, now).expect("an authorized collection captures");
                    self.transit.purposes.remove(&id);
                    let account = self.transit.riders.get_mut(&rider).expect("collections are for riders");
                    account.collecting = None;
                    account.owed_minor -= amount;
                    account.captured.push(id);
                    if account.owed_minor <= 0 {
                        account.overdue_since = None;
                        account.hold_refused = false;
                    }
                }
                PaymentState::Declined(_) | PaymentState::Expired | PaymentState::Reversed => {
                    self.transit.purposes.remove(&id);
                    let account = self.transit.riders.get_mut(&rider).expect("collections are for riders");
                    account.collecting = None;
                    let since = *account.overdue_since.get_or_insert(now);
                    if now.ms_since(since) < DEBT_RETRY_DAYS * DAY_MS {
                        self.transit.retries.insert((now.plus_ms(DAY_MS), rider));
                    }
                }
                _ => {}
            },
        }
    }

    /// Captures `amount_minor` of an authorized payment's hold (all or part of it); the rest of
    /// the hold and of the day's allowance go back.
    fn capture_part(&mut self, id: PaymentId, amount_minor: i64, now: Timestamp) -> Result<(), CoreError> {
        let record = &self.payments[&id];
        record.payment.state.after(PaymentEvent::Capture, record.payment.amount.amount_minor)?;
        let hold = record.hold.expect("an authorized payment has a hold");
        let held = self.ledger.transfer(hold).expect("holds are in the ledger").request;
        let post = TransferKind::PostPending { pending_id: hold };
        let settle_id = self.own_transfer_id();
        let request = transfer(settle_id, held.debit, held.credit, amount_minor as u64, post, code::PAYMENT);
        self.apply_own(id, &request, now)?;
        self.hold_owner.remove(&hold);
        self.tell_bank_captured(id, Money::new(amount_minor, self.config.currency));
        let record = self.payments.get_mut(&id).expect("checked above");
        let unused = record.payment.amount.amount_minor - amount_minor;
        record.payment.amount.amount_minor = amount_minor;
        record.payment.state = PaymentState::Captured { refunded_minor: 0 };
        if let (Some(shopper), Some(day)) = (record.payment.shopper, record.reserved_day) {
            self.shoppers.get_mut(&shopper).expect("enrolled").usage.release(unused, day);
        }
        self.settle_deadline(id);
        self.mark_changed(id);
        Ok(())
    }

    /// When `day` closes: after the longest journey entered at its end could have ended, and
    /// the scheme's delay.
    fn close_time(&self, day: TravelDay) -> Timestamp {
        let scheme = self.transit.scheme.as_ref().expect("days close under a scheme");
        let longest = scheme.fares.networks.values().map(|rules| rules.max_journey_ms).max().unwrap_or(0);
        scheme.calendar.start_of(TravelDay(day.0 + 1)).plus_ms(longest + scheme.close_delay_ms)
    }

    /// The sweep's transit step: closes every day due and retries debts due.
    pub(crate) fn transit_sweep(&mut self, now: Timestamp) {
        while let Some(day) = self.transit.next_close
            && self.close_time(day) <= now
        {
            self.close_travel_day(day, now);
        }
        while let Some(&(at, rider)) = self.transit.retries.first()
            && at <= now
        {
            self.transit.retries.pop_first();
            let account = &self.transit.riders[&rider];
            if account.owed_minor > 0 && account.collecting.is_none() {
                self.collect(rider, now);
            }
        }
    }

    /// When the transit step of a sweep next has something to do.
    pub(crate) fn transit_next_due(&self) -> Option<Timestamp> {
        let close = self.transit.next_close.map(|day| self.close_time(day));
        let retry = self.transit.retries.first().map(|&(at, _)| at);
        close.into_iter().chain(retry).min()
    }

    /// Bills `day` (with the days claims changed and the late passages' days), then moves the money:
    /// each of the day's holds captures what its rider owes, up to the hold; a credit is
    /// refunded; what is still owed is collected.
    fn close_travel_day(&mut self, day: TravelDay, now: Timestamp) {
        let scheme = self.transit.scheme.as_ref().expect("days close under a scheme");
        let mut days = std::mem::take(&mut self.transit.claimed);
        days.insert(day);
        days.extend(self.transit.unpriced.keys().map(|&(_, unpriced_day)| unpriced_day));
        let billed = self.transit.log.close_days(days, |_| None, &scheme.fares, &scheme.calendar);
        // A day billed again counts its week's earlier days towards weekly caps: they stay a
        // week longer than the days that can still be billed again.
        let forget_before = TravelDay(day.0 + 1 - LATE_DAYS - 7);
        self.transit.log.forget_before(forget_before, &scheme.calendar);
        self.transit.shown.retain(|_, shown_day| *shown_day >= forget_before);
        self.transit.next_close = Some(TravelDay(day.0 + 1));
        let mut riders = BTreeSet::new();
        for Billed { rider, day: billed_day, bill, before_minor } in billed {
            match bill {
                Ok(bill) => {
                    self.transit.unpriced.remove(&(rider, billed_day));
                    self.transit.riders.entry(rider).or_default().owed_minor +=
                        bill.charge_minor - before_minor;
                    riders.insert(rider);
                }
                Err(err) => {
                    self.transit.unpriced.insert((rider, billed_day), err.code().to_owned());
                }
            }
        }
        let closing: Vec<((ShopperId, TravelDay), PaymentId)> = self
            .transit
            .holds
            .range(..)
            .filter(|((_, held_day), _)| *held_day <= day)
            .map(|(key, id)| (*key, *id))
            .collect();
        for ((rider, held_day), id) in closing {
            self.transit.holds.remove(&(rider, held_day));
            self.transit.purposes.remove(&id);
            riders.insert(rider);
            self.settle_day_hold(rider, id, now);
        }
        for rider in riders {
            self.refund_credit(rider, now);
            let account = &self.transit.riders[&rider];
            if account.owed_minor > 0 && account.collecting.is_none() {
                self.collect(rider, now);
            } else if account.owed_minor <= 0 {
                let account = self.transit.riders.get_mut(&rider).expect("listed");
                account.overdue_since = None;
            }
        }
    }

    /// Captures from a closed day's hold what its rider owes, up to the hold, and lets the
    /// rest go; a hold still waiting for its bank is abandoned (the bank is told).
    fn settle_day_hold(&mut self, rider: ShopperId, id: PaymentId, now: Timestamp) {
        match self.payments[&id].payment.state {
            PaymentState::Authorized => {
                let held = self.payments[&id].payment.amount.amount_minor;
                let owed = self.transit.riders[&rider].owed_minor;
                let take = owed.clamp(0, held);
                if take > 0 {
                    self.capture_part(id, take, now).expect("an authorized hold captures");
                    let account = self.transit.riders.get_mut(&rider).expect("listed");
                    account.owed_minor -= take;
                    account.captured.push(id);
                } else {
                    self.void(id, now).expect("an authorized hold voids");
                }
            }
            PaymentState::AwaitingIssuer => {
                self.abandon_awaiting(id, DeclineReason::IssuerUnavailable, now)
                    .expect("a hold awaiting its bank is abandoned");
            }
            _ => {}
        }
        self.settle_deadline(id);
        self.mark_changed(id);
    }

    /// Gives a rider's credit back from their latest captured transit payments still refundable.
    fn refund_credit(&mut self, rider: ShopperId, now: Timestamp) {
        let captured = std::mem::take(&mut self.transit.riders.get_mut(&rider).expect("listed").captured);
        let mut kept = Vec::with_capacity(captured.len());
        for &id in captured.iter().rev() {
            let Some(record) = self.payments.get(&id) else { continue };
            let open = now < record.created_at.plus_ms(self.config.retention.refund_window_ms);
            if !open {
                continue;
            }
            let owed = self.transit.riders[&rider].owed_minor;
            let refundable = match record.payment.state {
                PaymentState::Captured { refunded_minor } => {
                    record.payment.amount.amount_minor - refunded_minor - record.disputed_minor
                }
                _ => 0,
            };
            let give = (-owed).min(refundable);
            if give > 0 {
                let refund_id = self.own_transfer_id();
                self.next_transfer += 1;
                self.refund(id, refund_id, give, now).expect("a captured transit payment refunds");
                self.mark_changed(id);
                self.transit.riders.get_mut(&rider).expect("listed").owed_minor += give;
            }
            if refundable > give {
                kept.push(id);
            }
        }
        kept.reverse();
        self.transit.riders.get_mut(&rider).expect("listed").captured = kept;
    }

    /// The riders gates must not let in until they pay: a debt a collection failed to take, or
    /// an account whose hold was refused.
    pub fn transit_deny_list(&self) -> Vec<ShopperId> {
        self.transit.riders.iter().filter(|(_, account)| account.denied()).map(|(rider, _)| *rider).collect()
    }

    /// What a rider owes the transit operator and whether gates let them in.
    pub fn transit_standing(&self, rider: ShopperId) -> RiderStanding {
        let account = self.transit.riders.get(&rider);
        RiderStanding {
            owed_minor: account.map_or(0, |account| account.owed_minor),
            overdue_since: account.and_then(|account| account.overdue_since),
            denied: account.is_some_and(RiderAccount::denied),
        }
    }

    /// What the gates' risk rules say of the rider entering now: entries passed within the
    /// window, counting this one.
    pub fn gate_risk_verdict(&self, rider: ShopperId, now: Timestamp) -> RiskVerdict {
        let Some(scheme) = &self.transit.scheme else { return RiskVerdict::Allow };
        let rule = scheme.gate_risk.rider_entries;
        let since = Timestamp::from_unix_ms(now.unix_ms.saturating_sub(rule.window_ms));
        let before = self.transit.log.entries_between(rider, since, now);
        let count = u32::try_from(before).unwrap_or(u32::MAX).saturating_add(1);
        if count >= rule.decline_at {
            RiskVerdict::Decline
        } else if count >= rule.step_up_at {
            RiskVerdict::StepUp
        } else {
            RiskVerdict::Allow
        }
    }

    pub fn transit_scheme(&self) -> Option<&TransitScheme> {
        self.transit.scheme.as_ref()
    }

    pub fn gate_place(&self, terminal: TerminalId) -> Option<&GatePlace> {
        self.transit.gates.get(&terminal)
    }

    pub fn travel_log(&self) -> &TravelLog {
        &self.transit.log
    }

    /// Riders' days the fares could not price, with the reason's code.
    pub fn transit_unpriced(&self) -> &BTreeMap<(ShopperId, TravelDay), String> {
        &self.transit.unpriced
    }
}

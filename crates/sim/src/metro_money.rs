//! The switch's side of a simulated metro: the same passages, claims and closes run through the
//! payment core's transit commands, with riders paying from wallets (some nearly empty, topped
//! up now and then) or from a bank that declines some authorizations. After the last day and two
//! weeks of debt retries, every rider's money must add up to the metro oracle's bills: what
//! their payments captured less what was refunded, plus what they still owe, is what the oracle
//! charged them; whoever still owes is on the deny list; the books balance; and a checkpoint of
//! the core restores to the same core.

use std::collections::{BTreeMap, BTreeSet};

use facepay_domain::{
    Currency, KeyedDigest, MerchantId, PaymentId, Sealed, ShopperId, TerminalId, Timestamp,
};
use facepay_ledger::{AccountId, TransferId};
use facepay_payments::{
    AcquirerId, Checkpoint, Command, CoreConfig, GatePassage, GatePlace, GateRisk, IssuerAnswer, IssuerId,
    IssuerMessage, LimitTable, MerchantRisk, PassageOutcome, PaymentCore, PaymentRow, PaymentState,
    PinPolicy, Reply, Retention, RiskConfig, TransitScheme,
};
use facepay_transit::{FareTable, Medium, NetworkId, StopId, Tap, TapId, TravelCalendar, TravelDay};

use crate::Rng;

const OPERATOR: MerchantId = MerchantId::from_u128(0x7a);
const OPERATOR_ACCOUNT: AccountId = AccountId(0x7a);
const FUNDING_SOURCE: AccountId = AccountId(1);
const RESERVE: AccountId = AccountId(2);
const BANK: IssuerId = IssuerId(9);
const BANK_CLEARING: AccountId = AccountId(9);
const DAY: i64 = 86_400_000;

/// What the money side saw, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyTally {
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub bank_declines: usize,
    pub riders_in_debt: usize,
}

pub(crate) struct MetroSwitch {
    core: PaymentCore,
    currency: Currency,
    rng: Rng,
    rows: BTreeMap<PaymentId, PaymentRow>,
    /// Riders whose wallet starts nearly empty, topped up now and then.
    poor: BTreeSet<ShopperId>,
    next_transfer: u128,
    tally: MoneyTally,
}

impl MetroSwitch {
    /// The operator, its gates, and `riders` riders (ids 1 to `riders`) each with a way to pay.
    pub(crate) fn open(
        rng: &mut Rng,
        riders: usize,
        fares: &FareTable,
        calendar: TravelCalendar,
        day_hold_minor: i64,
        gates: &[(TerminalId, StopId)],
    ) -> Result<MetroSwitch, String> {
        let currency = fares.currency;
        let mut switch = MetroSwitch {
            core: PaymentCore::new(config(currency)),
            currency,
            rng: Rng(facepay_domain::SplitMix64::new(rng.below(u64::MAX))),
            rows: BTreeMap::new(),
            poor: BTreeSet::new(),
            next_transfer: 1,
            tally: MoneyTally::default(),
        };
        let start = Timestamp::from_unix_ms(0);
        let mut setup = vec![
            Command::RegisterMerchant {
                merchant: OPERATOR,
                acquirer: AcquirerId(1),
                risk: MerchantRisk::Low,
                account: OPERATOR_ACCOUNT,
            },
            Command::RegisterIssuer {
                issuer: BANK,
                clearing_account: BANK_CLEARING,
                verifies_accounts: false,
            },
        ];
        setup.extend(
            gates.iter().map(|(gate, _)| Command::RegisterTerminal { terminal: *gate, merchant: OPERATOR }),
        );
        setup.push(Command::SetTransitScheme(Box::new(TransitScheme {
            merchant: OPERATOR,
            fares: fares.clone(),
            calendar,
            day_hold_minor,
            close_delay_ms: 60_000,
            gate_risk: GateRisk::default(),
        })));
        for (gate, station) in gates {
            let place = GatePlace { network: NetworkId::from("metro"), station: station.clone() };
            setup.push(Command::RegisterGate { terminal: *gate, place });
        }
        for index in 1..=riders as u128 {
            let rider = ShopperId::from_u128(index);
            let digest = KeyedDigest([index as u8; 16]);
            setup.push(Command::EnrollShopper {
                shopper: rider,
                phone: Sealed::from_bytes(vec![1]),
                phone_digest: digest,
            });
            if switch.rng.chance(15) {
                let reference = Sealed::from_bytes(b"bank".to_vec());
                setup.push(Command::BindBankAccount {
                    shopper: rider,
                    issuer: BANK,
                    account: digest,
                    reference,
                    make_default: true,
                });
                continue;
            }
            let wallet = AccountId(1_000 + index);
            setup.push(Command::BindWallet { shopper: rider, account: wallet, make_default: true });
            let balance = if switch.rng.chance(20) {
                switch.poor.insert(rider);
                switch.rng.below(1_500) as i64
            } else {
                1_000_000
            };
            if balance > 0 {
                setup.push(switch.top_up(wallet, balance));
            }
        }
        for command in setup {
            switch
                .core
                .execute(&command, start)
                .map_err(|err| format!("setting up the switch: {command:?}: {err}"))?;
        }
        Ok(switch)
    }

    fn top_up(&mut self, account: AccountId, amount_minor: i64) -> Command {
        self.next_transfer += 1;
        Command::TopUp { account, amount_minor, transfer_id: TransferId(self.next_transfer) }
    }

    /// A gate reports `tap` at `now`; it must be new to the switch exactly when it is new to
    /// the oracle.
    pub(crate) fn deliver(&mut self, tap: &Tap, new: bool, now: Timestamp) -> Result<(), String> {
        let passage = GatePassage {
            gate: tap.id.gate,
            seq: tap.id.seq,
            rider: tap.rider,
            direction: tap.direction,
            medium: tap.medium,
            at: tap.at,
            shown: (tap.medium == Medium::TravelPass).then(|| showing(tap.id)),
        };
        let reply = self.core.execute(&Command::RecordPassages(vec![passage]), now);
        let outcome = match reply {
            Ok(Reply::Passages(outcomes)) => outcomes[0],
            other => return Err(format!("the switch answered tap {:?} with {other:?}", tap.id)),
        };
        if (outcome == PassageOutcome::Recorded) != new {
            return Err(format!("the switch recorded tap {:?} as {outcome:?}", tap.id));
        }
        self.settle_effects(now);
        Ok(())
    }

    pub(crate) fn claim(
        &mut self,
        rider: ShopperId,
        entry: TapId,
        station: &StopId,
        now: Timestamp,
    ) -> Result<(), String> {
        let claim = Command::ClaimJourney { rider, entry, station: station.clone() };
        self.core
            .execute(&claim, now)
            .map_err(|err| format!("the switch refused the claim of {entry:?}: {err}"))?;
        self.settle_effects(now);
        Ok(())
    }

    /// Time passes to `now`: the switch closes what is due; some poor riders top up first.
    pub(crate) fn sweep(&mut self, now: Timestamp) -> Result<(), String> {
        let owing: Vec<ShopperId> = self
            .poor
            .iter()
            .copied()
            .filter(|rider| self.core.transit_standing(*rider).owed_minor > 0)
            .collect();
        for rider in owing {
            if self.rng.chance(30) {
                let wallet = AccountId(1_000 + rider.as_u128());
                let amount = 500 + self.rng.below(2_000) as i64;
                let top_up = self.top_up(wallet, amount);
                self.core.execute(&top_up, now).map_err(|err| format!("a top-up was refused: {err}"))?;
            }
        }
        self.core.execute(&Command::Sweep, now).map_err(|err| format!("the sweep was refused: {err}"))?;
        self.settle_effects(now);
        Ok(())
    }

    /// The bank answers what it was asked at once, declining about one in seven; the read
    /// model's rows are kept.
    fn settle_effects(&mut self, now: Timestamp) {
        loop {
            let asked: Vec<PaymentId> = self
                .core
                .take_issuer_messages()
                .into_iter()
                .filter_map(|message| match message {
                    IssuerMessage::Authorize { payment, .. } => Some(payment),
                    _ => None,
                })
                .collect();
            if asked.is_empty() {
                break;
            }
            for payment in asked {
                let answer =
                    if self.rng.chance(14) { IssuerAnswer::Declined } else { IssuerAnswer::Approved };
                self.tally.bank_declines += usize::from(answer == IssuerAnswer::Declined);
                let answered = self.core.execute(&Command::IssuerAnswered { payment, answer }, now);
                answered.expect("the bank answers a payment waiting for it");
            }
        }
        for row in self.core.take_read_model().payments {
            self.rows.insert(row.id, row);
        }
    }

    /// Two weeks of daily sweeps after `end` for the debts' retries, then the checks against the
    /// oracle's final bills.
    pub(crate) fn finish(
        mut self,
        charged: &BTreeMap<(ShopperId, TravelDay), i64>,
        end: Timestamp,
    ) -> Result<MoneyTally, String> {
        for day in 1..=16 {
            self.sweep(end.plus_ms(day * DAY))?;
        }
        let mut billed: BTreeMap<ShopperId, i64> = BTreeMap::new();
        for (&(rider, _), &charge) in charged {
            *billed.entry(rider).or_default() += charge;
        }
        let mut paid: BTreeMap<ShopperId, i64> = BTreeMap::new();
        for row in self.rows.values() {
            if let (Some(rider), PaymentState::Captured { refunded_minor }) = (row.shopper, row.state) {
                *paid.entry(rider).or_default() += row.amount.amount_minor - refunded_minor;
                self.tally.captured_minor += row.amount.amount_minor;
                self.tally.refunded_minor += refunded_minor;
            }
        }
        let deny: BTreeSet<ShopperId> = self.core.transit_deny_list().into_iter().collect();
        let riders: BTreeSet<ShopperId> = billed.keys().chain(paid.keys()).copied().collect();
        for rider in riders {
            let standing = self.core.transit_standing(rider);
            let (bill, pay) =
                (billed.get(&rider).copied().unwrap_or(0), paid.get(&rider).copied().unwrap_or(0));
            if pay + standing.owed_minor != bill {
                return Err(format!(
                    "rider {rider} was billed {bill} but paid {pay} and owes {}",
                    standing.owed_minor
                ));
            }
            if standing.owed_minor > 0 && !deny.contains(&rider) {
                return Err(format!(
                    "rider {rider} owes {} and is not on the deny list",
                    standing.owed_minor
                ));
            }
            self.tally.riders_in_debt += usize::from(standing.owed_minor > 0);
        }
        self.core.ledger().verify().map_err(|err| format!("the books do not balance: {err:?}"))?;
        let operator = self.core.ledger().account(OPERATOR_ACCOUNT).expect("opened").posted_balance();
        let takings = self.tally.captured_minor - self.tally.refunded_minor;
        if operator != i128::from(takings) {
            return Err(format!("the operator's account holds {operator}, its riders paid {takings}"));
        }
        let checkpoint = Checkpoint::of(&self.core, 1, 0);
        let restored = checkpoint.restore(&config(self.currency));
        if restored.ok().as_ref() != Some(&self.core) {
            return Err("a checkpoint of the core does not restore to the same core".into());
        }
        Ok(self.tally)
    }
}

/// The digest of the travel pass showing a gate read for `tap`: one showing per passage, so an
/// upload sent again repeats it (a duplicate, not a showing used twice).
fn showing(tap: TapId) -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(&tap.gate.as_u128().to_be_bytes());
    digest[16..24].copy_from_slice(&tap.seq.to_be_bytes());
    digest
}

fn config(currency: Currency) -> CoreConfig {
    CoreConfig {
        currency,
        limits: LimitTable::default(),
        pin_policy: PinPolicy { always: false, above_amount_minor: None, on_elevated_risk: false },
        outcome_timeout_ms: 30_000,
        hold_timeout_ms: 600_000,
        funding_source: FUNDING_SOURCE,
        reserve_account: RESERVE,
        risk: RiskConfig::default(),
        retention: Retention::DEFAULT,
    }
}

//! The document 单据 life cycle every business document shares.
//!
//! A document moves between the states of [`DocState`] only through the actions of
//! [`TRANSITIONS`], one table for all document types. Numbering, the push-down quantity rule and
//! the transition table are pure; storage applies them inside the transaction that saves the
//! document.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use crate::error::DomainError;

/// Where a document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocState {
    /// Being written; the only state in which header and lines can change.
    Draft,
    /// Handed in for approval.
    Submitted,
    /// Approved 审核: immutable, posted, usable as a source for push-down.
    Approved,
    /// Finished; no more push-down from it.
    Closed,
    /// Withdrawn before approval.
    Cancelled,
}

/// What a user can do to a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocAction {
    /// Hand a draft in for approval.
    Submit,
    /// Take a submitted document back to draft (its author).
    Recall,
    /// Send a submitted document back to draft (an approver).
    Reject,
    /// Approve 审核, which posts what the document type posts.
    Approve,
    /// Reverse an approval 反审核; refused while downstream documents use it.
    Unapprove,
    /// Close an approved document.
    Close,
    /// Reopen a closed document.
    Reopen,
    /// Cancel a draft or submitted document.
    Cancel,
}

/// The one table of allowed transitions: (from, action, to).
pub const TRANSITIONS: &[(DocState, DocAction, DocState)] = &[
    (DocState::Draft, DocAction::Submit, DocState::Submitted),
    (DocState::Draft, DocAction::Cancel, DocState::Cancelled),
    (DocState::Submitted, DocAction::Recall, DocState::Draft),
    (DocState::Submitted, DocAction::Reject, DocState::Draft),
    (DocState::Submitted, DocAction::Approve, DocState::Approved),
    (DocState::Submitted, DocAction::Cancel, DocState::Cancelled),
    (DocState::Approved, DocAction::Unapprove, DocState::Submitted),
    (DocState::Approved, DocAction::Close, DocState::Closed),
    (DocState::Closed, DocAction::Reopen, DocState::Approved),
];

impl DocState {
    /// Every state.
    pub const ALL: [DocState; 5] = [
        DocState::Draft,
        DocState::Submitted,
        DocState::Approved,
        DocState::Closed,
        DocState::Cancelled,
    ];

    /// Stable code, as stored.
    pub fn code(self) -> &'static str {
        match self {
            DocState::Draft => "draft",
            DocState::Submitted => "submitted",
            DocState::Approved => "approved",
            DocState::Closed => "closed",
            DocState::Cancelled => "cancelled",
        }
    }

    /// The state stored as `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Whether header and lines may still change.
    pub fn editable(self) -> bool {
        self == DocState::Draft
    }

    /// Actions allowed from this state.
    pub fn actions(self) -> impl Iterator<Item = DocAction> {
        TRANSITIONS.iter().filter(move |(from, _, _)| *from == self).map(|(_, a, _)| *a)
    }
}

impl DocAction {
    /// Every action.
    pub const ALL: [DocAction; 8] = [
        DocAction::Submit,
        DocAction::Recall,
        DocAction::Reject,
        DocAction::Approve,
        DocAction::Unapprove,
        DocAction::Close,
        DocAction::Reopen,
        DocAction::Cancel,
    ];

    /// Stable code, as in URLs and the transition history.
    pub fn code(self) -> &'static str {
        match self {
            DocAction::Submit => "submit",
            DocAction::Recall => "recall",
            DocAction::Reject => "reject",
            DocAction::Approve => "approve",
            DocAction::Unapprove => "unapprove",
            DocAction::Close => "close",
            DocAction::Reopen => "reopen",
            DocAction::Cancel => "cancel",
        }
    }

    /// The action called `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The permission a user needs for this action. Recall is part of submitting, reopening
    /// part of closing, rejecting part of approving.
    pub fn permission(self) -> crate::access::Action {
        use crate::access::Action;
        match self {
            DocAction::Submit | DocAction::Recall => Action::Submit,
            DocAction::Approve | DocAction::Reject => Action::Approve,
            DocAction::Unapprove => Action::Unapprove,
            DocAction::Close | DocAction::Reopen => Action::Close,
            DocAction::Cancel => Action::Cancel,
        }
    }
}

/// The state `action` leads to from `state`, or why it cannot.
pub fn transition(state: DocState, action: DocAction) -> Result<DocState, DomainError> {
    TRANSITIONS
        .iter()
        .find(|(from, a, _)| *from == state && *a == action)
        .map(|(_, _, to)| *to)
        .ok_or(DomainError::IllegalTransition { state: state.code(), action: action.code() })
}

/// Which part of the date a document number carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// No date: one running sequence forever.
    None,
    /// The year: the sequence restarts each year (SO2026-000123).
    Year,
    /// Year and month: the sequence restarts each month (PO202612-0042).
    YearMonth,
}

/// How a document type numbers its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberFormat {
    /// Letters before the date (`SO`).
    pub prefix: &'static str,
    /// The date part, which is also the period the sequence restarts in.
    pub date_part: DatePart,
    /// Digits of the sequence, zero-padded.
    pub width: usize,
}

impl NumberFormat {
    /// The period a document dated `date` draws its sequence from (`2026`, `202612` or ``).
    pub fn period(&self, date: NaiveDate) -> String {
        match self.date_part {
            DatePart::None => String::new(),
            DatePart::Year => format!("{:04}", date.year()),
            DatePart::YearMonth => format!("{:04}{:02}", date.year(), date.month()),
        }
    }

    /// The number of the `seq`-th document of `date`'s period.
    pub fn format(&self, date: NaiveDate, seq: i64) -> String {
        let period = self.period(date);
        let sep = if period.is_empty() { "" } else { "-" };
        format!("{}{}{}{:0width$}", self.prefix, period, sep, seq, width = self.width)
    }
}

/// Checks that `requested` more may be carried from a source line of `ordered` of which
/// `carried` has gone downstream already, allowing `tolerance_pct` percent over.
pub fn check_carry(
    line_no: i64,
    ordered: Decimal,
    carried: Decimal,
    requested: Decimal,
    tolerance_pct: Decimal,
) -> Result<(), DomainError> {
    let allowed = ordered + ordered * tolerance_pct / Decimal::ONE_HUNDRED;
    let open = allowed - carried;
    if requested > open {
        return Err(DomainError::OverCarry {
            line: line_no,
            open: open.max(Decimal::ZERO).normalize().to_string(),
            requested: requested.normalize().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn life_cycle_follows_the_table() {
        use DocAction::*;
        use DocState::*;
        let mut state = Draft;
        for (action, want) in [(Submit, Submitted), (Approve, Approved), (Close, Closed)] {
            state = transition(state, action).unwrap();
            assert_eq!(state, want);
        }
        assert_eq!(transition(Closed, Approve).unwrap_err().code(), "illegal_transition");
        assert!(transition(Draft, Approve).is_err());
        assert!(transition(Cancelled, Submit).is_err());
        assert_eq!(transition(Approved, Unapprove).unwrap(), Submitted);
    }

    #[test]
    fn cancelled_is_final() {
        assert_eq!(DocState::Cancelled.actions().count(), 0);
    }

    #[test]
    fn numbers_by_period() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let so = NumberFormat { prefix: "SO", date_part: DatePart::Year, width: 6 };
        assert_eq!(so.format(date, 123), "SO2026-000123");
        let po = NumberFormat { prefix: "PO", date_part: DatePart::YearMonth, width: 4 };
        assert_eq!(po.format(date, 42), "PO202612-0042");
        let plain = NumberFormat { prefix: "ECO", date_part: DatePart::None, width: 5 };
        assert_eq!(plain.format(date, 7), "ECO00007");
        assert_eq!(plain.period(date), "");
    }

    #[test]
    fn carry_examples() {
        // Ordered 100, delivered 60: 40 open.
        assert!(check_carry(1, dec!(100), dec!(60), dec!(40), dec!(0)).is_ok());
        let err = check_carry(1, dec!(100), dec!(60), dec!(41), dec!(0)).unwrap_err();
        assert_eq!(
            err,
            DomainError::OverCarry { line: 1, open: "40".into(), requested: "41".into() }
        );
        // 5% tolerance allows 105 in all.
        assert!(check_carry(1, dec!(100), dec!(60), dec!(45), dec!(5)).is_ok());
        assert!(check_carry(1, dec!(100), dec!(60), dec!(45.5), dec!(5)).is_err());
    }

    proptest! {
        #[test]
        fn carry_never_exceeds_allowance(ordered in 1i64..10_000, steps in proptest::collection::vec(1i64..5_000, 1..20)) {
            let ordered = Decimal::from(ordered);
            let mut carried = Decimal::ZERO;
            for step in steps {
                let step = Decimal::from(step);
                if check_carry(1, ordered, carried, step, Decimal::ZERO).is_ok() {
                    carried += step;
                }
                prop_assert!(carried <= ordered);
            }
        }

        #[test]
        fn every_state_reachable_action_is_in_table(i in 0usize..5, j in 0usize..8) {
            let (state, action) = (DocState::ALL[i], DocAction::ALL[j]);
            let listed = TRANSITIONS.iter().any(|(f, a, _)| *f == state && *a == action);
            prop_assert_eq!(transition(state, action).is_ok(), listed);
        }
    }
}

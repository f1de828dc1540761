//! Bills of materials 物料清单: which version of a structure applies, what a multi-level
//! structure needs, where an item is used, how two versions differ and what an item costs as
//! standard, all as pure functions over plain data.
//!
//! The rules:
//!
//! - **Effectivity.** A [`Bom`] applies on a date when it is approved and the date lies within
//!   `valid_from..=valid_to` (either end may be open). A version bound to a customer applies
//!   only to that customer and beats every general version for them; among equals the latest
//!   `valid_from` wins (an open start counts as earliest), then the greatest version string,
//!   compared as text ([`effective_bom`]).
//! - **Extended quantity.** A line needs `qty_per × unit_factor × (1 + scrap_pct / 100)` base
//!   units of its component per one parent ([`BomLine::extended_qty`]). Quantities multiply
//!   down the levels and are never rounded here.
//! - **Loops.** An item may not contain itself at any depth. [`find_cycle`] checks a change
//!   before it is saved; [`explode`], [`where_used`] and [`roll_up`] refuse a structure that
//!   loops anyway with [`BomError::Cycle`], naming the loop from parent to component.
//! - **Standard cost.** [`roll_up`] costs every item once, components before parents. A
//!   purchased (leaf) item costs its material cost; a made item's material is the sum over its
//!   lines of extended quantity × the component's total unit cost; every item adds the labour,
//!   machine, overhead and subcontract cost of its own routing. Figures stay exact (up to the
//!   28 digits of `Decimal`) until the end and each figure of the answer is then rounded on its
//!   own, half away from zero, to [`COST_PLACES`]; so the rounded parts of a sheet may differ
//!   from its rounded total in the last place.
//!
//! Every walk over a structure is iterative, so depth is bounded by memory rather than by the
//! call stack. A structure is the effective lines per parent ([`Structure`]), as
//! [`effective_structure`] builds it for a date.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::value::{SCALE, round_to};

/// Decimal places of the figures [`roll_up`] answers with.
pub const COST_PLACES: u32 = SCALE;

/// The effective lines of every made item, keyed by the parent's item code. An item with no
/// entry (or no lines) is a leaf: purchased, or at least not exploded further.
pub type Structure = HashMap<String, Vec<BomLine>>;

/// How a component gets to the shop floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueMethod {
    /// Issued by a pick list before or during the work order.
    Picked,
    /// Consumed automatically when the operation or the parent is reported.
    Backflushed,
}

/// Where a BOM version stands; only approved versions are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BomStatus {
    /// Being written; never used.
    Draft,
    /// Released for planning, costing and production.
    Approved,
    /// Kept for history; never used.
    Obsolete,
}

/// One component line of a bill of materials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BomLine {
    /// The component's item code.
    pub component: String,
    /// Quantity per one parent, in the unit the line was entered in.
    pub qty_per: Decimal,
    /// Base units of the component per entered unit (1 when they are the same).
    pub unit_factor: Decimal,
    /// Expected scrap in percent of the net quantity (5 means 5 %).
    pub scrap_pct: Decimal,
    /// The routing operation that consumes the component, if tied to one.
    pub operation_seq: Option<i64>,
    /// How the component is issued.
    pub issue_method: IssueMethod,
}

impl BomLine {
    /// Base units of the component needed per one parent, scrap included:
    /// `qty_per × unit_factor × (1 + scrap_pct / 100)`, exact.
    pub fn extended_qty(&self) -> Result<Decimal, BomError> {
        let overflow = || BomError::Overflow { item: self.component.clone() };
        let scrap_factor = self
            .scrap_pct
            .checked_div(Decimal::ONE_HUNDRED)
            .and_then(|s| s.checked_add(Decimal::ONE))
            .ok_or_else(overflow)?;
        self.qty_per
            .checked_mul(self.unit_factor)
            .and_then(|q| q.checked_mul(scrap_factor))
            .ok_or_else(overflow)
    }
}

/// One version of an item's bill of materials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bom {
    /// The item the bill makes.
    pub parent: String,
    /// The version's name (`A`, `02`, `2026-03`).
    pub version: String,
    /// First day the version applies; `None` for always in the past.
    pub valid_from: Option<NaiveDate>,
    /// Last day the version applies; `None` for no end.
    pub valid_to: Option<NaiveDate>,
    /// Where the version stands.
    pub status: BomStatus,
    /// The customer the version is made for; `None` for a general version.
    pub customer: Option<String>,
    /// The component lines, in the order engineering entered them.
    pub lines: Vec<BomLine>,
}

impl Bom {
    /// Whether the version is approved and `date` lies within its validity (both ends
    /// included, open ends unbounded).
    pub fn is_effective_on(&self, date: NaiveDate) -> bool {
        self.status == BomStatus::Approved
            && self.valid_from.is_none_or(|from| from <= date)
            && self.valid_to.is_none_or(|to| date <= to)
    }

    /// Whether the version may be used for `customer` (`None`: stock or no customer known).
    /// General versions serve everyone; a customer's version serves only that customer.
    fn serves(&self, customer: Option<&str>) -> bool {
        self.customer.as_deref().is_none_or(|own| Some(own) == customer)
    }

    /// The preference among usable versions: customer-bound first, then the latest start,
    /// then the greatest version string. The greatest key wins.
    fn preference(&self) -> (bool, Option<NaiveDate>, &str) {
        (self.customer.is_some(), self.valid_from, self.version.as_str())
    }
}

/// The version of `parent`'s bill that applies on `date` for `customer`, if any.
///
/// Only approved versions whose validity holds `date` (both ends included, open ends allowed)
/// and that serve the customer (general, or bound to exactly this customer) qualify. A version
/// bound to the customer wins over a general one; then the latest `valid_from` (an open start
/// is the earliest); then the greatest version string compared as text, so number versions
/// should be zero-padded (`09` before `10`).
pub fn effective_bom<'a>(
    boms: &'a [Bom],
    parent: &str,
    date: NaiveDate,
    customer: Option<&str>,
) -> Option<&'a Bom> {
    boms.iter()
        .filter(|b| b.parent == parent && b.is_effective_on(date) && b.serves(customer))
        .max_by(|a, b| a.preference().cmp(&b.preference()))
}

/// The structure in effect on `date` for `customer`: for every parent, the lines of its
/// [`effective_bom`]. One pass over `boms`; parents without an effective version are left
/// out, so they read as leaves.
pub fn effective_structure(boms: &[Bom], date: NaiveDate, customer: Option<&str>) -> Structure {
    let mut best: HashMap<&str, &Bom> = HashMap::new();
    for bom in boms.iter().filter(|b| b.is_effective_on(date) && b.serves(customer)) {
        best.entry(bom.parent.as_str())
            .and_modify(|current| {
                if bom.preference() > current.preference() {
                    *current = bom;
                }
            })
            .or_insert(bom);
    }
    best.into_iter().map(|(parent, bom)| (parent.to_owned(), bom.lines.clone())).collect()
}

/// A structure rule that a walk or a roll-up found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BomError {
    /// The structure contains an item inside itself.
    #[error("the structure loops: {}", path.join(" -> "))]
    Cycle {
        /// The loop from an item down to the same item again, e.g. `[A, B, C, A]`.
        path: Vec<String>,
    },
    /// A quantity or cost went beyond what a decimal holds.
    #[error("a quantity or cost of {item} is too large to compute")]
    Overflow {
        /// The item whose figure overflowed.
        item: String,
    },
    /// A purchased (leaf) item has no material cost to roll up.
    #[error("item {item} has no bill and no material cost")]
    MissingMaterialCost {
        /// The item without a cost.
        item: String,
    },
    /// A routing operation's lot size cannot spread its setup.
    #[error("operation {seq} of {item} has lot size {lot_size}; it must be positive")]
    LotSizeNotPositive {
        /// The item the routing makes.
        item: String,
        /// The operation's sequence number.
        seq: i64,
        /// The lot size given.
        lot_size: Decimal,
    },
}

impl BomError {
    /// The stable code of this error kind, a key of the message catalogue.
    pub fn code(&self) -> &'static str {
        match self {
            BomError::Cycle { .. } => "bom_cycle",
            BomError::Overflow { .. } => "bom_overflow",
            BomError::MissingMaterialCost { .. } => "bom_missing_material_cost",
            BomError::LotSizeNotPositive { .. } => "bom_lot_size_not_positive",
        }
    }
}

/// The lines under `item`, empty for a leaf.
fn children<'a>(structure: &'a Structure, item: &str) -> &'a [BomLine] {
    structure.get(item).map_or(&[], Vec::as_slice)
}

/// The loop closed by stepping from the last item of `chain` to `again`, which is already in
/// it: the items from `again`'s place in the chain to the end, then `again`.
fn loop_path<'a>(chain: impl Iterator<Item = &'a str>, again: &str) -> Vec<String> {
    let chain: Vec<&str> = chain.collect();
    let start = chain.iter().position(|item| *item == again).unwrap_or(0);
    let mut path: Vec<String> = chain.iter().skip(start).map(|item| (*item).to_owned()).collect();
    path.push(again.to_owned());
    path
}

/// The loop that adding `new_components` under `parent` would close, if any: the path from
/// `parent` down through the new line and the existing `edges` (parent → its components) back
/// to `parent`, e.g. `["A", "B", "C", "A"]`. The shortest such loop through the first new
/// component that closes one is answered. Breadth-first and iterative.
pub fn find_cycle<S: AsRef<str>>(
    edges: &BTreeMap<String, Vec<String>>,
    parent: &str,
    new_components: &[S],
) -> Option<Vec<String>> {
    // A node seen from an earlier component cannot reach `parent` from a later one either, so
    // `came_from` is shared by all the searches.
    let mut came_from: HashMap<&str, Option<&str>> = HashMap::new();
    for start in new_components.iter().map(AsRef::as_ref) {
        if start == parent {
            return Some(vec![parent.to_owned(), parent.to_owned()]);
        }
        if came_from.contains_key(start) {
            continue;
        }
        came_from.insert(start, None);
        let mut queue = VecDeque::from([start]);
        while let Some(item) = queue.pop_front() {
            for next in edges.get(item).into_iter().flatten().map(String::as_str) {
                if next == parent {
                    // Walk back to `start`, then read the loop top-down.
                    let mut path = vec![parent.to_owned()];
                    let mut cursor = Some(item);
                    while let Some(at) = cursor {
                        path.push(at.to_owned());
                        cursor = came_from.get(at).copied().flatten();
                    }
                    path.push(parent.to_owned());
                    path.reverse();
                    return Some(path);
                }
                if !came_from.contains_key(next) {
                    came_from.insert(next, Some(item));
                    queue.push_back(next);
                }
            }
        }
    }
    None
}

/// One row of an indented multi-level explosion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplodedLine {
    /// Depth below the exploded item: 1 for its own lines.
    pub level: u32,
    /// The row this one hangs under, `None` on level 1; [`path_of`] follows these back.
    pub parent_row: Option<usize>,
    /// The item whose line this is.
    pub parent: String,
    /// The component.
    pub component: String,
    /// The operation that consumes it, from the line.
    pub operation_seq: Option<i64>,
    /// How it is issued, from the line.
    pub issue_method: IssueMethod,
    /// Base units per one parent, scrap included ([`BomLine::extended_qty`]).
    pub qty_per_parent_extended: Decimal,
    /// Base units needed for the whole exploded quantity along this path.
    pub total_qty: Decimal,
    /// Whether the component has no lines of its own (nothing is indented under it).
    pub leaf: bool,
}

/// Explodes `qty` of `top` through every level: depth first, each parent's lines in their
/// order, every row's `total_qty` being its parent's total times the line's extended
/// quantity. An item with no lines is not exploded further. A shared sub-assembly appears
/// once per path, so the row count is the number of paths through the structure.
///
/// Iterative, and each row stores only its parent's row index rather than its whole path.
pub fn explode(
    structure: &Structure,
    top: &str,
    qty: Decimal,
) -> Result<Vec<ExplodedLine>, BomError> {
    struct Frame<'a> {
        item: &'a str,
        lines: std::slice::Iter<'a, BomLine>,
        qty: Decimal,
        row: Option<usize>,
        level: u32,
    }

    let mut rows = Vec::new();
    let mut on_path: HashSet<&str> = HashSet::from([top]);
    let mut stack =
        vec![Frame { item: top, lines: children(structure, top).iter(), qty, row: None, level: 0 }];
    while let Some(frame) = stack.last_mut() {
        let Some(line) = frame.lines.next() else {
            on_path.remove(frame.item);
            stack.pop();
            continue;
        };
        let (parent, parent_qty, parent_row) = (frame.item, frame.qty, frame.row);
        let level = frame.level.saturating_add(1);

        let component = line.component.as_str();
        if on_path.contains(component) {
            return Err(BomError::Cycle {
                path: loop_path(stack.iter().map(|f| f.item), component),
            });
        }
        let per_parent = line.extended_qty()?;
        let total = parent_qty
            .checked_mul(per_parent)
            .ok_or_else(|| BomError::Overflow { item: component.to_owned() })?;
        let below = children(structure, component);

        let row = rows.len();
        rows.push(ExplodedLine {
            level,
            parent_row,
            parent: parent.to_owned(),
            component: component.to_owned(),
            operation_seq: line.operation_seq,
            issue_method: line.issue_method,
            qty_per_parent_extended: per_parent,
            total_qty: total,
            leaf: below.is_empty(),
        });
        if !below.is_empty() {
            on_path.insert(component);
            stack.push(Frame {
                item: component,
                lines: below.iter(),
                qty: total,
                row: Some(row),
                level,
            });
        }
    }
    Ok(rows)
}

/// The item codes from the exploded item down to row `row`'s component, following
/// `parent_row`. Empty when `row` is out of range.
pub fn path_of(rows: &[ExplodedLine], row: usize) -> Vec<&str> {
    let mut path = Vec::new();
    let mut cursor = rows.get(row);
    while let Some(line) = cursor {
        path.push(line.component.as_str());
        cursor = match line.parent_row {
            Some(up) => rows.get(up),
            None => {
                path.push(line.parent.as_str());
                None
            }
        };
    }
    path.reverse();
    path
}

/// The summarised requirement: `total_qty` added up per component over all rows of an
/// explosion, sub-assemblies included (filter on [`ExplodedLine::leaf`] first for purchased
/// parts only).
pub fn summarise(rows: &[ExplodedLine]) -> Result<BTreeMap<String, Decimal>, BomError> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in rows {
        let sum = sums.entry(row.component.clone()).or_default();
        *sum = sum
            .checked_add(row.total_qty)
            .ok_or_else(|| BomError::Overflow { item: row.component.clone() })?;
    }
    Ok(sums)
}

/// One row of a where-used list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhereUsed {
    /// Height above the searched item: 1 for the parents using it directly.
    pub level: u32,
    /// The parent found on this level.
    pub parent: String,
    /// The item the parent's line uses: the searched item on level 1, the row below's parent
    /// above that.
    pub component: String,
    /// The operation of the parent's line.
    pub operation_seq: Option<i64>,
    /// Base units of `component` per one `parent`, scrap included.
    pub qty_per_parent_extended: Decimal,
    /// Base units of the searched item in one `parent` along this chain.
    pub total_qty: Decimal,
}

/// Where `component` is used: its direct parents (level 1), and with `multi` their parents in
/// turn up to the top items, depth first. Parents are listed by item code, several lines of
/// one parent in line order. Iterative; a loop in the structure is refused.
pub fn where_used(
    structure: &Structure,
    component: &str,
    multi: bool,
) -> Result<Vec<WhereUsed>, BomError> {
    struct Frame<'a> {
        item: &'a str,
        uses: std::slice::Iter<'a, (&'a str, &'a BomLine)>,
        qty: Decimal,
        level: u32,
    }

    // Reverse index from each component to the lines using it, sorted by parent; the sort is
    // stable so a parent's lines keep their order.
    let mut used_in: HashMap<&str, Vec<(&str, &BomLine)>> = HashMap::new();
    for (parent, lines) in structure {
        for line in lines {
            if multi || line.component == component {
                used_in.entry(line.component.as_str()).or_default().push((parent.as_str(), line));
            }
        }
    }
    for uses in used_in.values_mut() {
        uses.sort_by_key(|(parent, _)| *parent);
    }
    let uses_of = |item: &str| used_in.get(item).map_or(&[][..], Vec::as_slice);

    let mut rows = Vec::new();
    let mut on_path: HashSet<&str> = HashSet::from([component]);
    let mut stack = vec![Frame {
        item: component,
        uses: uses_of(component).iter(),
        qty: Decimal::ONE,
        level: 0,
    }];
    while let Some(frame) = stack.last_mut() {
        let Some((parent, line)) = frame.uses.next() else {
            on_path.remove(frame.item);
            stack.pop();
            continue;
        };
        let (child, child_qty) = (frame.item, frame.qty);
        let level = frame.level.saturating_add(1);

        if on_path.contains(parent) {
            // The chain runs upwards; the loop reads downwards from `parent`.
            let mut path = loop_path(stack.iter().map(|f| f.item), parent);
            path.reverse();
            return Err(BomError::Cycle { path });
        }
        let per_parent = line.extended_qty()?;
        let total = child_qty
            .checked_mul(per_parent)
            .ok_or_else(|| BomError::Overflow { item: (*parent).to_owned() })?;

        rows.push(WhereUsed {
            level,
            parent: (*parent).to_owned(),
            component: child.to_owned(),
            operation_seq: line.operation_seq,
            qty_per_parent_extended: per_parent,
            total_qty: total,
        });
        if multi {
            on_path.insert(parent);
            stack.push(Frame { item: parent, uses: uses_of(parent).iter(), qty: total, level });
        }
    }
    Ok(rows)
}

/// A field of a line that differs between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LineField {
    /// `qty_per`.
    Qty,
    /// `scrap_pct`.
    Scrap,
    /// `unit_factor`: the line is entered in another unit.
    Unit,
    /// `issue_method`.
    IssueMethod,
}

/// One difference between two versions of a bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BomDiff {
    /// A line only the new version has.
    Added(BomLine),
    /// A line only the old version has.
    Removed(BomLine),
    /// A line both have, with different figures.
    Changed {
        /// The old version's line.
        before: BomLine,
        /// The new version's line.
        after: BomLine,
        /// What differs, in [`LineField`] order.
        fields: Vec<LineField>,
    },
}

/// The differences from version `a` (old) to version `b` (new), line by line.
///
/// Lines are matched by (component, operation); when one version has the same pair several
/// times, the first matches the first, the second the second, and so on. Identical lines are
/// left out. The answer is ordered by component, then operation (none first), then occurrence.
pub fn compare(a: &[BomLine], b: &[BomLine]) -> Vec<BomDiff> {
    type Key<'a> = (&'a str, Option<i64>, usize);
    fn keyed(lines: &[BomLine]) -> BTreeMap<Key<'_>, &BomLine> {
        let mut seen: HashMap<(&str, Option<i64>), usize> = HashMap::new();
        lines
            .iter()
            .map(|line| {
                let count = seen.entry((line.component.as_str(), line.operation_seq)).or_default();
                let key = (line.component.as_str(), line.operation_seq, *count);
                *count = count.saturating_add(1);
                (key, line)
            })
            .collect()
    }

    let (old, new) = (keyed(a), keyed(b));
    let keys: BTreeSet<&Key<'_>> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (old.get(key), new.get(key)) {
            (Some(before), Some(after)) => {
                let fields: Vec<LineField> = [
                    (before.qty_per != after.qty_per, LineField::Qty),
                    (before.scrap_pct != after.scrap_pct, LineField::Scrap),
                    (before.unit_factor != after.unit_factor, LineField::Unit),
                    (before.issue_method != after.issue_method, LineField::IssueMethod),
                ]
                .into_iter()
                .filter_map(|(differs, field)| differs.then_some(field))
                .collect();
                (!fields.is_empty()).then(|| BomDiff::Changed {
                    before: (*before).clone(),
                    after: (*after).clone(),
                    fields,
                })
            }
            (Some(before), None) => Some(BomDiff::Removed((*before).clone())),
            (None, Some(after)) => Some(BomDiff::Added((*after).clone())),
            (None, None) => None,
        })
        .collect()
}

/// One routing operation of an item, as standard costing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Sequence number (10, 20, ...).
    pub seq: i64,
    /// The work centre's code.
    pub work_centre: String,
    /// Setup hours per lot.
    pub setup_hours: Decimal,
    /// Run hours per unit.
    pub run_hours_per_unit: Decimal,
    /// The standard lot the setup is spread over; must be positive.
    pub lot_size: Decimal,
    /// Labour cost per hour.
    pub labour_rate: Decimal,
    /// Machine cost per hour.
    pub machine_rate: Decimal,
    /// Overhead per hour.
    pub overhead_rate: Decimal,
    /// The subcontractor's fee per unit, when the operation is done outside.
    pub subcontract_fee_per_unit: Option<Decimal>,
}

/// What a cost roll-up needs besides the structure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CostInputs {
    /// Standard material cost per base unit of each purchased (leaf) item. Entries for made
    /// items are ignored: their material comes from their components.
    pub material_cost: HashMap<String, Decimal>,
    /// Each item's routing; an item without one adds no conversion cost.
    pub routings: HashMap<String, Vec<Operation>>,
}

/// Cost split by element, per unit of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CostElements {
    /// Purchased material.
    pub material: Decimal,
    /// Labour.
    pub labour: Decimal,
    /// Machine.
    pub machine: Decimal,
    /// Overhead.
    pub overhead: Decimal,
    /// Subcontracting.
    pub subcontract: Decimal,
}

impl CostElements {
    /// The five elements added up (saturating, which no real cost reaches).
    pub fn total(&self) -> Decimal {
        [self.labour, self.machine, self.overhead, self.subcontract]
            .into_iter()
            .fold(self.material, Decimal::saturating_add)
    }

    /// Element by element `self + other × factor`; `None` on overflow.
    fn add_scaled(&self, other: &CostElements, factor: Decimal) -> Option<CostElements> {
        let term = |mine: Decimal, theirs: Decimal| mine.checked_add(theirs.checked_mul(factor)?);
        Some(CostElements {
            material: term(self.material, other.material)?,
            labour: term(self.labour, other.labour)?,
            machine: term(self.machine, other.machine)?,
            overhead: term(self.overhead, other.overhead)?,
            subcontract: term(self.subcontract, other.subcontract)?,
        })
    }

    fn rounded(self) -> CostElements {
        CostElements {
            material: round_to(self.material, COST_PLACES),
            labour: round_to(self.labour, COST_PLACES),
            machine: round_to(self.machine, COST_PLACES),
            overhead: round_to(self.overhead, COST_PLACES),
            subcontract: round_to(self.subcontract, COST_PLACES),
        }
    }
}

/// The cost of one unit of an item's routing operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationCost {
    /// The operation's sequence number.
    pub seq: i64,
    /// Its work centre.
    pub work_centre: String,
    /// Hours per unit: `setup_hours / lot_size + run_hours_per_unit`.
    pub hours_per_unit: Decimal,
    /// Hours × labour rate.
    pub labour: Decimal,
    /// Hours × machine rate.
    pub machine: Decimal,
    /// Hours × overhead rate.
    pub overhead: Decimal,
    /// The subcontract fee per unit (zero for an inside operation).
    pub subcontract: Decimal,
    /// The four added up.
    pub total: Decimal,
}

/// The standard cost of one unit of an item.
///
/// Two views of the same money. The single-level view (`material` … `total`) is what the
/// parent's planner sees: a made item's `material` is everything bought in through its
/// components, each at its full cost, and the conversion elements are this item's own
/// routing. The elemental view splits the total into what is spent at this level
/// (`this_level`: the own routing, and for a purchased item its material) and what its
/// components bring, element by element (`lower_levels`). Before rounding,
/// `total = this_level.total() + lower_levels.total()`, and for a made item
/// `material = lower_levels.total()`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CostSheet {
    /// The purchase cost of a leaf; for a made item Σ extended quantity × component total.
    pub material: Decimal,
    /// Labour of the item's own operations.
    pub labour: Decimal,
    /// Machine cost of the item's own operations.
    pub machine: Decimal,
    /// Overhead of the item's own operations.
    pub overhead: Decimal,
    /// Subcontract fees of the item's own operations.
    pub subcontract: Decimal,
    /// Material plus the four conversion elements.
    pub total: Decimal,
    /// Cost added at this item's own level.
    pub this_level: CostElements,
    /// Cost brought in by the components, split by the element it was spent on.
    pub lower_levels: CostElements,
    /// The item's own operations, in sequence order.
    pub operations: Vec<OperationCost>,
}

impl CostSheet {
    /// Every figure rounded on its own to [`COST_PLACES`].
    fn rounded(self) -> CostSheet {
        let round = |value: Decimal| round_to(value, COST_PLACES);
        CostSheet {
            material: round(self.material),
            labour: round(self.labour),
            machine: round(self.machine),
            overhead: round(self.overhead),
            subcontract: round(self.subcontract),
            total: round(self.total),
            this_level: self.this_level.rounded(),
            lower_levels: self.lower_levels.rounded(),
            operations: self
                .operations
                .into_iter()
                .map(|op| OperationCost {
                    hours_per_unit: round(op.hours_per_unit),
                    labour: round(op.labour),
                    machine: round(op.machine),
                    overhead: round(op.overhead),
                    subcontract: round(op.subcontract),
                    total: round(op.total),
                    ..op
                })
                .collect(),
        }
    }
}

/// Rolls standard cost up through `structure`: one sheet per item that appears in it (as
/// parent or component) or in `inputs`, each computed once, components before parents.
///
/// The order is Kahn's algorithm on "is used by": an item is costed once every line under it
/// is, so the pass is linear in items plus lines. Items the algorithm never reaches lie on or
/// above a loop, which is refused with one loop's path. Figures are exact until the end and
/// then rounded one by one to [`COST_PLACES`], half away from zero.
///
/// A leaf without a material cost and an operation whose lot size is not positive are
/// refused, naming the item, rather than costed at zero.
pub fn roll_up(
    structure: &Structure,
    inputs: &CostInputs,
) -> Result<BTreeMap<String, CostSheet>, BomError> {
    // Items by code, so that the order of work, and so any error, does not depend on hashing.
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (parent, lines) in structure {
        names.insert(parent.as_str());
        names.extend(lines.iter().map(|line| line.component.as_str()));
    }
    names.extend(inputs.material_cost.keys().map(String::as_str));
    names.extend(inputs.routings.keys().map(String::as_str));
    let names: Vec<&str> = names.into_iter().collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();

    // `pending` counts the lines under each item still waiting for their component's cost;
    // `users` lists, per component, one parent entry per line using it.
    let mut pending: Vec<usize> = names.iter().map(|n| children(structure, n).len()).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (parent, name) in names.iter().enumerate() {
        for line in children(structure, name) {
            if let Some(list) = index.get(line.component.as_str()).and_then(|c| users.get_mut(*c)) {
                list.push(parent);
            }
        }
    }
    let mut ready: Vec<usize> =
        (0..names.len()).rev().filter(|i| pending.get(*i) == Some(&0)).collect();

    let mut sheets: Vec<Option<CostSheet>> = vec![None; names.len()];
    while let Some(item) = ready.pop() {
        let Some(name) = names.get(item).copied() else { continue };
        let sheet = cost_of(name, structure, inputs, |component| {
            index.get(component).and_then(|i| sheets.get(*i)).and_then(Option::as_ref)
        })?;
        if let Some(slot) = sheets.get_mut(item) {
            *slot = Some(sheet);
        }
        for user in users.get(item).into_iter().flatten() {
            if let Some(waiting) = pending.get_mut(*user) {
                *waiting = waiting.saturating_sub(1);
                if *waiting == 0 {
                    ready.push(*user);
                }
            }
        }
    }

    if let Some(stuck) = sheets.iter().position(Option::is_none) {
        return Err(BomError::Cycle {
            path: stuck_loop(stuck, &names, &index, structure, &sheets),
        });
    }
    Ok(names
        .into_iter()
        .zip(sheets.into_iter().flatten())
        .map(|(name, sheet)| (name.to_owned(), sheet.rounded()))
        .collect())
}

/// The exact (unrounded) sheet of `item`, whose components `costed` already answers.
fn cost_of<'s>(
    item: &str,
    structure: &Structure,
    inputs: &CostInputs,
    costed: impl Fn(&str) -> Option<&'s CostSheet>,
) -> Result<CostSheet, BomError> {
    let overflow = || BomError::Overflow { item: item.to_owned() };
    let mut sheet = CostSheet::default();

    let lines = children(structure, item);
    if lines.is_empty() {
        let cost = inputs
            .material_cost
            .get(item)
            .copied()
            .ok_or_else(|| BomError::MissingMaterialCost { item: item.to_owned() })?;
        sheet.material = cost;
        sheet.this_level.material = cost;
    }
    for line in lines {
        let per_parent = line.extended_qty()?;
        // Kahn's order costs every component first; a missing one would be a bug, refused
        // rather than costed at zero.
        let component = costed(&line.component).ok_or_else(|| BomError::Cycle {
            path: vec![item.to_owned(), line.component.clone()],
        })?;
        let brought = component.total.checked_mul(per_parent).ok_or_else(overflow)?;
        sheet.material = sheet.material.checked_add(brought).ok_or_else(overflow)?;
        let full = component
            .this_level
            .add_scaled(&component.lower_levels, Decimal::ONE)
            .ok_or_else(overflow)?;
        sheet.lower_levels =
            sheet.lower_levels.add_scaled(&full, per_parent).ok_or_else(overflow)?;
    }

    let mut routing: Vec<&Operation> = inputs.routings.get(item).into_iter().flatten().collect();
    routing.sort_by_key(|op| op.seq);
    for op in routing {
        let cost = operation_cost(item, op)?;
        let own = CostElements {
            material: Decimal::ZERO,
            labour: cost.labour,
            machine: cost.machine,
            overhead: cost.overhead,
            subcontract: cost.subcontract,
        };
        sheet.this_level = sheet.this_level.add_scaled(&own, Decimal::ONE).ok_or_else(overflow)?;
        sheet.operations.push(cost);
    }
    sheet.labour = sheet.this_level.labour;
    sheet.machine = sheet.this_level.machine;
    sheet.overhead = sheet.this_level.overhead;
    sheet.subcontract = sheet.this_level.subcontract;

    sheet.total = [sheet.labour, sheet.machine, sheet.overhead, sheet.subcontract]
        .into_iter()
        .try_fold(sheet.material, Decimal::checked_add)
        .ok_or_else(overflow)?;
    Ok(sheet)
}

/// The exact cost of one unit of `item`'s operation `op`.
fn operation_cost(item: &str, op: &Operation) -> Result<OperationCost, BomError> {
    if op.lot_size <= Decimal::ZERO {
        return Err(BomError::LotSizeNotPositive {
            item: item.to_owned(),
            seq: op.seq,
            lot_size: op.lot_size,
        });
    }
    let overflow = || BomError::Overflow { item: item.to_owned() };
    let hours = op
        .setup_hours
        .checked_div(op.lot_size)
        .and_then(|setup| setup.checked_add(op.run_hours_per_unit))
        .ok_or_else(overflow)?;
    let labour = hours.checked_mul(op.labour_rate).ok_or_else(overflow)?;
    let machine = hours.checked_mul(op.machine_rate).ok_or_else(overflow)?;
    let overhead = hours.checked_mul(op.overhead_rate).ok_or_else(overflow)?;
    let subcontract = op.subcontract_fee_per_unit.unwrap_or(Decimal::ZERO);
    let total = [machine, overhead, subcontract]
        .into_iter()
        .try_fold(labour, Decimal::checked_add)
        .ok_or_else(overflow)?;
    Ok(OperationCost {
        seq: op.seq,
        work_centre: op.work_centre.clone(),
        hours_per_unit: hours,
        labour,
        machine,
        overhead,
        subcontract,
        total,
    })
}

/// A loop among the items a roll-up could not cost, starting from `stuck`. Every such item
/// still waits for a component that is itself not costed, so following the first of those
/// must come back to an item already passed.
fn stuck_loop(
    stuck: usize,
    names: &[&str],
    index: &HashMap<&str, usize>,
    structure: &Structure,
    sheets: &[Option<CostSheet>],
) -> Vec<String> {
    let uncosted = |i: &usize| sheets.get(*i).is_some_and(Option::is_none);
    let mut chain: Vec<&str> = Vec::new();
    let mut passed: HashSet<usize> = HashSet::new();
    let mut at = Some(stuck);
    while let Some(item) = at {
        let Some(name) = names.get(item).copied() else { break };
        if !passed.insert(item) {
            return loop_path(chain.into_iter(), name);
        }
        chain.push(name);
        at = children(structure, name)
            .iter()
            .filter_map(|line| index.get(line.component.as_str()).copied())
            .find(uncosted);
    }
    chain.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// A picked line in the base unit without scrap or operation.
    fn line(component: &str, qty_per: Decimal) -> BomLine {
        BomLine {
            component: component.to_owned(),
            qty_per,
            unit_factor: Decimal::ONE,
            scrap_pct: Decimal::ZERO,
            operation_seq: None,
            issue_method: IssueMethod::Picked,
        }
    }

    /// An approved general version valid forever.
    fn bom(parent: &str, version: &str, lines: Vec<BomLine>) -> Bom {
        Bom {
            parent: parent.to_owned(),
            version: version.to_owned(),
            valid_from: None,
            valid_to: None,
            status: BomStatus::Approved,
            customer: None,
            lines,
        }
    }

    fn structure(entries: Vec<(&str, Vec<BomLine>)>) -> Structure {
        entries.into_iter().map(|(parent, lines)| (parent.to_owned(), lines)).collect()
    }

    /// FAN → MOTOR × 1 + BLADE × 3 (backflushed); MOTOR → COIL × 2 with 5 % scrap + SHAFT × 1.
    fn fan() -> Structure {
        structure(vec![
            (
                "FAN",
                vec![
                    BomLine { operation_seq: Some(10), ..line("MOTOR", dec!(1)) },
                    BomLine {
                        operation_seq: Some(10),
                        issue_method: IssueMethod::Backflushed,
                        ..line("BLADE", dec!(3))
                    },
                ],
            ),
            (
                "MOTOR",
                vec![
                    BomLine {
                        scrap_pct: dec!(5),
                        operation_seq: Some(10),
                        ..line("COIL", dec!(2))
                    },
                    BomLine { operation_seq: Some(10), ..line("SHAFT", dec!(1)) },
                ],
            ),
        ])
    }

    fn op(seq: i64, work_centre: &str) -> Operation {
        Operation {
            seq,
            work_centre: work_centre.to_owned(),
            setup_hours: Decimal::ZERO,
            run_hours_per_unit: Decimal::ZERO,
            lot_size: Decimal::ONE,
            labour_rate: Decimal::ZERO,
            machine_rate: Decimal::ZERO,
            overhead_rate: Decimal::ZERO,
            subcontract_fee_per_unit: None,
        }
    }

    /// COIL 4.00, SHAFT 2.50, BLADE 1.20; MOTOR is wound, FAN assembled and painted outside.
    fn fan_costs() -> CostInputs {
        let material_cost = [("COIL", dec!(4)), ("SHAFT", dec!(2.5)), ("BLADE", dec!(1.2))]
            .into_iter()
            .map(|(item, cost)| (item.to_owned(), cost))
            .collect();
        let winding = Operation {
            setup_hours: dec!(0.5),
            run_hours_per_unit: dec!(0.1),
            lot_size: dec!(50),
            labour_rate: dec!(30),
            machine_rate: dec!(10),
            overhead_rate: dec!(5),
            ..op(10, "WIND")
        };
        let assembly = Operation {
            setup_hours: dec!(1),
            run_hours_per_unit: dec!(0.25),
            lot_size: dec!(3),
            labour_rate: dec!(24),
            overhead_rate: dec!(6),
            ..op(10, "ASSY")
        };
        let painting = Operation { subcontract_fee_per_unit: Some(dec!(1.75)), ..op(20, "PAINT") };
        // Painting is listed first on purpose: the sheet shows operations by sequence.
        let routings = [("MOTOR", vec![winding]), ("FAN", vec![painting, assembly])]
            .into_iter()
            .map(|(item, ops)| (item.to_owned(), ops))
            .collect();
        CostInputs { material_cost, routings }
    }

    #[test]
    fn extended_quantity_applies_unit_and_scrap() {
        // 2 × 1 × 1.05 = 2.1
        assert_eq!(
            BomLine { scrap_pct: dec!(5), ..line("COIL", dec!(2)) }.extended_qty(),
            Ok(dec!(2.1))
        );
        // 250 g of wire on a kilogram base unit with 2 % scrap: 250 × 0.001 × 1.02 = 0.255 kg.
        let wire =
            BomLine { unit_factor: dec!(0.001), scrap_pct: dec!(2), ..line("WIRE", dec!(250)) };
        assert_eq!(wire.extended_qty(), Ok(dec!(0.255)));
        // 2 boxes of 12 screws: 24 pieces. 8 at 12.5 % scrap: 9.
        let screws = BomLine { unit_factor: dec!(12), ..line("SCREW", dec!(2)) };
        assert_eq!(screws.extended_qty(), Ok(dec!(24)));
        assert_eq!(
            BomLine { scrap_pct: dec!(12.5), ..line("X", dec!(8)) }.extended_qty(),
            Ok(dec!(9))
        );
        // A third stays a decimal third, not a float.
        let third = BomLine { qty_per: dec!(1) / dec!(3), ..line("X", dec!(0)) };
        assert_eq!(third.extended_qty().unwrap() * dec!(3), dec!(0.9999999999999999999999999999));
        let huge = BomLine { unit_factor: Decimal::MAX, ..line("X", dec!(2)) };
        assert_eq!(huge.extended_qty(), Err(BomError::Overflow { item: "X".into() }));
    }

    #[test]
    fn scrap_and_units_carry_through_explosion_and_cost() {
        let s = structure(vec![(
            "MOTOR",
            vec![
                BomLine { unit_factor: dec!(0.001), scrap_pct: dec!(2), ..line("WIRE", dec!(250)) },
                BomLine { unit_factor: dec!(12), ..line("SCREW", dec!(2)) },
            ],
        )]);
        // 4 motors: 4 × 0.255 = 1.02 kg of wire and 4 × 24 = 96 screws.
        let rows = explode(&s, "MOTOR", dec!(4)).unwrap();
        let totals: Vec<(&str, Decimal)> =
            rows.iter().map(|r| (r.component.as_str(), r.total_qty)).collect();
        assert_eq!(totals, vec![("WIRE", dec!(1.02)), ("SCREW", dec!(96))]);
        // Wire at 20.00 per kg, screws at 0.05 each: 0.255 × 20 + 24 × 0.05 = 5.10 + 1.20.
        let inputs = CostInputs {
            material_cost: [("WIRE".to_owned(), dec!(20)), ("SCREW".to_owned(), dec!(0.05))]
                .into_iter()
                .collect(),
            routings: HashMap::new(),
        };
        let sheets = roll_up(&s, &inputs).unwrap();
        assert_eq!(sheets["MOTOR"].material, dec!(6.3));
        assert_eq!(sheets["MOTOR"].total, dec!(6.3));
    }

    #[test]
    fn fan_explodes_depth_first_in_line_order() {
        let rows = explode(&fan(), "FAN", dec!(10)).unwrap();
        let shape: Vec<(u32, &str, &str, Decimal, Decimal, bool)> = rows
            .iter()
            .map(|r| {
                let (parent, component) = (r.parent.as_str(), r.component.as_str());
                (r.level, parent, component, r.qty_per_parent_extended, r.total_qty, r.leaf)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (1, "FAN", "MOTOR", dec!(1), dec!(10), false),
                // 2 coils with 5 % scrap: 2.1 per motor, 21 for ten fans.
                (2, "MOTOR", "COIL", dec!(2.1), dec!(21), true),
                (2, "MOTOR", "SHAFT", dec!(1), dec!(10), true),
                (1, "FAN", "BLADE", dec!(3), dec!(30), true),
            ]
        );
        assert_eq!(rows[1].parent_row, Some(0));
        assert_eq!(rows[3].parent_row, None);
        assert_eq!(rows[3].issue_method, IssueMethod::Backflushed);
        assert_eq!(path_of(&rows, 1), vec!["FAN", "MOTOR", "COIL"]);
        assert_eq!(path_of(&rows, 3), vec!["FAN", "BLADE"]);
        assert!(path_of(&rows, 9).is_empty());

        let summary = summarise(&rows).unwrap();
        let expected: BTreeMap<String, Decimal> =
            [("BLADE", dec!(30)), ("COIL", dec!(21)), ("MOTOR", dec!(10)), ("SHAFT", dec!(10))]
                .into_iter()
                .map(|(item, qty)| (item.to_owned(), qty))
                .collect();
        assert_eq!(summary, expected);
        assert!(explode(&fan(), "COIL", dec!(1)).unwrap().is_empty());
    }

    #[test]
    fn summary_adds_a_component_used_on_several_paths() {
        // FAN uses 4 SCREW directly and 2 in each of its 1 MOTOR: 6 per fan.
        let mut s = fan();
        s.get_mut("FAN").unwrap().push(line("SCREW", dec!(4)));
        s.get_mut("MOTOR").unwrap().push(line("SCREW", dec!(2)));
        let summary = summarise(&explode(&s, "FAN", dec!(5)).unwrap()).unwrap();
        assert_eq!(summary["SCREW"], dec!(30));
    }

    #[test]
    fn fan_cost_rolls_up_worked_by_hand() {
        let sheets = roll_up(&fan(), &fan_costs()).unwrap();
        let names: Vec<&str> = sheets.keys().map(String::as_str).collect();
        assert_eq!(names, vec!["BLADE", "COIL", "FAN", "MOTOR", "SHAFT"]);

        // Leaves cost their material.
        assert_eq!(sheets["COIL"].total, dec!(4));
        assert_eq!(sheets["COIL"].this_level.material, dec!(4));
        assert_eq!(sheets["COIL"].lower_levels, CostElements::default());

        // MOTOR winding: 0.5 h setup / 50 + 0.1 h run = 0.11 h per motor;
        // labour 0.11 × 30 = 3.30, machine 0.11 × 10 = 1.10, overhead 0.11 × 5 = 0.55.
        // Material: 2 × 1.05 coils × 4.00 + 1 shaft × 2.50 = 8.40 + 2.50 = 10.90.
        // Total 10.90 + 3.30 + 1.10 + 0.55 = 15.85.
        let motor = &sheets["MOTOR"];
        assert_eq!(
            (motor.material, motor.labour, motor.machine, motor.overhead, motor.total),
            (dec!(10.9), dec!(3.3), dec!(1.1), dec!(0.55), dec!(15.85))
        );
        assert_eq!(motor.operations[0].hours_per_unit, dec!(0.11));

        // FAN assembly: 1 h setup / 3 + 0.25 h = 0.58333… h; labour × 24 = 8 + 6 = 14,
        // overhead × 6 = 2 + 1.5 = 3.5. The third is only exact to 28 digits
        // (13.99999…992 before rounding), which is why nothing is rounded before the end.
        // Painting outside: 1.75. Material: 1 motor × 15.85 + 3 blades × 1.20 = 19.45.
        // Total 19.45 + 14 + 3.5 + 1.75 = 38.70.
        let fan = &sheets["FAN"];
        assert_eq!(
            (fan.material, fan.labour, fan.machine, fan.overhead, fan.subcontract, fan.total),
            (dec!(19.45), dec!(14), dec!(0), dec!(3.5), dec!(1.75), dec!(38.7))
        );
        let ops: Vec<(i64, &str, Decimal, Decimal)> = fan
            .operations
            .iter()
            .map(|o| (o.seq, o.work_centre.as_str(), o.hours_per_unit, o.total))
            .collect();
        assert_eq!(
            ops,
            vec![(10, "ASSY", dec!(0.583333), dec!(17.5)), (20, "PAINT", dec!(0), dec!(1.75))]
        );

        // This level: the fan's own operations. Lower levels: the motor's conversion and all
        // purchased material (8.40 + 2.50 + 3.60 = 14.50), together the 19.45 of material.
        assert_eq!(
            fan.this_level,
            CostElements {
                material: dec!(0),
                labour: dec!(14),
                machine: dec!(0),
                overhead: dec!(3.5),
                subcontract: dec!(1.75),
            }
        );
        assert_eq!(
            fan.lower_levels,
            CostElements {
                material: dec!(14.5),
                labour: dec!(3.3),
                machine: dec!(1.1),
                overhead: dec!(0.55),
                subcontract: dec!(0),
            }
        );
        assert_eq!(fan.lower_levels.total(), fan.material);
        assert_eq!(fan.this_level.total() + fan.lower_levels.total(), fan.total);
    }

    #[test]
    fn roll_up_refuses_missing_costs_bad_lot_sizes_and_loops() {
        let mut inputs = fan_costs();
        inputs.material_cost.remove("SHAFT");
        assert_eq!(
            roll_up(&fan(), &inputs),
            Err(BomError::MissingMaterialCost { item: "SHAFT".into() })
        );

        let mut inputs = fan_costs();
        inputs.routings.get_mut("MOTOR").unwrap()[0].lot_size = dec!(0);
        let err = roll_up(&fan(), &inputs).unwrap_err();
        assert_eq!(
            err,
            BomError::LotSizeNotPositive { item: "MOTOR".into(), seq: 10, lot_size: dec!(0) }
        );
        assert_eq!(err.code(), "bom_lot_size_not_positive");

        // COIL → FAN closes FAN → MOTOR → COIL → FAN. The first uncosted item by code is COIL.
        let mut looped = fan();
        looped.insert("COIL".into(), vec![line("FAN", dec!(1))]);
        let err = roll_up(&looped, &fan_costs()).unwrap_err();
        assert_eq!(
            err,
            BomError::Cycle {
                path: vec!["COIL".into(), "FAN".into(), "MOTOR".into(), "COIL".into()]
            }
        );
        assert_eq!(err.code(), "bom_cycle");
        assert_eq!(err.to_string(), "the structure loops: COIL -> FAN -> MOTOR -> COIL");
    }

    #[test]
    fn a_loop_is_refused_with_its_path() {
        let edges: BTreeMap<String, Vec<String>> = [
            ("FAN", vec!["MOTOR", "BLADE"]),
            ("MOTOR", vec!["COIL", "SHAFT"]),
            ("COIL", vec!["WIRE"]),
        ]
        .into_iter()
        .map(|(p, cs)| (p.to_owned(), cs.into_iter().map(str::to_owned).collect()))
        .collect();
        // Putting FAN under WIRE: WIRE → FAN → MOTOR → COIL → WIRE.
        assert_eq!(
            find_cycle(&edges, "WIRE", &["PAINT", "FAN"]),
            Some(vec![
                "WIRE".to_owned(),
                "FAN".to_owned(),
                "MOTOR".to_owned(),
                "COIL".to_owned(),
                "WIRE".to_owned()
            ])
        );
        assert_eq!(find_cycle(&edges, "COIL", &["MOTOR"]).unwrap(), vec!["COIL", "MOTOR", "COIL"]);
        assert_eq!(find_cycle(&edges, "SHAFT", &["SHAFT"]).unwrap(), vec!["SHAFT", "SHAFT"]);
        // Sharing is not looping: BLADE may go under MOTOR too.
        assert_eq!(find_cycle(&edges, "MOTOR", &["BLADE", "WIRE"]), None);
        assert_eq!(find_cycle::<&str>(&edges, "FAN", &[]), None);

        // Walks refuse a loop already in the data, naming it top-down.
        let mut looped = fan();
        looped.insert("COIL".into(), vec![line("FAN", dec!(1))]);
        let err = explode(&looped, "FAN", dec!(1)).unwrap_err();
        assert_eq!(
            err,
            BomError::Cycle {
                path: vec!["FAN".into(), "MOTOR".into(), "COIL".into(), "FAN".into()]
            }
        );
        let err = where_used(&looped, "FAN", true).unwrap_err();
        assert_eq!(
            err,
            BomError::Cycle {
                path: vec!["FAN".into(), "MOTOR".into(), "COIL".into(), "FAN".into()]
            }
        );
        // One level up the loop is not walked, so nothing is refused.
        assert_eq!(where_used(&looped, "FAN", false).unwrap().len(), 1);
    }

    #[test]
    fn where_used_single_and_multi_level() {
        let mut s = fan();
        s.insert("FAN-XL".into(), vec![line("MOTOR", dec!(2)), line("GRILLE", dec!(1))]);

        let single = where_used(&s, "COIL", false).unwrap();
        let shape: Vec<(u32, &str, &str, Decimal)> = single
            .iter()
            .map(|w| (w.level, w.parent.as_str(), w.component.as_str(), w.total_qty))
            .collect();
        assert_eq!(shape, vec![(1, "MOTOR", "COIL", dec!(2.1))]);

        // Up through MOTOR to both fans: 2.1 coils per fan, 2 × 2.1 = 4.2 per large fan.
        let multi = where_used(&s, "COIL", true).unwrap();
        let shape: Vec<(u32, &str, &str, Decimal, Decimal)> = multi
            .iter()
            .map(|w| {
                let (parent, component) = (w.parent.as_str(), w.component.as_str());
                (w.level, parent, component, w.qty_per_parent_extended, w.total_qty)
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (1, "MOTOR", "COIL", dec!(2.1), dec!(2.1)),
                (2, "FAN", "MOTOR", dec!(1), dec!(2.1)),
                (2, "FAN-XL", "MOTOR", dec!(2), dec!(4.2)),
            ]
        );
        assert!(where_used(&s, "FAN", true).unwrap().is_empty());
    }

    #[test]
    fn effectivity_on_either_side_of_the_dates() {
        let old = Bom { valid_to: Some(d(2026, 2, 28)), ..bom("FAN", "01", vec![]) };
        let new = Bom {
            valid_from: Some(d(2026, 3, 1)),
            valid_to: Some(d(2026, 6, 30)),
            ..bom("FAN", "02", vec![])
        };
        let draft = Bom {
            valid_from: Some(d(2026, 3, 1)),
            status: BomStatus::Draft,
            ..bom("FAN", "03", vec![])
        };
        let obsolete = Bom { status: BomStatus::Obsolete, ..bom("FAN", "99", vec![]) };
        let other = bom("MOTOR", "05", vec![]);
        let boms = vec![old, new, draft, obsolete, other];
        let version = |date| effective_bom(&boms, "FAN", date, None).map(|b| b.version.as_str());

        assert_eq!(version(d(2026, 2, 28)), Some("01")); // the day before valid_from
        assert_eq!(version(d(2026, 3, 1)), Some("02")); // valid_from itself
        assert_eq!(version(d(2026, 6, 30)), Some("02")); // valid_to itself
        assert_eq!(version(d(2026, 7, 1)), None); // the day after valid_to
        assert_eq!(effective_bom(&boms, "GRILLE", d(2026, 3, 1), None), None);
    }

    #[test]
    fn overlapping_versions_prefer_the_latest_start_then_the_greatest_version() {
        let boms = vec![
            Bom { valid_from: Some(d(2026, 1, 1)), ..bom("FAN", "B", vec![]) },
            Bom { valid_from: Some(d(2026, 4, 1)), ..bom("FAN", "A", vec![]) },
            Bom { valid_from: Some(d(2026, 1, 1)), ..bom("FAN", "C", vec![]) },
            bom("FAN", "Z", vec![]),
        ];
        let version = |date| effective_bom(&boms, "FAN", date, None).map(|b| b.version.as_str());
        assert_eq!(version(d(2025, 6, 1)), Some("Z")); // only the open-ended one
        assert_eq!(version(d(2026, 2, 1)), Some("C")); // same start: greatest version
        assert_eq!(version(d(2026, 4, 1)), Some("A")); // latest start beats version
    }

    #[test]
    fn a_customer_version_wins_for_its_customer_only() {
        let boms = vec![
            Bom {
                valid_from: Some(d(2026, 1, 1)),
                ..bom("FAN", "B", vec![line("BLADE", dec!(3))])
            },
            Bom {
                valid_from: Some(d(2025, 1, 1)),
                valid_to: Some(d(2026, 12, 31)),
                customer: Some("ACME".into()),
                ..bom("FAN", "A-ACME", vec![line("BLADE-RED", dec!(3))])
            },
        ];
        let version = |date, customer| {
            effective_bom(&boms, "FAN", date, customer).map(|b| b.version.as_str())
        };
        // Older start, but bound to ACME: it wins for ACME.
        assert_eq!(version(d(2026, 6, 1), Some("ACME")), Some("A-ACME"));
        assert_eq!(version(d(2026, 6, 1), Some("BETA")), Some("B"));
        assert_eq!(version(d(2026, 6, 1), None), Some("B"));
        // Once ACME's version ends they get the general one; before the general one starts
        // only ACME has a version at all.
        assert_eq!(version(d(2027, 1, 1), Some("ACME")), Some("B"));
        assert_eq!(version(d(2025, 6, 1), None), None);

        let s = effective_structure(&boms, d(2026, 6, 1), Some("ACME"));
        assert_eq!(s["FAN"][0].component, "BLADE-RED");
        let s = effective_structure(&boms, d(2026, 6, 1), None);
        assert_eq!(s["FAN"][0].component, "BLADE");
        assert!(effective_structure(&boms, d(2025, 6, 1), None).is_empty());
    }

    #[test]
    fn compare_lists_added_removed_and_changed_lines() {
        let old = vec![
            BomLine { scrap_pct: dec!(5), operation_seq: Some(10), ..line("COIL", dec!(2)) },
            BomLine { operation_seq: Some(10), ..line("SHAFT", dec!(1)) },
            line("LABEL", dec!(1)),
            BomLine { unit_factor: dec!(12), ..line("SCREW", dec!(1)) },
        ];
        let new = vec![
            BomLine {
                scrap_pct: dec!(3),
                operation_seq: Some(10),
                issue_method: IssueMethod::Backflushed,
                ..line("COIL", dec!(2.0))
            },
            BomLine { operation_seq: Some(10), ..line("SHAFT", dec!(1)) },
            BomLine { operation_seq: Some(20), ..line("SHAFT", dec!(1)) },
            line("BEARING", dec!(2)),
            // 12 loose screws instead of a box of 12: same quantity, other unit.
            line("SCREW", dec!(12)),
        ];
        let diffs = compare(&old, &new);
        assert_eq!(
            diffs,
            vec![
                BomDiff::Added(new[3].clone()),
                BomDiff::Changed {
                    before: old[0].clone(),
                    after: new[0].clone(),
                    fields: vec![LineField::Scrap, LineField::IssueMethod],
                },
                BomDiff::Removed(old[2].clone()),
                BomDiff::Changed {
                    before: old[3].clone(),
                    after: new[4].clone(),
                    fields: vec![LineField::Qty, LineField::Unit],
                },
                BomDiff::Added(new[2].clone()),
            ]
        );
        assert!(compare(&new, &new).is_empty());
    }

    #[test]
    fn compare_pairs_repeated_lines_in_order() {
        let old = vec![line("SCREW", dec!(2)), line("SCREW", dec!(4))];
        let new = vec![line("SCREW", dec!(2)), line("SCREW", dec!(5)), line("SCREW", dec!(1))];
        assert_eq!(
            compare(&old, &new),
            vec![
                BomDiff::Changed {
                    before: old[1].clone(),
                    after: new[1].clone(),
                    fields: vec![LineField::Qty],
                },
                BomDiff::Added(new[2].clone()),
            ]
        );
    }

    /// 100,000 items: item `i` is made of items `3i + 1` to `3i + 3`, eleven levels deep.
    fn wide_tree() -> (Structure, CostInputs) {
        let n = 100_000usize;
        let name = |i: usize| format!("I{i}");
        let mut s = Structure::new();
        let mut inputs = CostInputs::default();
        for i in 0..n {
            let lines: Vec<BomLine> = (3 * i + 1..=3 * i + 3)
                .filter(|c| *c < n)
                .map(|c| line(&name(c), dec!(1)))
                .collect();
            if lines.is_empty() {
                inputs.material_cost.insert(name(i), dec!(0.01));
            } else {
                s.insert(name(i), lines);
            }
        }
        (s, inputs)
    }

    #[test]
    fn a_hundred_thousand_items_eleven_levels_deep() {
        let (s, inputs) = wide_tree();
        let rows = explode(&s, "I0", dec!(1)).unwrap();
        assert_eq!(rows.len(), 99_999);
        assert_eq!(rows.iter().map(|r| r.level).max(), Some(11));

        let sheets = roll_up(&s, &inputs).unwrap();
        assert_eq!(sheets.len(), 100_000);
        let leaves = rows.iter().filter(|r| r.leaf).count();
        assert_eq!(sheets["I0"].total, Decimal::from(leaves) * dec!(0.01));

        let used = where_used(&s, "I99999", true).unwrap();
        assert_eq!(used.len(), 11);
        assert_eq!(used.last().map(|w| w.parent.as_str()), Some("I0"));
        let edges: BTreeMap<String, Vec<String>> = s
            .iter()
            .map(|(p, ls)| (p.clone(), ls.iter().map(|l| l.component.clone()).collect()))
            .collect();
        assert_eq!(find_cycle(&edges, "I99999", &["I0"]).map(|p| p.len()), Some(13));
    }

    #[test]
    fn a_chain_deeper_than_any_call_stack() {
        // 100,000 levels would overflow a recursive walk.
        let n = 100_000usize;
        let mut s = Structure::new();
        for i in 0..n {
            s.insert(format!("C{i}"), vec![line(&format!("C{}", i + 1), dec!(1))]);
        }
        let inputs = CostInputs {
            material_cost: [(format!("C{n}"), dec!(2))].into_iter().collect(),
            routings: HashMap::new(),
        };
        let rows = explode(&s, "C0", dec!(3)).unwrap();
        assert_eq!(rows.last().map(|r| (r.level, r.total_qty)), Some((100_000, dec!(3))));
        assert_eq!(path_of(&rows, n - 1).len(), n + 1);
        assert_eq!(roll_up(&s, &inputs).unwrap()["C0"].total, dec!(2));
        assert_eq!(where_used(&s, &format!("C{n}"), true).unwrap().len(), n);

        s.insert(format!("C{n}"), vec![line("C0", dec!(1))]);
        let Err(BomError::Cycle { path }) = explode(&s, "C0", dec!(1)) else { panic!() };
        assert_eq!(path.len(), n + 2);
        let Err(BomError::Cycle { path }) = roll_up(&s, &inputs) else { panic!() };
        assert_eq!(path.len(), n + 2);
    }

    /// Items per level and levels of the random structures: edges only go down a level or
    /// more, so they never loop and a path has at most three lines.
    const PER_LEVEL: usize = 3;
    const ITEMS: usize = 4 * PER_LEVEL;

    fn item(i: usize) -> String {
        format!("I{i:02}")
    }

    /// A random layered structure with shared components, and a cost for every item. The
    /// figures keep every product exact in 28 digits, so order of adding cannot matter.
    fn arb_structure() -> impl Strategy<Value = (Structure, HashMap<String, Decimal>)> {
        let edge = (0..ITEMS, 0..ITEMS, 1i64..=500, 0usize..3, 0i64..=20);
        let edges = proptest::collection::vec(edge, 0..30);
        let costs = proptest::collection::vec(0i64..10_000, ITEMS);
        (edges, costs).prop_map(|(edges, costs)| {
            let mut s = Structure::new();
            for (parent, component, qty, unit, scrap) in edges {
                if parent / PER_LEVEL < component / PER_LEVEL {
                    let unit_factor = [dec!(1), dec!(12), dec!(0.5)][unit];
                    s.entry(item(parent)).or_default().push(BomLine {
                        unit_factor,
                        scrap_pct: Decimal::from(scrap),
                        ..line(&item(component), Decimal::new(qty, 2))
                    });
                }
            }
            let costs =
                costs.into_iter().enumerate().map(|(i, c)| (item(i), Decimal::new(c, 2))).collect();
            (s, costs)
        })
    }

    /// Every root-to-leaf path below `top` as (leaf, product of extended quantities), by
    /// plain recursion and the formula written out again.
    fn paths(s: &Structure, top: &str, product: Decimal, out: &mut Vec<(String, Decimal)>) {
        match s.get(top) {
            Some(lines) if !lines.is_empty() => {
                for l in lines {
                    let ext = l.qty_per * l.unit_factor * (dec!(1) + l.scrap_pct / dec!(100));
                    paths(s, &l.component, product * ext, out);
                }
            }
            _ => out.push((top.to_owned(), product)),
        }
    }

    proptest! {
        #[test]
        fn roll_up_material_is_the_sum_over_paths((s, costs) in arb_structure()) {
            let inputs = CostInputs { material_cost: costs.clone(), routings: HashMap::new() };
            let sheets = roll_up(&s, &inputs).unwrap();
            for i in 0..ITEMS {
                let mut found = Vec::new();
                paths(&s, &item(i), dec!(1), &mut found);
                let expected: Decimal = found.iter().map(|(leaf, q)| *q * costs[leaf]).sum();
                let sheet = &sheets[&item(i)];
                prop_assert_eq!(sheet.material, round_to(expected, COST_PLACES));
                prop_assert_eq!(sheet.total, sheet.material);
                prop_assert_eq!(
                    sheet.lower_levels.material + sheet.this_level.material,
                    sheet.material
                );
            }
        }

        #[test]
        fn explosion_per_leaf_is_the_sum_over_paths((s, _) in arb_structure(), qty in 1i64..100) {
            let qty = Decimal::from(qty);
            let rows = explode(&s, "I00", qty).unwrap();
            let mut found = Vec::new();
            paths(&s, "I00", qty, &mut found);
            let mut expected: BTreeMap<String, Decimal> = BTreeMap::new();
            if !rows.is_empty() {
                for (leaf, q) in found {
                    *expected.entry(leaf).or_default() += q;
                }
            }
            let leaves: Vec<ExplodedLine> = rows.into_iter().filter(|r| r.leaf).collect();
            prop_assert_eq!(summarise(&leaves).unwrap(), expected);
        }

        #[test]
        fn explosion_and_roll_up_are_deterministic((s, costs) in arb_structure()) {
            // A rebuilt map hashes with other keys, so it iterates in another order.
            let rebuilt: Structure = s.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(explode(&s, "I00", dec!(7)), explode(&rebuilt, "I00", dec!(7)));
            let inputs = CostInputs { material_cost: costs, routings: HashMap::new() };
            prop_assert_eq!(roll_up(&s, &inputs), roll_up(&rebuilt, &inputs));
            let last = item(ITEMS - 1);
            prop_assert_eq!(where_used(&s, &last, true), where_used(&rebuilt, &last, true));
        }

        #[test]
        fn a_found_loop_is_made_of_real_edges(
            (s, _) in arb_structure(),
            parent in 0..ITEMS,
            component in 0..ITEMS,
        ) {
            let edges: BTreeMap<String, Vec<String>> = s
                .iter()
                .map(|(p, ls)| (p.clone(), ls.iter().map(|l| l.component.clone()).collect()))
                .collect();
            let (parent, component) = (item(parent), item(component));
            let reaches = component == parent
                || explode(&s, &component, dec!(1)).unwrap().iter().any(|r| r.component == parent);
            match find_cycle(&edges, &parent, &[component.as_str()]) {
                Some(path) => {
                    prop_assert!(reaches);
                    prop_assert_eq!(path.first(), Some(&parent));
                    prop_assert_eq!(path.last(), Some(&parent));
                    prop_assert_eq!(path.get(1), Some(&component));
                    for step in path.windows(2).skip(1) {
                        prop_assert!(edges[&step[0]].contains(&step[1]));
                    }
                }
                None => prop_assert!(!reaches),
            }
        }
    }
}

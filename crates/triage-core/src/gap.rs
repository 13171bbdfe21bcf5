//! The optimal batch plan when cases cost agents different units: a
//! generalized assignment problem, solved exactly as a mixed-integer
//! program by HiGHS (through the `highs` binding).
//!
//! One binary variable per (case, candidate agent); each case goes to at
//! most one agent; the units an agent takes stay within its spare capacity
//! and the cases within its window cap. The first solve maximizes the total
//! match score. Among plans of that score, a second solve prefers the one
//! that spreads load most evenly (least sum of squared load shares, each
//! agent's load over its capacity), which is what the `least_loaded` and
//! `round_robin` strategies do one case at a time.
//!
//! The solver's budget is counted in branch-and-bound nodes, not seconds,
//! so the same batch gives the same plan on every machine; it runs on one
//! thread with its fixed random seed. When the budget runs out the best plan
//! found is kept and the gap to the proven bound is reported; a plan is
//! called optimal only when the solver proved it.

use crate::assign::Candidate;
use highs::{HighsModelStatus, RowProblem, Sense};

/// Branch-and-bound nodes each solve may explore, for small programs; a
/// program of `v` variables gets at most `WORK_BUDGET / v` nodes, since
/// each node solves a linear program about that large.
pub(crate) const NODE_BUDGET: i32 = 20_000;

/// Nodes × variables one solve may take (see [`NODE_BUDGET`]).
const WORK_BUDGET: usize = 20_000_000;

/// Most (case, agent) pairs the solver takes on: beyond, the caller plans
/// by minimum-cost flow with each agent's heaviest units (a feasible plan,
/// not proven best). 1,000 cases over 200 agents of mixed units (200,000
/// pairs) took a minute and half a gigabyte; 300 over 60 (18,000) took 2.5 s.
pub(crate) const MAX_VARS: usize = 10_000;

/// Most pairs for the second solve (spreading load among plans of the best
/// score): it adds up to 64 rows per agent.
const MAX_SPREAD_VARS: usize = 5_000;

/// What the solver may give each agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room {
    /// Units the agent has now (its load).
    pub load: i64,
    /// Units the agent can take at most.
    pub capacity: i64,
    /// Cases its window cap still allows, if it has one.
    pub slots: Option<i64>,
}

/// A plan: for each case, the index into its candidate list, or `None`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub pick: Vec<Option<usize>>,
    /// The plan's total match score.
    pub score: i64,
    /// The best total score any plan could reach, as far as the solver
    /// proved.
    pub bound: i64,
    /// Whether the solver proved no plan scores more.
    pub proven: bool,
}

/// Solves the plan for `lists` (each case's candidates) over the agents'
/// `rooms`. `None` when the solver could not run or gave no plan; the
/// caller then keeps a plan of its own.
pub(crate) fn solve(lists: &[Vec<Candidate>], rooms: &[Room]) -> Option<Plan> {
    let vars: Vec<(usize, usize)> =
        lists.iter().enumerate().flat_map(|(i, l)| (0..l.len()).map(move |k| (i, k))).collect();
    if vars.is_empty() {
        return Some(Plan { pick: vec![None; lists.len()], score: 0, bound: 0, proven: true });
    }
    if vars.len() > MAX_VARS {
        return None;
    }
    let nodes = i32::try_from(WORK_BUDGET / vars.len()).unwrap_or(NODE_BUDGET).clamp(1, NODE_BUDGET);
    // Scores are whole numbers: a gap under one point proves the best.
    let (columns, status, bound) = run(build(lists, rooms, &vars, None), 0.5, nodes)?;
    let pick = picks(lists, &vars, &columns);
    let score = total(lists, &pick);
    let proven = status == HighsModelStatus::Optimal;
    let bound = if proven { score } else { bound.floor() as i64 }.max(score);
    let mut plan = Plan { pick, score, bound, proven };
    if proven && vars.len() <= MAX_SPREAD_VARS && lists.iter().filter(|l| !l.is_empty()).count() > 1 {
        // The same score, spread as evenly as the capacities allow.
        if let Some((columns, _, _)) = run(build(lists, rooms, &vars, Some(score)), 1e-9, nodes) {
            let pick = picks(lists, &vars, &columns);
            if total(lists, &pick) == score && fits(lists, rooms, &pick) {
                plan.pick = pick;
            }
        }
    }
    fits(lists, rooms, &plan.pick).then_some(plan)
}

/// The program: maximize the score, or (given the score to keep) minimize
/// the spread of load.
fn build(lists: &[Vec<Candidate>], rooms: &[Room], vars: &[(usize, usize)], keep: Option<i64>) -> RowProblem {
    let mut pb = RowProblem::default();
    let cols: Vec<highs::Col> = vars
        .iter()
        .map(|&(i, k)| {
            let score = if keep.is_some() { 0.0 } else { lists[i][k].score as f64 };
            pb.add_integer_column(score, 0..=1)
        })
        .collect();
    // One agent per case.
    let mut by_case: Vec<Vec<(highs::Col, f64)>> = vec![Vec::new(); lists.len()];
    // Per agent: (column, units).
    let mut by_agent: Vec<Vec<(highs::Col, f64)>> = vec![Vec::new(); rooms.len()];
    for (&(i, k), &col) in vars.iter().zip(&cols) {
        by_case[i].push((col, 1.0));
        let c = lists[i][k];
        by_agent[c.agent].push((col, c.units as f64));
    }
    for row in by_case.iter().filter(|r| r.len() > 1) {
        pb.add_row(..=1.0, row);
    }
    for (room, row) in rooms.iter().zip(&by_agent).filter(|(_, r)| !r.is_empty()) {
        pb.add_row(..=(room.capacity - room.load).max(0) as f64, row);
        if let Some(slots) = room.slots {
            let ones: Vec<(highs::Col, f64)> = row.iter().map(|&(c, _)| (c, 1.0)).collect();
            pb.add_row(..=slots.max(0) as f64, &ones);
        }
    }
    if let Some(score) = keep {
        let all: Vec<(highs::Col, f64)> =
            vars.iter().zip(&cols).map(|(&(i, k), &col)| (col, lists[i][k].score as f64)).collect();
        // Scores are whole numbers: half a point below is "at least".
        pb.add_row(score as f64 - 0.5.., &all);
        for (room, row) in rooms.iter().zip(&by_agent).filter(|(_, r)| !r.is_empty()) {
            spread(&mut pb, room, row);
        }
    }
    pb
}

/// Most lines that bound one agent's load penalty from below.
const MAX_PIECES: i64 = 64;

/// Adds `t ≥ v² / capacity` for the agent's load `v` (its load now plus
/// the units it takes) as lines through consecutive whole loads, and `t` to
/// the objective.
fn spread(pb: &mut RowProblem, room: &Room, row: &[(highs::Col, f64)]) {
    let cap = room.capacity.max(1) as f64;
    // Maximized as −t: the least spread.
    let t = pb.add_column(-1.0, 0.0..);
    let from = room.load.max(0);
    let to = room.capacity.max(from + 1);
    let step = ((to - from) / MAX_PIECES).max(1);
    let mut k = from;
    while k < to {
        let next = (k + step).min(to);
        // The chord through (k, k²) and (next, next²): slope k + next,
        // meeting v² at both ends.
        let slope = (k + next) as f64;
        let offset = (k * next) as f64;
        // cap·t − slope·Σ units·x ≥ slope·load − k·next
        let mut coefficients: Vec<(highs::Col, f64)> = vec![(t, cap)];
        coefficients.extend(row.iter().map(|&(c, u)| (c, -slope * u)));
        pb.add_row(slope * room.load as f64 - offset.., &coefficients);
        k = next;
    }
}

/// Runs one program, stopping when the best plan is within `abs_gap` of
/// the bound: the columns of the best plan found, the model status and the
/// proven bound on the objective.
fn run(pb: RowProblem, abs_gap: f64, nodes: i32) -> Option<(Vec<f64>, HighsModelStatus, f64)> {
    let mut model = pb.optimise(Sense::Maximise);
    model.make_quiet();
    model.set_threads(std::num::NonZeroU32::MIN);
    model.set_option("mip_max_nodes", nodes);
    model.set_option("mip_rel_gap", 0.0);
    model.set_option("mip_abs_gap", abs_gap);
    model.set_option("random_seed", 0);
    let solved = model.try_solve().ok()?;
    let status = solved.status();
    let columns = solved.get_solution().columns().to_vec();
    if columns.is_empty() {
        return None;
    }
    let bound = solved.double_info_value(c"mip_dual_bound").unwrap_or(f64::INFINITY);
    Some((columns, status, bound))
}

fn picks(lists: &[Vec<Candidate>], vars: &[(usize, usize)], columns: &[f64]) -> Vec<Option<usize>> {
    let mut pick = vec![None; lists.len()];
    for (&(i, k), &x) in vars.iter().zip(columns) {
        if x > 0.5 && pick[i].is_none() {
            pick[i] = Some(k);
        }
    }
    pick
}

fn total(lists: &[Vec<Candidate>], pick: &[Option<usize>]) -> i64 {
    pick.iter().enumerate().filter_map(|(i, k)| k.map(|k| lists[i][k].score)).sum()
}

/// Whether a plan keeps every agent within its capacity and window: the
/// solver works in floating point, so its answer is checked in integers.
fn fits(lists: &[Vec<Candidate>], rooms: &[Room], pick: &[Option<usize>]) -> bool {
    let mut used = vec![(0i64, 0i64); rooms.len()];
    for (i, k) in pick.iter().enumerate() {
        if let Some(k) = k {
            let c = lists[i][*k];
            used[c.agent].0 += c.units;
            used[c.agent].1 += 1;
        }
    }
    rooms
        .iter()
        .zip(&used)
        .all(|(r, &(units, n))| n == 0 || (r.load + units <= r.capacity && r.slots.is_none_or(|s| n <= s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(agent: usize, units: i64, score: i64) -> Candidate {
        Candidate { agent, units, score }
    }

    #[test]
    fn a_phone_case_gives_way_to_two_emails_that_score_more() {
        // One agent with 3 spare units: a phone case (3 units, score 60)
        // or two e-mails (1 unit each, score 35 each).
        let lists = vec![vec![cand(0, 3, 60)], vec![cand(0, 1, 35)], vec![cand(0, 1, 35)]];
        let rooms = [Room { load: 0, capacity: 3, slots: None }];
        let plan = solve(&lists, &rooms).unwrap();
        assert_eq!(plan.pick, vec![None, Some(0), Some(0)]);
        assert_eq!((plan.score, plan.bound, plan.proven), (70, 70, true));
    }

    #[test]
    fn equal_plans_spread_the_load() {
        let lists: Vec<Vec<Candidate>> = (0..6).map(|_| (0..3).map(|a| cand(a, 1, 20)).collect()).collect();
        let rooms = [Room { load: 0, capacity: 6, slots: None }; 3];
        let plan = solve(&lists, &rooms).unwrap();
        let mut per_agent = [0; 3];
        for (i, k) in plan.pick.iter().enumerate() {
            per_agent[lists[i][k.unwrap()].agent] += 1;
        }
        assert_eq!(per_agent, [2, 2, 2]);
        assert!(plan.proven);
    }

    #[test]
    fn window_caps_and_existing_loads_bind() {
        let lists = vec![vec![cand(0, 1, 30), cand(1, 2, 10)], vec![cand(0, 1, 30)], vec![cand(1, 1, 5)]];
        let rooms = [Room { load: 0, capacity: 5, slots: Some(1) }, Room { load: 2, capacity: 4, slots: None }];
        let plan = solve(&lists, &rooms).unwrap();
        assert_eq!(plan.score, 30 + 10);
        assert!(fits(&lists, &rooms, &plan.pick));
    }
}

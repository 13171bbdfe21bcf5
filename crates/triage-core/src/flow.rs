//! Minimum-cost flow for the optimal batch assignment.
//!
//! Cases and agents form a bipartite graph: source → case (capacity 1),
//! case → eligible agent (capacity 1, cost `top − score`), agent → sink
//! (capacity: how many more cases the agent can take). Costs are
//! non-negative, so Dijkstra with node potentials finds each cheapest
//! augmenting path; augmenting while a path costs less than `top` — while
//! it adds score — yields the assignment of greatest total score.
//!
//! Scores are small integers, so many augmenting paths share a length.
//! Each Dijkstra pass is therefore followed by a blocking flow (levelled
//! depth-first search, as in Dinic's algorithm) over the edges whose reduced
//! cost is zero, which carries every shortest path at once: a few dozen
//! passes instead of one per case.
//!
//! Everything is integer arithmetic over vectors in insertion order, so the
//! answer is the same on every machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const INF: i64 = i64::MAX / 4;

#[derive(Debug, Clone)]
struct Edge {
    to: usize,
    cap: i64,
    cost: i64,
}

/// A flow network; edge `e` and `e ^ 1` are each other's reverse.
#[derive(Debug, Clone, Default)]
pub(crate) struct Network {
    edges: Vec<Edge>,
    out: Vec<Vec<usize>>,
}

impl Network {
    /// A network of `n` nodes and no edges.
    pub fn new(n: usize) -> Network {
        Network { edges: Vec::new(), out: vec![Vec::new(); n] }
    }

    /// Adds an edge and returns its id, for [`Network::flow_on`].
    pub fn add(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
        let id = self.edges.len();
        self.edges.push(Edge { to, cap, cost });
        self.edges.push(Edge { to: from, cap: 0, cost: -cost });
        self.out[from].push(id);
        self.out[to].push(id + 1);
        id
    }

    /// Flow carried by edge `id`.
    pub fn flow_on(&self, id: usize) -> i64 {
        self.edges[id ^ 1].cap
    }

    /// Sends flow from `s` to `t` along paths cheaper than `limit` each,
    /// cheapest first, until none is left; returns the total cost. Edge
    /// costs must be non-negative.
    pub fn min_cost_flow(&mut self, s: usize, t: usize, limit: i64) -> i64 {
        let n = self.out.len();
        let mut potential = vec![0i64; n];
        let mut dist = vec![INF; n];
        let mut level = vec![u32::MAX; n];
        let mut next = vec![0usize; n];
        let mut path = Vec::new();
        let mut total = 0;
        loop {
            // Shortest distances under reduced costs.
            dist.fill(INF);
            dist[s] = 0;
            let mut heap = BinaryHeap::new();
            heap.push(Reverse((0i64, s)));
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                for &e in &self.out[u] {
                    let edge = &self.edges[e];
                    if edge.cap == 0 {
                        continue;
                    }
                    let nd = d + edge.cost + potential[u] - potential[edge.to];
                    if nd < dist[edge.to] {
                        dist[edge.to] = nd;
                        heap.push(Reverse((nd, edge.to)));
                    }
                }
            }
            if dist[t] >= INF {
                return total;
            }
            // Capping at the sink's distance keeps every reduced cost
            // non-negative and makes every shortest path cost zero.
            let cap = dist[t];
            for (p, d) in potential.iter_mut().zip(&dist) {
                *p += (*d).min(cap);
            }
            let path_cost = potential[t] - potential[s];
            if path_cost >= limit {
                return total;
            }
            // Blocking flows over the zero-reduced-cost edges.
            loop {
                level.fill(u32::MAX);
                level[s] = 0;
                let mut queue = std::collections::VecDeque::from([s]);
                while let Some(u) = queue.pop_front() {
                    for &e in &self.out[u] {
                        let edge = &self.edges[e];
                        if edge.cap > 0
                            && level[edge.to] == u32::MAX
                            && edge.cost + potential[u] - potential[edge.to] == 0
                        {
                            level[edge.to] = level[u] + 1;
                            queue.push_back(edge.to);
                        }
                    }
                }
                if level[t] == u32::MAX {
                    break;
                }
                next.fill(0);
                loop {
                    let pushed = self.push(s, t, &level, &mut next, &potential, &mut path);
                    if pushed == 0 {
                        break;
                    }
                    total += pushed * path_cost;
                }
            }
        }
    }

    /// One augmenting path on the level graph, depth first, iteratively
    /// (a path has at most a handful of edges here, but the depth is not
    /// trusted to the call stack); `path` is scratch space.
    fn push(
        &mut self,
        s: usize,
        t: usize,
        level: &[u32],
        next: &mut [usize],
        potential: &[i64],
        path: &mut Vec<usize>,
    ) -> i64 {
        path.clear();
        let mut u = s;
        loop {
            if u == t {
                let amount = path.iter().map(|&e| self.edges[e].cap).min().unwrap_or(0);
                for &e in path.iter() {
                    self.edges[e].cap -= amount;
                    self.edges[e ^ 1].cap += amount;
                }
                return amount;
            }
            let mut advanced = false;
            while next[u] < self.out[u].len() {
                let e = self.out[u][next[u]];
                let edge = &self.edges[e];
                if edge.cap > 0 && level[edge.to] == level[u] + 1 && edge.cost + potential[u] - potential[edge.to] == 0
                {
                    path.push(e);
                    u = edge.to;
                    advanced = true;
                    break;
                }
                next[u] += 1;
            }
            if !advanced {
                // A dead end: retreat and never try this edge again.
                match path.pop() {
                    None => return 0,
                    Some(e) => {
                        u = self.edges[e ^ 1].to;
                        next[u] += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cases, two agents with one slot each: the best total pairs the
    /// cases crosswise even though case 0 likes agent 0 most.
    #[test]
    fn finds_the_best_total_not_the_best_first_choice() {
        // Nodes: 0 source, 1-2 cases, 3-4 agents, 5 sink. Scores:
        // case0: a0 = 10, a1 = 9; case1: a0 = 8, a1 = 1.
        let top = 11;
        let mut g = Network::new(6);
        g.add(0, 1, 1, 0);
        g.add(0, 2, 1, 0);
        let e00 = g.add(1, 3, 1, top - 10);
        let e01 = g.add(1, 4, 1, top - 9);
        let e10 = g.add(2, 3, 1, top - 8);
        let e11 = g.add(2, 4, 1, top - 1);
        g.add(3, 5, 1, 0);
        g.add(4, 5, 1, 0);
        let cost = g.min_cost_flow(0, 5, top);
        assert_eq!((g.flow_on(e00), g.flow_on(e01), g.flow_on(e10), g.flow_on(e11)), (0, 1, 1, 0));
        assert_eq!(2 * top - cost, 17);
    }

    /// A path that adds nothing is not taken.
    #[test]
    fn stops_when_a_path_adds_no_score() {
        let mut g = Network::new(3);
        g.add(0, 1, 1, 0);
        let e = g.add(1, 2, 1, 5);
        assert_eq!(g.min_cost_flow(0, 2, 5), 0);
        assert_eq!(g.flow_on(e), 0);
    }
}

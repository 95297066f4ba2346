//! Which queues to reserve from, and in what order: strict, or weighted like Sidekiq's `-q a,3`.

use rand::Rng;

/// How a worker orders its queues for each reserve.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueOrder {
    /// Always in the order given: a later queue is worked only when earlier ones are empty.
    Strict(Vec<String>),
    /// Each reserve draws an order at random, a queue first in proportion to its weight, so
    /// no queue starves.
    Weighted(Vec<(String, u32)>),
}

impl QueueOrder {
    /// The queue names, in configuration order.
    pub fn names(&self) -> Vec<String> {
        match self {
            QueueOrder::Strict(q) => q.clone(),
            QueueOrder::Weighted(q) => q.iter().map(|(n, _)| n.clone()).collect(),
        }
    }

    /// The order for one reserve.
    ///
    /// ```
    /// use jobs::worker::QueueOrder;
    /// let strict = QueueOrder::Strict(vec!["critical".into(), "default".into()]);
    /// assert_eq!(strict.draw(), vec!["critical", "default"]);
    /// let weighted = QueueOrder::Weighted(vec![("critical".into(), 3), ("default".into(), 1)]);
    /// let mut order = weighted.draw();
    /// order.sort();
    /// assert_eq!(order, vec!["critical", "default"]);
    /// ```
    pub fn draw(&self) -> Vec<String> {
        match self {
            QueueOrder::Strict(q) => q.clone(),
            QueueOrder::Weighted(q) => weighted_order(q, &mut rand::thread_rng()),
        }
    }
}

/// A random order where each step picks among the remaining queues in proportion to weight.
fn weighted_order(queues: &[(String, u32)], rng: &mut impl Rng) -> Vec<String> {
    let mut left: Vec<&(String, u32)> = queues.iter().collect();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: u64 = left.iter().map(|(_, w)| u64::from((*w).max(1))).sum();
        let mut pick = rng.gen_range(0..total);
        let mut idx = 0;
        for (i, (_, w)) in left.iter().enumerate() {
            let w = u64::from((*w).max(1));
            if pick < w {
                idx = i;
                break;
            }
            pick -= w;
        }
        out.push(left.remove(idx).0.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weighted_order_puts_queues_first_in_proportion_to_weight() {
        let queues = vec![("critical".to_string(), 3), ("default".to_string(), 1)];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 20_000;
        let first_critical = (0..n)
            .filter(|_| weighted_order(&queues, &mut rng)[0] == "critical")
            .count();
        let share = first_critical as f64 / f64::from(n);
        assert!((0.72..0.78).contains(&share), "critical first {share}");
    }

    #[test]
    fn every_queue_appears_once() {
        let queues = vec![
            ("a".to_string(), 1),
            ("b".to_string(), 5),
            ("c".to_string(), 2),
        ];
        let mut order = weighted_order(&queues, &mut rand::thread_rng());
        order.sort();
        assert_eq!(order, vec!["a", "b", "c"]);
    }
}

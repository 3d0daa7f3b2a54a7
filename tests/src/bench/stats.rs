//! Latency statistics for the bench: nearest-rank percentiles over microsecond samples, medians
//! over repetitions, and the paired "path − direct" overhead of one repetition. Pure functions;
//! measuring and reporting live elsewhere.

use serde::Serialize;

/// p50/p90/p99 of one segment, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (sorted in place); `None` when there are none.
    pub fn of(samples: &mut [u64]) -> Option<Percentiles> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        Some(Percentiles {
            p50: rank(samples, 0.50),
            p90: rank(samples, 0.90),
            p99: rank(samples, 0.99),
        })
    }

    /// `self − floor`, field by field: the gateway overhead of one repetition.
    pub fn minus(self, floor: Percentiles) -> Percentiles {
        Percentiles {
            p50: self.p50 - floor.p50,
            p90: self.p90 - floor.p90,
            p99: self.p99 - floor.p99,
        }
    }

    /// The field-wise median over repetitions (`None` for an empty list).
    pub fn median_of(runs: &[Percentiles]) -> Option<Percentiles> {
        Some(Percentiles {
            p50: median(runs.iter().map(|p| p.p50).collect())?,
            p90: median(runs.iter().map(|p| p.p90).collect())?,
            p99: median(runs.iter().map(|p| p.p99).collect())?,
        })
    }
}

/// The sample at quantile `q` (nearest rank) of a sorted, non-empty slice.
fn rank(sorted: &[u64], q: f64) -> f64 {
    let n = sorted.len();
    // ceil(q·n) as a 1-based rank, clamped into the slice.
    let wanted = (q * n as f64).ceil() as usize;
    let index = wanted.clamp(1, n) - 1;
    sorted.get(index).copied().unwrap_or_default() as f64
}

/// Median of `values` (mean of the middle two for an even count); `None` when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values.get(mid).copied()
    } else {
        Some((values.get(mid - 1)? + values.get(mid)?) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut samples).unwrap();
        assert_eq!((p.p50, p.p90, p.p99), (50.0, 90.0, 99.0));
        assert_eq!(Percentiles::of(&mut []), None);
        let mut one = [7];
        assert_eq!(Percentiles::of(&mut one).unwrap().p99, 7.0);
    }

    #[test]
    fn medians_and_overheads() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        let a = Percentiles {
            p50: 10.0,
            p90: 20.0,
            p99: 30.0,
        };
        let b = Percentiles {
            p50: 4.0,
            p90: 5.0,
            p99: 6.0,
        };
        assert_eq!(
            a.minus(b),
            Percentiles {
                p50: 6.0,
                p90: 15.0,
                p99: 24.0
            }
        );
        let m = Percentiles::median_of(&[a, b, a]).unwrap();
        assert_eq!(m, a);
    }
}

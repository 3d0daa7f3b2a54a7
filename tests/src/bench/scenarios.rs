//! The latency and throughput scenarios, each run over every path with the paths interleaved
//! inside each repetition and medians taken over repetitions; overhead is always computed against
//! the direct path *of the same repetition*: non-streamed latency at a fixed rate, maximum
//! throughput, streaming time to first token, per-chunk relay latency (paced chunks stamped by the
//! mock) and per-chunk relay cost (bursts). Memory and runs live in `resources.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::client::{Path, Targets};
use super::load::{closed_loop, micros, open_loop};
use super::mock::{Mode, now_us};
use super::plan::Plan;
use super::report::{BurstFigures, PathFigures, Series, ThroughputFigures};
use super::server::process_cpu;
use super::stats::{Percentiles, median};

/// What one request of a series measures.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    /// A non-streamed completion: scheduled send → full answer.
    Unary,
    /// A streamed completion: scheduled send → first content delta.
    FirstToken,
    /// A paced stream: mock write → client read, for every chunk.
    Relay(Mode),
}

/// One request of `probe` along `path`, scheduled at `scheduled`; returns its samples (µs).
pub async fn measure(
    targets: &Targets,
    path: Path,
    probe: Probe,
    scheduled: Instant,
) -> anyhow::Result<Vec<u64>> {
    match probe {
        Probe::Unary => {
            targets.unary(path).await?;
            Ok(vec![micros(scheduled.elapsed())])
        }
        Probe::FirstToken => {
            let mut stream = targets.open_stream(path, Mode::Fixed).await?;
            stream
                .next_content()
                .await?
                .context("stream ended without content")?;
            let first = micros(scheduled.elapsed());
            stream.drain().await?;
            Ok(vec![first])
        }
        Probe::Relay(mode) => {
            let Mode::Paced { chunks, .. } = mode else {
                bail!("relay needs a paced mode");
            };
            let mut stream = targets.open_stream(path, mode).await?;
            let mut samples = Vec::with_capacity(chunks as usize);
            while let Some(text) = stream.next_content().await? {
                let read = now_us();
                let stamp: u64 = text
                    .strip_prefix('t')
                    .and_then(|us| us.parse().ok())
                    .with_context(|| format!("unstamped chunk `{text}`"))?;
                samples.push(read.saturating_sub(stamp));
            }
            if samples.len() != chunks as usize {
                bail!("{} of {chunks} paced chunks arrived", samples.len());
            }
            Ok(samples)
        }
    }
}

/// Runs `probe` at `rate` over `paths` (`plan.reps` × interleaved segments) and summarises.
pub async fn series(
    targets: &Targets,
    plan: &Plan,
    label: String,
    rate: f64,
    probe: Probe,
) -> Series {
    let mut per_rep: Vec<HashMap<Path, Percentiles>> = Vec::with_capacity(plan.reps);
    let mut errors: HashMap<Path, (u64, Option<String>)> = HashMap::new();
    let mut rps: HashMap<Path, Vec<f64>> = HashMap::new();
    let mut samples: HashMap<Path, usize> = HashMap::new();
    let mut lag: Vec<u64> = Vec::new();
    for rep in 0..plan.reps {
        let mut this_rep = HashMap::new();
        for path in Path::rotation(rep).into_iter().filter(|&p| targets.has(p)) {
            let targets = targets.clone();
            let result = open_loop(rate, plan.segment, move |scheduled| {
                let targets = targets.clone();
                async move { measure(&targets, path, probe, scheduled).await }
            })
            .await;
            let mut flat: Vec<u64> = result.values.into_iter().flatten().collect();
            *samples.entry(path).or_default() += flat.len();
            if let Some(p) = Percentiles::of(&mut flat) {
                this_rep.insert(path, p);
            }
            let entry = errors.entry(path).or_default();
            entry.0 += result.errors;
            if entry.1.is_none() {
                entry.1 = result.first_error;
            }
            rps.entry(path).or_default().push(result.achieved_rps);
            if path == Path::Direct {
                lag.extend(result.lag_us);
            }
            settle().await;
        }
        per_rep.push(this_rep);
    }
    let paths = Path::ALL
        .into_iter()
        .map(|path| {
            let absolute: Vec<Percentiles> = per_rep
                .iter()
                .filter_map(|rep| rep.get(&path).copied())
                .collect();
            let overhead: Vec<Percentiles> = per_rep
                .iter()
                .filter_map(|rep| Some(rep.get(&path)?.minus(*rep.get(&Path::Direct)?)))
                .collect();
            let (errors, first_error) = errors.remove(&path).unwrap_or_default();
            PathFigures {
                path,
                absolute: Percentiles::median_of(&absolute),
                overhead: (path != Path::Direct)
                    .then(|| Percentiles::median_of(&overhead))
                    .flatten(),
                samples: samples.get(&path).copied().unwrap_or_default(),
                errors,
                first_error,
                achieved_rps: median(rps.remove(&path).unwrap_or_default()).unwrap_or_default(),
            }
        })
        .collect();
    Series {
        label,
        rate,
        paths,
        pacer_lag: Percentiles::of(&mut lag),
    }
}

/// Maximum throughput of non-streamed completions per path (closed loop, medians over reps),
/// and the server's CPU time per completion when its `server_pid` is given.
pub async fn throughput(
    targets: &Targets,
    plan: &Plan,
    server_pid: Option<u32>,
) -> Vec<ThroughputFigures> {
    let mut figures: Vec<ThroughputFigures> = Path::ALL
        .into_iter()
        .map(|path| ThroughputFigures {
            path,
            rps: 0.0,
            reps: Vec::new(),
            server_cpu_us: None,
            errors: 0,
            first_error: None,
        })
        .collect();
    let mut cpu: HashMap<Path, Vec<f64>> = HashMap::new();
    for rep in 0..plan.reps {
        for path in Path::rotation(rep).into_iter().filter(|&p| targets.has(p)) {
            let targets = targets.clone();
            let cpu_before = server_pid.and_then(process_cpu);
            let result = closed_loop(plan.concurrency, plan.segment, move || {
                let targets = targets.clone();
                async move { targets.unary(path).await }
            })
            .await;
            let cpu_after = server_pid.and_then(process_cpu);
            if let (Some(before), Some(after)) = (cpu_before, cpu_after)
                && path != Path::Direct
                && result.completed > 0
            {
                let per = (after.saturating_sub(before)).as_secs_f64() * 1e6;
                cpu.entry(path)
                    .or_default()
                    .push(per / result.completed as f64);
            }
            if let Some(figure) = figures.iter_mut().find(|f| f.path == path) {
                figure.reps.push(result.rps);
                figure.errors += result.errors;
                if figure.first_error.is_none() {
                    figure.first_error = result.first_error;
                }
            }
            settle().await;
        }
    }
    for figure in &mut figures {
        figure.rps = median(figure.reps.clone()).unwrap_or_default();
        figure.server_cpu_us = median(cpu.remove(&figure.path).unwrap_or_default());
    }
    figures
}

/// Per-chunk relay cost under a burst: (last chunk read − burst written by the mock) / chunks,
/// one stream at a time, medians over `burst_streams × reps` streams; overhead against direct.
/// Measured from the mock's write, not from the first chunk read, so a path that holds chunks
/// back and delivers them together is not credited for it.
pub async fn burst(targets: &Targets, plan: &Plan) -> Vec<BurstFigures> {
    let Mode::Burst { chunks } = plan.burst else {
        return Vec::new();
    };
    let mut per_chunk: HashMap<Path, Vec<f64>> = HashMap::new();
    let mut errors: HashMap<Path, (u64, Option<String>)> = HashMap::new();
    for rep in 0..plan.reps {
        for path in Path::rotation(rep).into_iter().filter(|&p| targets.has(p)) {
            for _ in 0..plan.burst_streams {
                match one_burst(targets, path, plan.burst, chunks).await {
                    Ok(us) => per_chunk.entry(path).or_default().push(us),
                    Err(error) => {
                        let entry = errors.entry(path).or_default();
                        entry.0 += 1;
                        entry.1.get_or_insert(format!("{error:#}"));
                    }
                }
            }
            settle().await;
        }
    }
    let floor = median(per_chunk.get(&Path::Direct).cloned().unwrap_or_default());
    Path::ALL
        .into_iter()
        .map(|path| {
            let value = median(per_chunk.remove(&path).unwrap_or_default());
            let (errors, first_error) = errors.remove(&path).unwrap_or_default();
            BurstFigures {
                path,
                chunks,
                per_chunk_us: value,
                overhead_us: (path != Path::Direct)
                    .then(|| Some(value? - floor?))
                    .flatten(),
                errors,
                first_error,
            }
        })
        .collect()
}

async fn one_burst(targets: &Targets, path: Path, mode: Mode, chunks: u32) -> anyhow::Result<f64> {
    let work = async {
        let mut stream = targets.open_stream(path, mode).await?;
        let first = stream.next_content().await?.context("empty burst")?;
        let written: u64 = first
            .strip_prefix('s')
            .and_then(|us| us.parse().ok())
            .with_context(|| format!("unstamped burst chunk `{first}`"))?;
        let rest = stream.drain().await?;
        let last = now_us();
        if rest + 1 != u64::from(chunks) {
            bail!("{} of {chunks} burst chunks arrived", rest + 1);
        }
        Ok(last.saturating_sub(written) as f64 / f64::from(chunks.max(1)))
    };
    tokio::time::timeout(super::load::REQUEST_TIMEOUT, work)
        .await
        .context("burst stream timed out")?
}

/// Warms every path up (`plan.warmup` requests each, 8 at a time): connection pools, the
/// server's caches, first-use allocations. Any failure here aborts the run: a path that cannot
/// answer is broken, not slow.
pub async fn warm_up(targets: &Targets, plan: &Plan, paths: &[Path]) -> anyhow::Result<()> {
    for &path in paths {
        let mut done = 0;
        while done < plan.warmup {
            let batch: Vec<_> = (0..8.min(plan.warmup - done))
                .map(|_| {
                    let targets = targets.clone();
                    tokio::spawn(async move {
                        tokio::time::timeout(super::load::REQUEST_TIMEOUT, targets.unary(path))
                            .await
                            .context("timed out")?
                    })
                })
                .collect();
            for task in batch {
                task.await
                    .context("warm-up task")?
                    .with_context(|| format!("warm-up on {}", path.name()))?;
                done += 1;
            }
        }
    }
    Ok(())
}

/// A short pause between segments so one segment's tail does not leak into the next.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

//! The combinators the conductor needs, without a runtime dependency:
//! `join` and `join_all` run the band's agents concurrently and wait for
//! every one (allSettled: one failing never cancels the others),
//! `with_deadline` gives an agent a time limit using the `Sleeper` port, and
//! a [`Signal`] lets one of them wait for a point in another.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::band::Sleeper;

/// Polls every future until all are done; outputs keep the input order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut all_done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *output = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Polls both futures until both are done.
///
/// **Order contract** (`join_polls_its_first_future_first_on_every_wake`
/// holds it): on every wake, `a` is polled before `b`, and a finished one
/// is never polled again. So whatever `a` does before its first pending
/// `.await` happens before `b` starts. The conductor's run does not rely
/// on it (see `play`): each of its scheduling devices starts with a wait —
/// for a [`Signal`], then one `yield_now`, or for a short sleep — that
/// holds whichever branch is polled first
/// (`waiting_for_a_signal_then_yielding_lets_the_raisers_work_go_first`).
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(move |cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        match (out_a.take(), out_b.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (out_a, out_b) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

/// `Ok` with `a`'s output if it finishes first, else `Err` with `b`'s (`a`
/// is then dropped, cancelling it). `a` is polled first on every wake.
pub async fn first_of<A: Future, B: Future>(a: A, b: B) -> Result<A::Output, B::Output> {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}

/// `Some(output)` if `future` finishes within `limit`, `None` otherwise
/// (the future is then dropped, cancelling it).
pub async fn with_deadline<F: Future>(
    future: F,
    limit: Duration,
    sleeper: &dyn Sleeper,
) -> Option<F::Output> {
    first_of(future, sleeper.sleep(limit)).await.ok()
}

/// A flag raised once, which futures — in this task or another — can wait
/// for: one branch of a [`join`] marks a point it has reached, another
/// waits for it; a run's halt and its end.
#[derive(Debug, Default)]
pub struct Signal {
    raised: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl Signal {
    /// Raises the flag and wakes whoever waits for it.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        let waiters =
            std::mem::take(&mut *self.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Whether the flag is up.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Waits until the flag is raised (at once if it is).
    pub async fn raised(&self) {
        std::future::poll_fn(|cx| {
            if self.is_raised() {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            // Checked again under the lock: a raise in between has either
            // seen this waker or set the flag before we look.
            if self.is_raised() {
                return Poll::Ready(());
            }
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;

    struct TokioSleeper;

    #[async_trait]
    impl Sleeper for TokioSleeper {
        async fn sleep(&self, duration: Duration) {
            tokio::time::sleep(duration).await;
        }

        async fn yield_now(&self) {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn join_all_runs_concurrently_and_keeps_order() {
        let started = tokio::time::Instant::now();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let (running, peak) = (running.clone(), peak.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    ms
                }
            })
            .collect();
        assert_eq!(join_all(jobs).await, [30, 10, 20]);
        assert_eq!(
            peak.load(Ordering::SeqCst),
            3,
            "all three were in flight at once"
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(30),
            "as long as the slowest, not the sum"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn join_waits_for_both_concurrently() {
        let started = tokio::time::Instant::now();
        let slow = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            "slow"
        };
        let fast = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            1
        };
        assert_eq!(join(slow, fast).await, ("slow", 1));
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn one_failure_does_not_sink_the_others() {
        type Job = std::pin::Pin<Box<dyn Future<Output = Result<u8, &'static str>>>>;
        let jobs: Vec<Job> = vec![
            Box::pin(async { Ok(1) }),
            Box::pin(async { Err("provider down") }),
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(3)
            }),
        ];
        assert_eq!(join_all(jobs).await, [Ok(1), Err("provider down"), Ok(3)]);
    }

    #[tokio::test]
    async fn join_polls_its_first_future_first_on_every_wake() {
        let order = Mutex::new(Vec::new());
        let step = |name: &'static str, steps: usize| {
            let order = &order;
            async move {
                for n in 0..steps {
                    order.lock().unwrap().push(format!("{name}{n}"));
                    tokio::task::yield_now().await;
                }
                order.lock().unwrap().push(format!("{name} done"));
            }
        };
        join(step("a", 2), step("b", 3)).await;
        assert_eq!(
            *order.lock().unwrap(),
            ["a0", "b0", "a1", "b1", "a done", "b2", "b done"],
            "a before b on every wake; a finished future is left alone"
        );
    }

    #[tokio::test]
    async fn a_signal_lets_one_branch_wait_for_a_point_in_another() {
        let signal = Signal::default();
        let order = Mutex::new(Vec::new());
        let waiter = async {
            signal.raised().await;
            order.lock().unwrap().push("waiter");
        };
        let raiser = async {
            order.lock().unwrap().push("before");
            tokio::task::yield_now().await;
            signal.raise();
            order.lock().unwrap().push("raised");
        };
        join(waiter, raiser).await;
        assert_eq!(*order.lock().unwrap(), ["before", "raised", "waiter"]);
        // Raised already: no wait.
        signal.raised().await;
        assert!(signal.is_raised());
    }

    /// A sleeper that keeps the port's own `yield_now`.
    struct PlainSleeper;

    #[async_trait]
    impl Sleeper for PlainSleeper {
        async fn sleep(&self, _duration: Duration) {}
    }

    #[tokio::test]
    async fn yielding_lets_the_other_branch_go_first() {
        let order = Mutex::new(Vec::new());
        let yielding = async {
            PlainSleeper.yield_now().await;
            order.lock().unwrap().push("after the yield");
        };
        let other = async {
            order.lock().unwrap().push("other");
        };
        join(yielding, other).await;
        assert_eq!(*order.lock().unwrap(), ["other", "after the yield"]);
    }

    /// The designer's pattern in the conductor's `play`: wait for a signal,
    /// then yield once. Whichever branch `join` polls first, the waiter
    /// goes on only after the raiser's turn and after a task woken in it (a
    /// connection writing the request the raiser just handed over), on the
    /// runtime the server uses (one worker here, as in the benchmark).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn waiting_for_a_signal_then_yielding_lets_the_raisers_work_go_first() {
        for waiter_first in [true, false] {
            let order = Arc::new(Mutex::new(Vec::new()));
            let played = {
                let order = order.clone();
                async move {
                    let signal = Signal::default();
                    let waiter = async {
                        signal.raised().await;
                        TokioSleeper.yield_now().await;
                        order.lock().unwrap().push("waiter");
                    };
                    let raiser = async {
                        // A turn later, as an answer arrives.
                        tokio::task::yield_now().await;
                        signal.raise();
                        let written = order.clone();
                        tokio::spawn(async move { written.lock().unwrap().push("written") });
                        order.lock().unwrap().push("handed over");
                    };
                    if waiter_first {
                        join(waiter, raiser).await;
                    } else {
                        join(raiser, waiter).await;
                    }
                }
            };
            // On the worker, as a run is played.
            tokio::spawn(played).await.unwrap();
            assert_eq!(
                *order.lock().unwrap(),
                ["handed over", "written", "waiter"],
                "waiter polled first: {waiter_first}"
            );
        }
    }

    #[tokio::test]
    async fn a_signal_wakes_a_waiter_in_another_task() {
        let signal = Arc::new(Signal::default());
        let waiting = tokio::spawn({
            let signal = signal.clone();
            async move { signal.raised().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        signal.raise();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_cut_slow_agents_only() {
        let fast = with_deadline(async { 7 }, Duration::from_millis(10), &TokioSleeper).await;
        assert_eq!(fast, Some(7));
        let slow = with_deadline(
            async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                8
            },
            Duration::from_millis(10),
            &TokioSleeper,
        )
        .await;
        assert_eq!(slow, None);
        assert!(
            join_all(Vec::<std::future::Ready<u8>>::new())
                .await
                .is_empty()
        );
    }
}

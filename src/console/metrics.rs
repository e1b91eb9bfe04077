//! The API's traffic over the last minutes: its Prometheus `/metrics` sampled every few
//! seconds, and drawn as two small inline SVG charts (requests per second, mean latency).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maud::{html, Markup};

use super::Console;

const EVERY: Duration = Duration::from_secs(5);
/// Five minutes of samples.
const KEEP: usize = 61;

/// Counter totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: f64,
    pub requests: f64,
    pub seconds_sum: f64,
    pub seconds_count: f64,
}

#[derive(Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    fn push(&self, s: Sample) {
        if let Ok(mut q) = self.0.lock() {
            // The API restarted (a switch, a crash): its counters began again.
            if q.back().is_some_and(|b| b.requests > s.requests) {
                q.clear();
            }
            if q.len() == KEEP {
                q.pop_front();
            }
            q.push_back(s);
        }
    }

    fn samples(&self) -> Vec<Sample> {
        self.0
            .lock()
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Totals over every label set of the API's request metrics, leaving out the scrapes of
/// `/metrics` itself (this sampler's own requests).
pub fn parse(text: &str, at: f64) -> Sample {
    let mut s = Sample {
        at,
        requests: 0.0,
        seconds_sum: 0.0,
        seconds_count: 0.0,
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = value.parse::<f64>() else {
            continue;
        };
        if series.contains("route=\"/metrics\"") {
            continue;
        }
        let name = series.split('{').next().unwrap_or(series);
        match name {
            "workspace_api_requests_total" => s.requests += v,
            "workspace_api_request_duration_seconds_sum" => s.seconds_sum += v,
            "workspace_api_request_duration_seconds_count" => s.seconds_count += v,
            _ => {}
        }
    }
    s
}

/// Runs for the console's lifetime.
pub async fn sample(console: Arc<Console>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build();
    let Ok(http) = http else { return };
    let started = std::time::Instant::now();
    loop {
        if let Ok(Some(state)) = console.dir.load() {
            let url = format!("http://127.0.0.1:{}/metrics", state.api_port);
            if let Ok(r) = http.get(&url).send().await {
                if let Ok(text) = r.text().await {
                    console
                        .metrics
                        .push(parse(&text, started.elapsed().as_secs_f64()));
                }
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Per interval between samples: (requests per second, mean latency in ms).
pub fn rates(samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].at - w[0].at).max(0.001);
            let n = w[1].seconds_count - w[0].seconds_count;
            let latency = if n > 0.0 {
                (w[1].seconds_sum - w[0].seconds_sum) / n * 1000.0
            } else {
                0.0
            };
            ((w[1].requests - w[0].requests) / dt, latency)
        })
        .collect()
}

fn chart(title: &str, unit: &str, values: &[f64]) -> Markup {
    let (w, h) = (300.0, 60.0);
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let top = if max > 0.0 { max } else { 1.0 };
    let step = w / (KEEP as f64 - 2.0);
    let x0 = w - step * (values.len() as f64 - 1.0).max(0.0);
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x0 + i as f64 * step, h - v / top * (h - 4.0)))
        .collect();
    let last = values.last().copied().unwrap_or(0.0);
    html! {
        figure.chart {
            figcaption { (title) ": " strong { (format!("{last:.1} {unit}")) } " (max " (format!("{max:.1}")) ")" }
            svg width="300" height="60" viewBox="0 0 300 60" role="img" aria-label=(title) {
                rect x="0" y="0" width="300" height="60" class="chart-bg" {}
                @if points.len() > 1 {
                    polyline points=(points.join(" ")) class="chart-line" {}
                } @else {
                    text x="150" y="34" text-anchor="middle" class="chart-empty" { "collecting samples…" }
                }
            }
        }
    }
}

/// The overview's two charts.
pub fn charts(console: &Console) -> Markup {
    let r = rates(&console.metrics.samples());
    let rate: Vec<f64> = r.iter().map(|x| x.0).collect();
    let latency: Vec<f64> = r.iter().map(|x| x.1).collect();
    html! {
        div.charts {
            (chart("API requests", "req/s", &rate))
            (chart("mean latency", "ms", &latency))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_leave_out_the_scrapes() {
        let text = "# HELP x\n\
            workspace_api_requests_total{method=\"GET\",route=\"/api/items\",status=\"200\"} 10\n\
            workspace_api_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"} 99\n\
            workspace_api_request_duration_seconds_sum{method=\"GET\",route=\"/api/items\",status=\"200\"} 0.5\n\
            workspace_api_request_duration_seconds_count{method=\"GET\",route=\"/api/items\",status=\"200\"} 10\n";
        let s = parse(text, 0.0);
        assert_eq!(
            (s.requests, s.seconds_sum, s.seconds_count),
            (10.0, 0.5, 10.0)
        );
        let later = Sample {
            at: 5.0,
            requests: 20.0,
            seconds_sum: 1.5,
            seconds_count: 20.0,
        };
        assert_eq!(rates(&[s, later]), vec![(2.0, 100.0)]);
    }
}

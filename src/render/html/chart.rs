//! Charts as server-rendered SVG: the geometry of the dashboard's verdicts-per-day bars and its
//! requirement-coverage bars, computed here (pure, testable) and drawn by the template as
//! `<rect>`s with classes, so they read without JavaScript and print. Every shape carries a
//! `<title>` with its numbers, for screen readers and for a reader who hovers.

/// A rectangle of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
    /// Its CSS class (`pass`, `fail`, `pending`, `track`, `covered`).
    pub class: &'static str,
    /// Its tooltip and accessible name.
    pub title: String,
}

/// A text of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Left edge.
    pub x: u32,
    /// Baseline.
    pub y: u32,
    /// The text (escaped by the template).
    pub text: String,
}

/// A tick of the value axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// Baseline of its label.
    pub y: u32,
    /// Its value.
    pub label: String,
}

/// A drawn chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// The view box's width.
    pub width: u32,
    /// The view box's height.
    pub height: u32,
    /// Where the plot starts (right of the value labels).
    pub left: u32,
    /// The plot's baseline.
    pub base: u32,
    /// How many days a time chart spans.
    pub days: u32,
    /// Its rectangles.
    pub rects: Vec<Rect>,
    /// Its texts.
    pub labels: Vec<Label>,
    /// Value-axis ticks.
    pub ticks: Vec<Tick>,
}

/// One day's evaluations by verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayVerdicts {
    /// Passing evaluations.
    pub pass: u64,
    /// Pending evaluations.
    pub pending: u64,
    /// Failing evaluations.
    pub fail: u64,
}

const PLOT_HEIGHT: u32 = 160;
const TOP: u32 = 10;
const LEFT: u32 = 40;
const BAR_STEP: u32 = 22;

/// Stacked bars, one per day (oldest first), `dates[i]` naming day `i` (`MM-DD`); bars are
/// scaled to the busiest day, and a day with one evaluation still shows (at least 1 unit).
pub fn verdicts_per_day(days: &[DayVerdicts], dates: &[String]) -> Chart {
    let max = days
        .iter()
        .map(|d| d.pass + d.pending + d.fail)
        .max()
        .unwrap_or(0)
        .max(1);
    let base = TOP + PLOT_HEIGHT;
    let mut chart = Chart {
        width: LEFT + BAR_STEP * u32::try_from(days.len()).unwrap_or(u32::MAX / BAR_STEP / 2),
        height: base + 30,
        left: LEFT,
        base,
        days: u32::try_from(days.len()).unwrap_or(u32::MAX),
        ..Chart::default()
    };
    chart.ticks = vec![
        Tick {
            y: TOP + 10,
            label: max.to_string(),
        },
        Tick {
            y: base,
            label: "0".into(),
        },
    ];
    for (i, day) in days.iter().enumerate() {
        let x = LEFT + BAR_STEP * u32::try_from(i).unwrap_or(0) + 3;
        let date = dates.get(i).map(String::as_str).unwrap_or_default();
        let mut top = base;
        for (class, count) in [
            ("pass", day.pass),
            ("pending", day.pending),
            ("fail", day.fail),
        ] {
            if count == 0 {
                continue;
            }
            let h = scale(count, max, PLOT_HEIGHT).max(1);
            top = top.saturating_sub(h);
            chart.rects.push(Rect {
                x,
                y: top,
                w: BAR_STEP - 6,
                h,
                class,
                title: format!("{date}: {count} {class}"),
            });
        }
        // A label a week, and the last day's unless it would run into the one before.
        if i % 7 == 0 || (i + 1 == days.len() && i % 7 >= 3) {
            chart.labels.push(Label {
                x,
                y: base + 16,
                text: date.to_owned(),
            });
        }
    }
    chart
}

/// One requirement's coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageBar {
    /// The requirement id (`SR-2`).
    pub id: String,
    /// Changes with evidence.
    pub covered: u64,
    /// Changes the gates applied to.
    pub applicable: u64,
}

const ROW: u32 = 20;
const LABEL_WIDTH: u32 = 70;
const BAR_WIDTH: u32 = 400;

/// One horizontal bar per requirement: the track is the changes its gates applied to, the
/// filled part those with evidence; a requirement no change applied to shows an empty track
/// and says so.
pub fn coverage(bars: &[CoverageBar]) -> Chart {
    let rows = u32::try_from(bars.len()).unwrap_or(0);
    let mut chart = Chart {
        width: LABEL_WIDTH + BAR_WIDTH + 120,
        height: ROW * rows.max(1) + 4,
        left: LABEL_WIDTH,
        base: ROW * rows,
        ..Chart::default()
    };
    for (i, bar) in bars.iter().enumerate() {
        let y = ROW * u32::try_from(i).unwrap_or(0) + 2;
        chart.labels.push(Label {
            x: 0,
            y: y + 13,
            text: bar.id.clone(),
        });
        let title = if bar.applicable == 0 {
            format!("{}: no merged change in range needed it", bar.id)
        } else {
            format!(
                "{}: evidence for {} of {} change(s)",
                bar.id, bar.covered, bar.applicable
            )
        };
        chart.rects.push(Rect {
            x: LABEL_WIDTH,
            y,
            w: BAR_WIDTH,
            h: ROW - 6,
            class: "track",
            title: title.clone(),
        });
        if bar.applicable > 0 && bar.covered > 0 {
            chart.rects.push(Rect {
                x: LABEL_WIDTH,
                y,
                w: scale(bar.covered.min(bar.applicable), bar.applicable, BAR_WIDTH).max(1),
                h: ROW - 6,
                class: "covered",
                title,
            });
        }
        chart.labels.push(Label {
            x: LABEL_WIDTH + BAR_WIDTH + 8,
            y: y + 13,
            text: if bar.applicable == 0 {
                "not needed".into()
            } else {
                format!("{}/{}", bar.covered, bar.applicable)
            },
        });
    }
    chart
}

/// `value / max` of `span`, rounded down; `max` is never 0 here.
fn scale(value: u64, max: u64, span: u32) -> u32 {
    let scaled = u128::from(value) * u128::from(span) / u128::from(max.max(1));
    u32::try_from(scaled).unwrap_or(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("12-{:02}", i + 1)).collect()
    }

    #[test]
    fn bars_are_scaled_to_the_busiest_day_and_stack_in_verdict_order() {
        let days = [
            DayVerdicts {
                pass: 10,
                pending: 0,
                fail: 10,
            },
            DayVerdicts {
                pass: 5,
                pending: 0,
                fail: 0,
            },
            DayVerdicts::default(),
        ];
        let c = verdicts_per_day(&days, &dates(3));
        assert_eq!(c.days, 3);
        let day1: Vec<_> = c
            .rects
            .iter()
            .filter(|r| r.title.starts_with("12-01"))
            .collect();
        assert_eq!(day1.len(), 2);
        assert_eq!(day1[0].class, "pass");
        assert_eq!(
            day1[0].h + day1[1].h,
            PLOT_HEIGHT,
            "the busiest day fills the plot"
        );
        assert!(day1[1].y < day1[0].y, "fail is stacked above pass");
        let day2: Vec<_> = c
            .rects
            .iter()
            .filter(|r| r.title.starts_with("12-02"))
            .collect();
        assert_eq!(day2.len(), 1);
        assert_eq!(day2[0].h, PLOT_HEIGHT / 4);
        assert_eq!(day2[0].title, "12-02: 5 pass");
        assert!(
            c.rects.iter().all(|r| !r.title.starts_with("12-03")),
            "an empty day draws nothing"
        );
        assert_eq!(c.ticks[0].label, "20");
    }

    #[test]
    fn a_single_evaluation_among_thousands_is_still_visible() {
        let days = [
            DayVerdicts {
                pass: 5_000,
                pending: 0,
                fail: 0,
            },
            DayVerdicts {
                pass: 0,
                pending: 0,
                fail: 1,
            },
        ];
        let c = verdicts_per_day(&days, &dates(2));
        let fail = c.rects.iter().find(|r| r.class == "fail").expect("drawn");
        assert_eq!(fail.h, 1);
    }

    #[test]
    fn coverage_fills_the_covered_share_and_names_requirements_nothing_needed() {
        let c = coverage(&[
            CoverageBar {
                id: "SR-2".into(),
                covered: 3,
                applicable: 4,
            },
            CoverageBar {
                id: "SVV-3".into(),
                covered: 0,
                applicable: 0,
            },
        ]);
        let filled: Vec<_> = c.rects.iter().filter(|r| r.class == "covered").collect();
        assert_eq!(filled.len(), 1, "no fill without evidence");
        assert_eq!(filled[0].w, BAR_WIDTH * 3 / 4);
        assert!(c.labels.iter().any(|l| l.text == "3/4"));
        assert!(c.labels.iter().any(|l| l.text == "not needed"));
    }
}

//! Layout and drawing of a [`Diagram`] as a self-contained SVG, and the HTML
//! page embedding it.
//!
//! All text is monospace, so a label's width is known without a font engine:
//! the columns between lifelines are made wide enough for the longest label
//! they carry, and labels longer than [`MAX_LABEL_CHARS`] are cut in the
//! middle (the full text stays in a tooltip). The diagram grows downwards, one
//! row per arrow; a long run is a tall picture that scrolls.
//!
//! [`layout`] computes every position first; the drawing only follows it,
//! so tests can find each arrow and lifeline in a rendered picture.

use super::{Diagram, GroupKind};
use crate::run::report::xml_escape;
use std::fmt::Write as _;

/// Font size of labels, px.
pub const FONT: f64 = 13.0;
/// Advance of one monospace character at [`FONT`] (DejaVu Sans Mono and
/// Liberation Mono advance 0.6 em), with a little slack.
pub const CHAR_W: f64 = 7.9;
/// Longest label drawn whole.
pub const MAX_LABEL_CHARS: usize = 84;
/// Longest group label or note line drawn whole.
const MAX_LINE_CHARS: usize = 150;

const MARGIN: f64 = 20.0;
const TITLE_H: f64 = 36.0;
const HEAD_H: f64 = 44.0;
const ROW: f64 = 26.0;
const LABEL_H: f64 = 26.0;
const NOTE_H: f64 = 18.0;
const GROUP_GAP: f64 = 12.0;
/// Room between a label and the lifelines around it.
const LABEL_PAD: f64 = 36.0;

const INK: &str = "#1b2733";
const REPLY: &str = "#4f6378";
const RED: &str = "#c62828";
const LIFELINE: &str = "#8a96a3";

/// Where one arrow was drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrowPos {
    /// Its y (the line).
    pub y: f64,
    /// Start x (a lifeline).
    pub x_from: f64,
    /// End x (a lifeline; the arrowhead).
    pub x_to: f64,
    /// Drawn dashed.
    pub reply: bool,
    /// Drawn in red.
    pub error: bool,
    /// The label as drawn (possibly cut).
    pub label: String,
}

/// Where one group's band was drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPos {
    /// Top of the band.
    pub top: f64,
    /// Bottom of the band.
    pub bottom: f64,
    /// Baseline of its label.
    pub label_y: f64,
}

/// Every position of a drawn diagram, in SVG user units (CSS px).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Width of the picture.
    pub width: f64,
    /// Height of the picture.
    pub height: f64,
    /// x of each lifeline, by participant.
    pub lifelines: Vec<f64>,
    /// Width of each participant's box.
    pub boxes: Vec<f64>,
    /// Lifelines run from here…
    pub lifeline_top: f64,
    /// …to here.
    pub lifeline_bottom: f64,
    /// Group bands, in order.
    pub groups: Vec<GroupPos>,
    /// Arrows, in order (group by group).
    pub arrows: Vec<ArrowPos>,
}

/// Width of `chars` monospace characters.
fn text_w(chars: usize) -> f64 {
    chars as f64 * CHAR_W
}

/// `text` cut to at most `max` characters, keeping its start and end.
pub fn cut_middle(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_owned();
    }
    let head = (max - 1) * 2 / 3;
    let tail = max - 1 - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// Splits `text` into lines of at most `max` characters at spaces.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.into_iter().map(|l| cut_middle(&l, max)).collect()
}

/// Computes where everything goes.
pub fn layout(d: &Diagram) -> Layout {
    let n = d.participants.len();
    let boxes: Vec<f64> = d
        .participants
        .iter()
        .map(|p| (text_w(p.name.chars().count().max(p.role.chars().count())) + 24.0).max(110.0))
        .collect();
    // Gaps between neighbouring lifelines: room for the boxes, then for
    // every label, narrowest spans first so wide spans only add what is missing.
    let mut gaps: Vec<f64> = (1..n)
        .map(|i| boxes[i - 1] / 2.0 + boxes[i] / 2.0 + 30.0)
        .collect();
    let mut spans: Vec<(usize, usize, usize)> = d
        .groups
        .iter()
        .flat_map(|g| &g.messages)
        .filter(|m| m.from != m.to)
        .map(|m| {
            let chars = m.text.chars().count().min(MAX_LABEL_CHARS);
            (m.from.min(m.to), m.from.max(m.to), chars)
        })
        .collect();
    spans.sort_by_key(|&(lo, hi, _)| hi - lo);
    for (lo, hi, chars) in spans {
        let need = text_w(chars) + LABEL_PAD;
        let have: f64 = gaps[lo..hi].iter().sum();
        if have < need {
            gaps[hi - 1] += need - have;
        }
    }
    let mut lifelines = Vec::with_capacity(n);
    let mut x = MARGIN + boxes.first().copied().unwrap_or(0.0) / 2.0;
    for i in 0..n {
        if i > 0 {
            x += gaps[i - 1];
        }
        lifelines.push(x);
    }
    let mut width = lifelines.last().copied().unwrap_or(0.0)
        + boxes.last().copied().unwrap_or(0.0) / 2.0
        + MARGIN;
    let widest_line = d
        .groups
        .iter()
        .map(|g| g.label.chars().count() + 2)
        .chain(std::iter::once(d.title.chars().count()))
        .max()
        .unwrap_or(0)
        .min(MAX_LINE_CHARS);
    width = width.max(text_w(widest_line) + 2.0 * MARGIN + 24.0);
    let line_chars = line_chars(width);

    let mut y = MARGIN + TITLE_H;
    let lifeline_top = y + HEAD_H;
    y += HEAD_H + 14.0;
    let mut groups = Vec::new();
    let mut arrows = Vec::new();
    for g in &d.groups {
        let top = y;
        let label_y = y + 18.0;
        y += LABEL_H;
        if let Some(note) = &g.note {
            y += NOTE_H * wrap(note, line_chars).len() as f64;
        }
        y += 4.0;
        for m in &g.messages {
            y += ROW;
            arrows.push(ArrowPos {
                y,
                x_from: lifelines[m.from],
                x_to: lifelines[m.to],
                reply: m.reply,
                error: m.error,
                label: cut_middle(&m.text, MAX_LABEL_CHARS),
            });
        }
        if g.error.is_some() {
            y += NOTE_H + 4.0;
        }
        y += NOTE_H * g.failures.len() as f64;
        y += 10.0;
        groups.push(GroupPos {
            top,
            bottom: y,
            label_y,
        });
        y += GROUP_GAP;
    }
    let lifeline_bottom = y + 4.0;
    let height = lifeline_bottom + HEAD_H + MARGIN;
    Layout {
        width: width.ceil(),
        height: height.ceil(),
        lifelines,
        boxes,
        lifeline_top,
        lifeline_bottom,
        groups,
        arrows,
    }
}

/// Characters of a group's text line in a picture `width` wide.
fn line_chars(width: f64) -> usize {
    (((width - 2.0 * MARGIN - 24.0) / CHAR_W) as usize).clamp(20, MAX_LINE_CHARS)
}

/// A `<text>`, with a tooltip holding `full` when the shown text was cut.
fn text(out: &mut String, x: f64, y: f64, attrs: &str, shown: &str, full: &str) {
    let title = if shown == full {
        String::new()
    } else {
        format!("<title>{}</title>", xml_escape(full))
    };
    let _ = writeln!(
        out,
        r#"<text x="{x:.1}" y="{y:.1}" {attrs}>{title}{}</text>"#,
        xml_escape(shown)
    );
}

fn participant_box(out: &mut String, d: &Diagram, l: &Layout, i: usize, top: f64) {
    let p = &d.participants[i];
    let (fill, stroke) = match i {
        super::CLI => ("#e8eef6", "#6b7f99"),
        super::ENGINE => ("#dfe9fb", "#3d6cc0"),
        _ => ("#e6f4ea", "#3c8c57"),
    };
    let w = l.boxes[i];
    let x = l.lifelines[i] - w / 2.0;
    let _ = writeln!(
        out,
        r#"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{HEAD_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#
    );
    let cx = l.lifelines[i];
    text(
        out,
        cx,
        top + 19.0,
        r#"text-anchor="middle" font-weight="bold""#,
        &p.name,
        &p.name,
    );
    text(
        out,
        cx,
        top + 35.0,
        r##"text-anchor="middle" font-size="11" fill="#4a5a6a""##,
        &p.role,
        &p.role,
    );
}

/// The SVG elements of one diagram (no `<svg>` wrapper), and its layout.
fn body(d: &Diagram) -> (String, Layout) {
    let l = layout(d);
    let line_chars = line_chars(l.width);
    let mut out = String::new();
    let title = cut_middle(&d.title, MAX_LINE_CHARS);
    text(
        &mut out,
        MARGIN,
        MARGIN + 18.0,
        r#"font-size="16" font-weight="bold""#,
        &title,
        &d.title,
    );
    // Bands first, so lifelines and arrows are drawn over them.
    for (g, pos) in d.groups.iter().zip(&l.groups) {
        let (fill, stroke) = band_colours(g.kind);
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="4" fill="{fill}" stroke="{stroke}"/>"#,
            MARGIN / 2.0,
            pos.top,
            l.width - MARGIN,
            pos.bottom - pos.top
        );
    }
    for &x in &l.lifelines {
        let _ = writeln!(
            out,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{LIFELINE}" stroke-width="1.5" stroke-dasharray="5 4"/>"#,
            l.lifeline_top, l.lifeline_bottom
        );
    }
    for i in 0..d.participants.len() {
        participant_box(&mut out, d, &l, i, MARGIN + TITLE_H);
        participant_box(&mut out, d, &l, i, l.lifeline_bottom);
    }
    let mut arrows = l.arrows.iter();
    for (g, pos) in d.groups.iter().zip(&l.groups) {
        // The group's heading covers the lifelines, as a note does.
        let (fill, _) = band_colours(g.kind);
        let notes = g.note.as_ref().map_or(0, |n| wrap(n, line_chars).len());
        let _ = writeln!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            MARGIN / 2.0 + 1.0,
            pos.top + 1.0,
            l.width - MARGIN - 2.0,
            LABEL_H + NOTE_H * notes as f64 - 2.0
        );
        let x = MARGIN;
        let (label, attrs) = match g.kind {
            GroupKind::Command => (
                format!("$ {}", g.label),
                r##"font-weight="bold" fill="#0d1b2a""##,
            ),
            GroupKind::Directive => (g.label.clone(), r##"font-weight="bold" fill="#7a5c00""##),
        };
        text(
            &mut out,
            x,
            pos.label_y,
            attrs,
            &cut_middle(&label, line_chars),
            &label,
        );
        let mut y = pos.top + LABEL_H;
        if let Some(note) = &g.note {
            for line in wrap(note, line_chars) {
                y += NOTE_H;
                text(
                    &mut out,
                    x,
                    y - 5.0,
                    r##"font-style="italic" fill="#4a5a6a""##,
                    &line,
                    &line,
                );
            }
        }
        let mut last_y = y + 4.0;
        for _ in &g.messages {
            let a = arrows.next().expect("one position per message");
            arrow(&mut out, a);
            last_y = a.y;
        }
        let mut y = last_y;
        if let Some(e) = &g.error {
            y += NOTE_H + 4.0;
            let line = format!("✗ Error response from daemon: {e}");
            text(
                &mut out,
                x,
                y - 4.0,
                &format!(r#"fill="{RED}""#),
                &cut_middle(&line, line_chars),
                &line,
            );
        }
        for f in &g.failures {
            y += NOTE_H;
            let line = format!("expectation failed: {f}");
            text(
                &mut out,
                x,
                y - 4.0,
                &format!(r#"fill="{RED}" font-weight="bold""#),
                &cut_middle(&line, line_chars),
                &line,
            );
        }
    }
    (out, l)
}

/// Fill and border of a group's band.
fn band_colours(kind: GroupKind) -> (&'static str, &'static str) {
    match kind {
        GroupKind::Command => ("#f3f6fb", "#c5d1e3"),
        GroupKind::Directive => ("#fbf6ea", "#e0cf9f"),
    }
}

fn arrow(out: &mut String, a: &ArrowPos) {
    let color = if a.error {
        RED
    } else if a.reply {
        REPLY
    } else {
        INK
    };
    let dir = if a.x_to > a.x_from { 1.0 } else { -1.0 };
    let tip = a.x_to - dir * 2.0;
    let dash = if a.reply {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = writeln!(
        out,
        r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="1.6"{dash}/>"#,
        a.x_from + dir * 2.0,
        tip - dir * 8.0,
        y = a.y
    );
    let _ = writeln!(
        out,
        r#"<polygon points="{tip:.1},{y:.1} {bx:.1},{top:.1} {bx:.1},{bot:.1}" fill="{color}"/>"#,
        bx = tip - dir * 10.0,
        y = a.y,
        top = a.y - 4.5,
        bot = a.y + 4.5
    );
    // The label sits above the middle of the arrow, on a light patch so
    // lifelines it crosses do not strike through it.
    let cx = (a.x_from + a.x_to) / 2.0;
    let w = text_w(a.label.chars().count());
    let _ = writeln!(
        out,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="15" fill="#ffffff" fill-opacity="0.85"/>"##,
        cx - w / 2.0 - 3.0,
        a.y - 19.0,
        w + 6.0
    );
    let fill = if a.error { RED } else { INK };
    let _ = writeln!(
        out,
        r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="{fill}">{}</text>"#,
        a.y - 7.0,
        xml_escape(&a.label)
    );
}

const SVG_STYLE: &str = "font-family: 'DejaVu Sans Mono', 'Liberation Mono', Menlo, Consolas, monospace; font-size: 13px;";

/// Several diagrams stacked in one SVG document, with each one's layout
/// (y positions already offset to where it was drawn).
pub fn render_all(diagrams: &[Diagram]) -> (String, Vec<Layout>) {
    let mut inner = String::new();
    let mut layouts = Vec::new();
    let mut top = 0.0;
    let mut width: f64 = 0.0;
    for d in diagrams {
        let (svg, mut l) = body(d);
        let _ = writeln!(inner, r#"<g transform="translate(0 {top:.1})">"#);
        inner.push_str(&svg);
        inner.push_str("</g>\n");
        width = width.max(l.width);
        for a in &mut l.arrows {
            a.y += top;
        }
        for g in &mut l.groups {
            g.top += top;
            g.bottom += top;
            g.label_y += top;
        }
        l.lifeline_top += top;
        l.lifeline_bottom += top;
        top += l.height;
        layouts.push(l);
    }
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" style="{SVG_STYLE}">
<rect width="100%" height="100%" fill="#ffffff"/>
{inner}</svg>
"##,
        w = width.ceil(),
        h = top.ceil()
    );
    (svg, layouts)
}

/// One diagram as an SVG document, and its layout.
pub fn render(d: &Diagram) -> (String, Layout) {
    let (svg, mut layouts) = render_all(std::slice::from_ref(d));
    (svg, layouts.remove(0))
}

/// Height of the title and the participants' boxes at the top of a diagram.
const HEADING_H: f64 = MARGIN + TITLE_H + HEAD_H + 8.0;

/// A page embedding the SVG of `diagrams`, with a legend. Each run's title
/// and participants stay at the top of the window while its diagram
/// scrolls by (a sticky strip showing the top of the same drawing).
pub fn html(diagrams: &[Diagram]) -> String {
    let title = diagrams
        .iter()
        .map(|d| d.title.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut sections = String::new();
    for (i, d) in diagrams.iter().enumerate() {
        let (inner, l) = body(d);
        let _ = write!(
            sections,
            r##"<section>
<div class="head"><svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{hh}" viewBox="0 0 {w} {hh}" style="{SVG_STYLE}"><rect width="100%" height="100%" fill="#ffffff"/><use href="#run{i}"/></svg></div>
<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" style="{SVG_STYLE} margin-top: -{hh}px;">
<rect width="100%" height="100%" fill="#ffffff"/>
<g id="run{i}">
{inner}</g>
</svg>
</section>
"##,
            w = l.width,
            h = l.height,
            hh = HEADING_H,
        );
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>drydock: {title}</title>
<style>
body {{ margin: 16px; font-family: sans-serif; color: #1b2733; background: #ffffff; }}
h1 {{ font-size: 20px; margin: 0 0 6px; }}
p.legend {{ font-size: 14px; margin: 0 0 12px; max-width: 70em; }}
section {{ margin-bottom: 24px; }}
section svg {{ display: block; }}
.head {{ position: sticky; top: 0; z-index: 1; }}
</style>
</head>
<body>
<h1>drydock: {title}</h1>
<p class="legend">Each band is one docker command: the CLI's API requests to dockerd, the plugin calls
they caused and the replies. Solid arrows are requests, dashed ones replies; red marks errors and
authz denials. Plugin replies end with the call's latency.</p>
{sections}</body>
</html>
"#,
        title = xml_escape(&title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::{Group, Message, Participant};

    fn diagram(messages: Vec<Message>) -> Diagram {
        let p = |n: &str| Participant {
            name: n.into(),
            role: "r".into(),
        };
        Diagram {
            title: "t".into(),
            participants: vec![p("docker CLI"), p("dockerd"), p("a"), p("b")],
            groups: vec![Group {
                kind: GroupKind::Command,
                label: "docker volume create x".into(),
                note: Some("why ".repeat(100)),
                messages,
                error: Some("boom".into()),
                failures: vec![],
            }],
        }
    }

    fn msg(from: usize, to: usize, text: &str) -> Message {
        Message {
            from,
            to,
            text: text.into(),
            reply: false,
            error: false,
        }
    }

    #[test]
    fn columns_are_wide_enough_for_their_labels() {
        let long = "x".repeat(60);
        let d = diagram(vec![
            msg(0, 1, "GET /v1.41/volumes"),
            msg(1, 3, &long),
            msg(3, 1, "ok"),
        ]);
        let l = layout(&d);
        let span = l.lifelines[3] - l.lifelines[1];
        assert!(span >= text_w(60) + LABEL_PAD - 0.01, "{span}");
        // Lifelines go left to right, and every box is inside the picture.
        assert!(l.lifelines.windows(2).all(|w| w[0] < w[1]));
        assert!(l.lifelines[0] - l.boxes[0] / 2.0 >= 0.0);
        assert!(l.lifelines[3] + l.boxes[3] / 2.0 <= l.width);
    }

    #[test]
    fn labels_and_rows_do_not_overlap() {
        let d = diagram(vec![
            msg(0, 1, "POST /v1.41/volumes/create"),
            msg(1, 2, "VolumeDriver.Create x"),
            msg(2, 1, "ok"),
            msg(1, 0, "201"),
        ]);
        let l = layout(&d);
        // Rows are a full row apart: a label (15 px high above its arrow)
        // never reaches the arrow before it.
        for w in l.arrows.windows(2) {
            assert!(w[1].y - w[0].y >= ROW);
        }
        // The first arrow's label is below the wrapped note.
        let g = &l.groups[0];
        let note_lines = wrap(d.groups[0].note.as_deref().unwrap(), line_chars(l.width)).len();
        assert!(l.arrows[0].y - 19.0 >= g.top + LABEL_H + NOTE_H * note_lines as f64);
        // The error line and the band's end come after the last arrow.
        assert!(g.bottom >= l.arrows[3].y + NOTE_H);
        assert!(l.lifeline_bottom > g.bottom && l.height > l.lifeline_bottom + HEAD_H);
    }

    #[test]
    fn long_labels_are_cut_in_the_middle() {
        let s = format!("VolumeDriver.Mount {} · 3 ms", "p/".repeat(100));
        let cut = cut_middle(&s, MAX_LABEL_CHARS);
        assert_eq!(cut.chars().count(), MAX_LABEL_CHARS);
        assert!(cut.starts_with("VolumeDriver.Mount p/"));
        assert!(cut.ends_with("· 3 ms"));
        assert_eq!(cut_middle("short", 10), "short");
    }

    #[test]
    fn notes_wrap_at_spaces() {
        let lines = wrap("aaa bbb ccc ddd", 7);
        assert_eq!(lines, ["aaa bbb", "ccc ddd"]);
    }

    #[test]
    fn user_text_is_escaped() {
        let mut d = diagram(vec![msg(1, 2, "VolumeDriver.Create <a&b>\"'")]);
        d.participants[2].name = "<script>alert(1)</script>".into();
        d.groups[0].label = "docker volume create ]]><x>".into();
        d.title = "a&b".into();
        let (svg, _) = render(&d);
        assert!(svg.contains("VolumeDriver.Create &lt;a&amp;b&gt;&quot;&apos;"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("]]&gt;&lt;x&gt;"));
        assert!(!svg.contains("<script>") && !svg.contains("<x>"));
        let page = html(std::slice::from_ref(&d));
        assert!(page.contains("<title>drydock: a&amp;b</title>"));
        assert!(!page.contains("<script>"));
    }
}

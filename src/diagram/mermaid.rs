//! A [`Diagram`] as Mermaid `sequenceDiagram` text (`.mmd`), for Markdown
//! renderers that draw Mermaid (GitHub, GitLab, mdBook plugins…).
//!
//! Each group is a shaded `rect` headed by a note with the command; replies
//! that failed end in a cross (`--x`). Participants get short aliases
//! (`cli`, `engine`, `p1`…) so their names may contain anything.

use super::{Diagram, GroupKind, CLI, ENGINE};
use std::fmt::Write as _;

/// Characters of a narration line before it is broken.
const NOTE_WIDTH: usize = 90;

/// Makes text safe after a `:` or `as` in Mermaid: `#`, `;` and the HTML
/// specials become Mermaid entity codes (`#35;` …), line breaks spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '"' => out.push_str("#quot;"),
            '%' => out.push_str("#37;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn alias(i: usize) -> String {
    match i {
        CLI => "cli".into(),
        ENGINE => "engine".into(),
        i => format!("p{}", i - ENGINE),
    }
}

/// The Mermaid text of `d`.
pub fn render(d: &Diagram) -> String {
    let mut out = String::new();
    // Front matter is YAML: quoted, with `"` already an entity.
    let _ = writeln!(out, "---\ntitle: \"{}\"\n---", escape(&d.title));
    out.push_str("sequenceDiagram\n");
    for (i, p) in d.participants.iter().enumerate() {
        let _ = writeln!(
            out,
            "    participant {} as {}<br/>({})",
            alias(i),
            escape(&p.name),
            escape(&p.role)
        );
    }
    let first = alias(0);
    let last = alias(d.participants.len().saturating_sub(1).max(ENGINE));
    for g in &d.groups {
        let (shade, label) = match g.kind {
            GroupKind::Command => ("rgb(236, 242, 250)", format!("$ {}", g.label)),
            GroupKind::Directive => ("rgb(250, 244, 228)", g.label.clone()),
        };
        let _ = writeln!(out, "    rect {shade}");
        let _ = writeln!(out, "    Note over {first},{last}: {}", escape(&label));
        if let Some(note) = &g.note {
            let lines: Vec<String> = super::svg::wrap(note, NOTE_WIDTH)
                .iter()
                .map(|l| escape(l))
                .collect();
            let _ = writeln!(out, "    Note over {first},{last}: {}", lines.join("<br/>"));
        }
        for m in &g.messages {
            let arrow = match (m.reply, m.error) {
                (false, _) => "->>",
                (true, false) => "-->>",
                (true, true) => "--x",
            };
            let _ = writeln!(
                out,
                "    {}{arrow}{}: {}",
                alias(m.from),
                alias(m.to),
                escape(&m.text)
            );
        }
        if let Some(e) = &g.error {
            let _ = writeln!(
                out,
                "    Note over {first},{}: ✗ Error response from daemon: {}",
                alias(ENGINE),
                escape(e)
            );
        }
        for f in &g.failures {
            let _ = writeln!(
                out,
                "    Note over {first},{last}: expectation failed: {}",
                escape(f)
            );
        }
        out.push_str("    end\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn statement_and_markup_characters_are_entities() {
        assert_eq!(escape("a;b#c"), "a#59;b#35;c");
        assert_eq!(escape("<br/>&"), "#lt;br/#gt;#amp;");
        assert_eq!(escape("line\nbreak"), "line break");
        assert_eq!(escape("%%{init}"), "#37;#37;#123;init#125;");
        assert_eq!(escape("VolumeDriver.Mount data"), "VolumeDriver.Mount data");
    }
}

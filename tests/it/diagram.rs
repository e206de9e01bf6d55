//! Sequence diagrams (`--diagram`): the Mermaid text of a small run is pinned,
//! and the SVG and HTML of a real run are rendered in headless Chromium and
//! the screenshot is checked — arrows and lifelines by their pixels at the
//! positions the layout gave them, labels by OCR (tesseract).
//!
//! The browser test needs Debian's `chromium` and `tesseract-ocr`; without
//! them it is skipped with one line saying so, unless `DRYDOCK_REQUIRE_ALL=1`
//! (set by `.ci/run`, which installs them) makes it fail instead.

use drydock::diagram::{self, svg, Diagram};
use drydock::run::launch::TransportKind;
use drydock::run::{run_scenario, RunOptions, ScenarioReport};
use drydock_engine::scenario::parse;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// A volume's whole lifecycle, with a refusal in the middle.
const LIFECYCLE: &str = "\
# A volume's lifecycle.
#@ plugin dryvol volume
## Creating a volume: dockerd activates the plugin, then asks Get before Create.
docker volume create -d dryvol data
docker run -d --name web -v data:/srv bb:latest sleep 60
## Removing a volume in use is refused by dockerd itself.
docker volume rm data
#> error \"remove data: volume is in use - [$web]\"
docker stop web
docker rm web
docker volume rm data
";

async fn run(source: &str, transport: TransportKind) -> ScenarioReport {
    let scenario = parse(PathBuf::from("lifecycle.scenario"), source.as_bytes()).unwrap();
    let opts = RunOptions {
        transport,
        ..Default::default()
    };
    let report = run_scenario(&scenario, &opts).await;
    assert!(report.passed(), "{:?}", report.failures);
    report
}

fn narrated(report: &ScenarioReport, source: &str) -> Diagram {
    diagram::from_report(report, &drydock::cli::demo::narration(source))
}

#[tokio::test]
async fn mermaid_of_a_volume_lifecycle_is_pinned() {
    let mut report = run(LIFECYCLE, TransportKind::InProcess).await;
    for step in &mut report.steps {
        for call in &mut step.calls {
            call.micros = 0;
        }
    }
    let text = diagram::mermaid::render(&narrated(&report, LIFECYCLE));
    let tmp = regex::Regex::new(r"/tmp/drydock-run-[A-Za-z0-9]+").unwrap();
    insta::with_settings!({prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("diagram_mermaid_volume_lifecycle", tmp.replace_all(&text, "<tmp>"));
    });
}

#[tokio::test]
async fn every_request_and_call_becomes_an_arrow_in_order() {
    let report = run(LIFECYCLE, TransportKind::InProcess).await;
    let d = narrated(&report, LIFECYCLE);
    let names: Vec<&str> = d.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["docker CLI", "dockerd", "dryvol"]);
    assert_eq!(d.participants[2].role, "volume plugin");
    // One group per step; the directive too.
    assert_eq!(d.groups.len(), report.steps.len());
    // `docker run -d`: create, wait, start; Mount happens inside start.
    let run_group = &d.groups[2];
    let texts: Vec<&str> = run_group.messages.iter().map(|m| m.text.as_str()).collect();
    let start = texts
        .iter()
        .position(|t| t.starts_with("POST /v1.41/containers/") && t.ends_with("/start"))
        .expect("start request");
    let mount = texts
        .iter()
        .position(|t| t.starts_with("VolumeDriver.Mount data id "))
        .expect("Mount call");
    assert!(start < mount, "{texts:#?}");
    assert!(texts[start + 1..].contains(&"204 (start)"), "{texts:#?}");
    // The refusal: red answer, the CLI's error under the group, no Remove.
    let refused = &d.groups[3];
    assert!(refused
        .error
        .as_deref()
        .unwrap()
        .contains("volume is in use"));
    assert!(refused
        .messages
        .iter()
        .any(|m| m.error && m.reply && m.to == diagram::CLI && m.text.starts_with("409 ")));
    assert!(!refused.messages.iter().any(|m| m.text.contains("Remove")));
    // Every plugin call is a request and a reply.
    let calls: usize = report.steps.iter().map(|s| s.calls.len()).sum();
    let plugin_arrows = d
        .groups
        .iter()
        .flat_map(|g| &g.messages)
        .filter(|m| m.from >= 2 || m.to >= 2)
        .count();
    assert_eq!(plugin_arrows, 2 * calls);
}

// ---- the browser check -------------------------------------------------

/// Device pixels per CSS pixel in the screenshots (sharper text for OCR).
const SCALE: f64 = 2.0;

/// Room for the page's heading and legend above the drawing, CSS px.
const PAGE_HEADING: f64 = 200.0;

/// Chromium and tesseract, or `None` (the test is skipped, saying so) where
/// they are not installed and `DRYDOCK_REQUIRE_ALL=1` does not require them.
fn tools() -> Option<(PathBuf, PathBuf)> {
    const INSTALL: &str = "apt-get install -y chromium tesseract-ocr";
    const TEST: &str = "the diagram's browser check";
    let chromium = super::external::require(
        TEST,
        &["chromium", "chromium-browser", "google-chrome"],
        INSTALL,
    )?;
    let tesseract = super::external::require(TEST, &["tesseract"], INSTALL)?;
    Some((chromium, tesseract))
}

/// Chromium taking a screenshot of `file` in a `w`×`h` CSS-pixel window;
/// [`Shooting::picture`] waits for it. Two can run at once.
struct Shooting {
    child: std::process::Child,
    png: PathBuf,
    file: PathBuf,
    _profile: tempfile::TempDir,
}

fn screenshot(chromium: &Path, file: &Path, w: u32, h: u32) -> Shooting {
    let profile = tempfile::tempdir().unwrap();
    // lifecycle.svg.png, lifecycle.html.png
    let mut png = file.as_os_str().to_owned();
    png.push(".png");
    let png = PathBuf::from(png);
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--force-device-scale-factor={SCALE}"))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", file.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .env_remove("LD_LIBRARY_PATH")
        .spawn()
        .expect("run chromium");
    Shooting {
        child,
        png,
        file: file.to_owned(),
        _profile: profile,
    }
}

impl Shooting {
    /// The screenshot, as RGB rows.
    fn picture(self) -> Picture {
        let out = self.child.wait_with_output().expect("wait for chromium");
        assert!(
            self.png.exists(),
            "chromium made no screenshot of {}:\n{}",
            self.file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Picture::load(&self.png)
    }
}

struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Picture {
    fn load(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let channels = info.color_type.samples();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    /// The pixel at CSS position (x, y).
    fn at(&self, x: f64, y: f64) -> [u8; 3] {
        let (px, py) = ((x * SCALE) as usize, (y * SCALE) as usize);
        assert!(
            px < self.width && py < self.height,
            "({x}, {y}) is outside the screenshot"
        );
        let i = (py * self.width + px) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The share of device pixels on the horizontal segment (x1..x2, y) that `is`.
    fn row_share(&self, x1: f64, x2: f64, y: f64, is: impl Fn([u8; 3]) -> bool) -> f64 {
        let (a, b) = (x1.min(x2), x1.max(x2));
        let n = ((b - a) * SCALE) as usize;
        let hits = (0..n)
            .filter(|i| is(self.at(a + *i as f64 / SCALE, y)))
            .count();
        hits as f64 / n.max(1) as f64
    }

    fn column_share(&self, x: f64, y1: f64, y2: f64, is: impl Fn([u8; 3]) -> bool) -> f64 {
        let n = ((y2 - y1) * SCALE) as usize;
        let hits = (0..n)
            .filter(|i| is(self.at(x, y1 + *i as f64 / SCALE)))
            .count();
        hits as f64 / n.max(1) as f64
    }
}

fn dark([r, g, b]: [u8; 3]) -> bool {
    (u32::from(r) + u32::from(g) + u32::from(b)) / 3 < 170
}

fn red([r, g, b]: [u8; 3]) -> bool {
    r > 150 && g < 110 && b < 110
}

/// The text tesseract reads in a picture, one line per line of text.
fn ocr(tesseract: &Path, picture: &Path) -> Vec<String> {
    let out = Command::new(tesseract)
        .arg(picture)
        .arg("-")
        .args(["--psm", "6"])
        // Its OpenMP threads only contend on a two-core machine.
        .env("OMP_THREAD_LIMIT", "1")
        .output()
        .expect("run tesseract");
    assert!(
        out.status.success(),
        "tesseract failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// A CSS-pixel rectangle of a screenshot.
#[derive(Clone, Copy)]
struct Area {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Picture {
    /// The device pixels of `a`, clipped to the picture, as RGB rows.
    fn crop(&self, a: Area) -> (usize, usize, Vec<u8>) {
        let x0 = ((a.x * SCALE).max(0.0) as usize).min(self.width);
        let y0 = ((a.y * SCALE).max(0.0) as usize).min(self.height);
        let x1 = (((a.x + a.w) * SCALE) as usize).min(self.width);
        let y1 = (((a.y + a.h) * SCALE) as usize).min(self.height);
        let mut rgb = Vec::new();
        for y in y0..y1 {
            rgb.extend_from_slice(&self.rgb[(y * self.width + x0) * 3..(y * self.width + x1) * 3]);
        }
        (x1 - x0, y1 - y0, rgb)
    }

    /// Writes the areas one under the other on white, as a PNG for OCR:
    /// text alone, without the arrows and lifelines around it.
    fn sheet(&self, areas: &[Area], path: &Path) {
        let crops: Vec<_> = areas.iter().map(|a| self.crop(*a)).collect();
        let gap = 12;
        let width = crops.iter().map(|c| c.0).max().unwrap_or(1) + 2 * gap;
        let height = crops.iter().map(|c| c.1 + gap).sum::<usize>() + gap;
        let mut rgb = vec![255u8; width * height * 3];
        let mut top = gap;
        for (w, h, pixels) in &crops {
            for row in 0..*h {
                let at = ((top + row) * width + gap) * 3;
                rgb[at..at + w * 3].copy_from_slice(&pixels[row * w * 3..(row + 1) * w * 3]);
            }
            top += h + gap;
        }
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut encoder = png::Encoder::new(file, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&rgb)
            .unwrap();
    }
}

/// How far down the page the drawing starts (at most [`PAGE_HEADING`]): the
/// offset at which the page's pixels best match the SVG's own screenshot
/// (the page has a 16 px margin) over the drawing's top `depth` px, and how
/// well they match there (mean difference per channel, 0..255).
fn offset_in_page(page: &Picture, svg: &Picture, layout: &svg::Layout, depth: f64) -> (f64, f64) {
    let samples: Vec<(f64, f64)> = (0..40)
        .flat_map(|i| {
            (0..40).map(move |j| {
                (
                    layout.width * f64::from(i) / 40.0,
                    depth * f64::from(j) / 40.0,
                )
            })
        })
        .collect();
    let mut best = (0.0, f64::MAX);
    for step in 0..(PAGE_HEADING * SCALE) as usize {
        let dy = step as f64 / SCALE;
        let diff: f64 = samples
            .iter()
            .map(|&(x, y)| {
                let a = svg.at(x, y);
                let b = page.at(x + 16.0, y + dy);
                (0..3).map(|k| f64::from(a[k].abs_diff(b[k]))).sum::<f64>()
            })
            .sum::<f64>()
            / (samples.len() * 3) as f64;
        if diff < best.1 {
            best = (dy, diff);
        }
    }
    best
}

fn assert_reads(lines: &[String], wanted: &[&str], what: &str) {
    let text = lines.join("\n");
    let missing: Vec<&&str> = wanted.iter().filter(|w| !text.contains(**w)).collect();
    assert!(
        missing.is_empty(),
        "OCR of the {what} does not show {missing:?}; it reads:\n{text}"
    );
}

#[tokio::test]
async fn the_svg_and_html_show_arrows_and_labels_in_a_browser() {
    let Some((chromium, tesseract)) = tools() else {
        return;
    };
    let report = run(LIFECYCLE, TransportKind::Unix).await;
    let d = narrated(&report, LIFECYCLE);
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("lifecycle.svg");
    let html_path = dir.path().join("lifecycle.html");
    diagram::write(&svg_path, std::slice::from_ref(&d)).unwrap();
    diagram::write(&html_path, std::slice::from_ref(&d)).unwrap();
    let (_, layout) = svg::render(&d);

    // Both pictures are taken at once: the SVG alone, and the top of the
    // page (heading, legend, and the drawing down to the first command's
    // first arrow; the rest is the same drawing).
    let first = &layout.groups[1];
    let first_arrow = layout.arrows.iter().find(|a| a.y > first.top).unwrap();
    let started = Instant::now();
    let page = screenshot(
        &chromium,
        &html_path,
        layout.width as u32 + 40,
        (PAGE_HEADING + first_arrow.y + 10.0) as u32,
    );
    let shot = screenshot(
        &chromium,
        &svg_path,
        layout.width as u32,
        layout.height as u32,
    )
    .picture();
    let page = page.picture();
    let browser = started.elapsed();

    // Lifelines: dashed lines where the layout put them, above the first band.
    let below_boxes = layout.lifeline_top + 2.0;
    let above_band = layout.groups[0].top - 2.0;
    for (i, &x) in layout.lifelines.iter().enumerate() {
        let share = shot.column_share(x, below_boxes, above_band, dark);
        assert!(
            share > 0.3,
            "lifeline {i} at x={x}: only {share:.2} of its pixels are drawn"
        );
        // …and not a dark picture: beside it the page is light.
        let beside = shot.column_share(x + 12.0, below_boxes, above_band, dark);
        assert!(beside < 0.05, "the background next to lifeline {i} is dark");
    }
    // Arrows: a line on their row between their lifelines (solid requests,
    // dashed replies, red errors), an arrowhead at the end, nothing just below.
    assert!(layout.arrows.len() > 20);
    for a in &layout.arrows {
        let dir = (a.x_to - a.x_from).signum();
        let (from, to) = (a.x_from + dir * 4.0, a.x_to - dir * 14.0);
        let colour: fn([u8; 3]) -> bool = if a.error { red } else { dark };
        let share = shot.row_share(from, to, a.y, colour);
        let wanted = if a.reply { 0.45 } else { 0.9 };
        assert!(
            share > wanted,
            "arrow {:?} at y={}: {share:.2} of its row is drawn",
            a.label,
            a.y
        );
        // Where only the arrowhead (10 px long, 9 px wide at its base) is drawn.
        let head = shot.at(a.x_to - dir * 9.0, a.y + 2.5);
        assert!(colour(head), "arrow {:?} has no head ({head:?})", a.label);
        let below = shot.row_share(from, to, a.y + 5.0, dark);
        assert!(below < 0.1, "the row under arrow {:?} is drawn", a.label);
    }
    assert!(layout.arrows.iter().any(|a| a.error), "the refusal is red");

    // Labels, read back: every request label and red reply, every heading.
    let mut areas = Vec::new();
    let mut expected = Vec::new();
    for g in &layout.groups {
        areas.push(Area {
            x: 14.0,
            y: g.label_y - 14.0,
            w: layout.width - 28.0,
            h: 19.0,
        });
    }
    for a in layout.arrows.iter().filter(|a| !a.reply || a.error) {
        let w = a.label.chars().count() as f64 * svg::CHAR_W + 8.0;
        areas.push(Area {
            x: (a.x_from + a.x_to - w) / 2.0,
            y: a.y - 19.0,
            w,
            h: 15.0,
        });
        // The first word (a method or an HTTP method and path) must read back.
        expected.push(a.label.split(' ').next().unwrap().to_owned());
    }
    let sheet = dir.path().join("labels.png");
    shot.sheet(&areas, &sheet);
    let started = Instant::now();
    let lines = ocr(&tesseract, &sheet);
    let ocr_time = started.elapsed();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_reads(&lines, &expected, "SVG's arrow labels");
    assert_reads(
        &lines,
        &[
            "$ docker volume create -d dryvol data",
            "$ docker stop web",
            "Plugin.Activate",
            "VolumeDriver.Create data",
            "VolumeDriver.Mount data id",
            "VolumeDriver.Unmount data id",
            "VolumeDriver.Remove data",
            "POST /v1.41/volumes/create",
            "409 remove data: volume is in use",
        ],
        "SVG",
    );

    // The page: a heading and a legend above the same drawing.
    let (dy, diff) = offset_in_page(&page, &shot, &layout, first_arrow.y);
    assert!(
        diff < 8.0,
        "the page does not show the SVG's drawing (best match {diff:.1} at {dy} px)"
    );
    // The first command's heading and narration, down to its first arrow's label.
    let head = dir.path().join("page.png");
    page.sheet(
        &[
            Area {
                x: 0.0,
                y: 0.0,
                w: layout.width,
                h: dy,
            },
            Area {
                x: 16.0 + 14.0,
                y: dy + first.label_y - 14.0,
                w: layout.width - 28.0,
                h: first_arrow.y - 19.0 - (first.label_y - 14.0),
            },
        ],
        &head,
    );
    let lines = ocr(&tesseract, &head);
    assert_reads(
        &lines,
        &[
            "drydock: lifecycle.scenario",
            "Solid arrows are requests",
            "$ docker volume create -d dryvol data",
            "Creating a volume: dockerd activates the plugin",
        ],
        "HTML page",
    );
    eprintln!(
        "diagram browser check: {} arrows; chromium {:.2} s for both screenshots, tesseract {:.2} s for {} labels",
        layout.arrows.len(),
        browser.as_secs_f64(),
        ocr_time.as_secs_f64(),
        areas.len()
    );
}

#[tokio::test]
async fn a_failed_start_inside_docker_run_is_answered_in_red() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/faults/mount-drop.scenario");
    let scenario = drydock_engine::scenario::parse_file(&path).unwrap();
    let report = run_scenario(&scenario, &RunOptions::default()).await;
    assert!(report.passed(), "{:?}", report.failures);
    let d = diagram::from_report(&report, &Default::default());
    let group = d
        .groups
        .iter()
        .find(|g| g.label.starts_with("docker run") && g.error.is_some())
        .expect("a docker run that fails");
    let texts: Vec<&str> = group.messages.iter().map(|m| m.text.as_str()).collect();
    let answers: Vec<_> = group
        .messages
        .iter()
        .filter(|m| m.reply && m.to == diagram::CLI)
        .collect();
    // attach, wait and start each get an answer; start's is the error.
    assert_eq!(answers.len(), 4, "{texts:#?}");
    let failed: Vec<_> = answers.iter().filter(|m| m.error).collect();
    assert_eq!(failed.len(), 1, "{texts:#?}");
    assert!(
        failed[0].text.contains("error while mounting volume"),
        "{texts:#?}"
    );
}

/// One docker command's arrows as tokens: `API <method> <uri>` for a
/// request, `answer` for its answer, `<plugin> <method>` for a plugin call;
/// IDs replaced by `<id>`.
fn tokens_of_group(g: &diagram::Group, d: &Diagram) -> Vec<String> {
    g.messages
        .iter()
        .filter(|m| !m.reply || m.to == diagram::CLI)
        .map(|m| match (m.from, m.to) {
            (diagram::CLI, _) => format!("API {}", m.text),
            (_, diagram::CLI) => "answer".to_owned(),
            (_, p) => format!(
                "{} {}",
                d.participants[p].name,
                m.text.split(' ').next().unwrap()
            ),
        })
        .map(|t| without_ids(&t))
        .collect()
}

fn without_ids(text: &str) -> String {
    let ids = regex::Regex::new(r"[0-9a-f]{12}[0-9a-f]*…?").unwrap();
    ids.replace_all(text, "<id>").into_owned()
}

/// The same tokens from a real dockerd recording, where an authz plugin saw
/// every API request (AuthZReq on arrival, AuthZRes after the handler).
fn tokens_of_recording(step: &drydock_engine::compare::TraceStep) -> Vec<String> {
    use drydock_sdk::wire::authz::AuthzRequest;
    let mut out = Vec::new();
    for c in &step.calls {
        let authz = || serde_json::from_value::<AuthzRequest>(c.request.clone()).unwrap();
        match c.method.as_str() {
            "AuthZPlugin.AuthZReq" => {
                let r = authz();
                if r.request_uri != "/_ping" {
                    out.push(format!("API {} {}", r.request_method, r.request_uri));
                }
            }
            "AuthZPlugin.AuthZRes" => {
                if authz().request_uri != "/_ping" {
                    out.push("answer".to_owned());
                }
            }
            "Plugin.Activate" if c.plugin == "rec-authz" => {}
            m => out.push(format!("{} {m}", c.plugin)),
        }
    }
    out.iter().map(|t| without_ids(t)).collect()
}

/// The order a diagram draws — which requests caused which plugin calls,
/// and when each request was answered — is the order a real dockerd 20.10
/// showed an authz plugin in these recordings.
#[tokio::test]
async fn requests_and_calls_nest_as_in_real_dockerd_recordings() {
    for file in ["v-in-use.jsonl", "v-lifecycle.jsonl"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(file);
        let golden =
            drydock_engine::compare::load_golden(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let (text, expected, _) = super::golden::scenario_for(&golden);
        let scenario = parse(file, text.as_bytes()).unwrap();
        let opts = RunOptions {
            keep_going: true,
            ..Default::default()
        };
        let report = run_scenario(&scenario, &opts).await;
        let d = diagram::from_report(&report, &Default::default());
        let commands: Vec<&diagram::Group> = d
            .groups
            .iter()
            .filter(|g| g.kind == diagram::GroupKind::Command)
            .collect();
        assert_eq!(commands.len(), expected.len(), "{file}");
        for (g, want) in commands.iter().zip(&expected) {
            assert_eq!(g.label, want.command, "{file}");
            assert_eq!(
                tokens_of_group(g, &d),
                tokens_of_recording(want),
                "{file}: {}",
                g.label
            );
        }
    }
}

//! `movieapp top`'s terminal view (ratatui on crossterm): every instance, a footer with the
//! feed and the locks, and an instance's endpoints; keys to move, sort, filter and quit.
//! The terminal is restored on quit, on SIGTERM and on a panic.

use std::time::Duration;

use ratatui::{
    DefaultTerminal, Frame,
    crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers},
    layout::{Constraint, Layout},
    style::{Color, Modifier, Style},
    text::Line,
    widgets::{Cell, Paragraph, Row, Table, TableState},
};

use super::watch::{Instance, Snapshot, Watcher};

/// The column instances are sorted by; `s` moves to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Service,
    Address,
    State,
    Calls,
    Errors,
    P99,
}

impl Sort {
    fn next(self) -> Self {
        match self {
            Self::Service => Self::Address,
            Self::Address => Self::State,
            Self::State => Self::Calls,
            Self::Calls => Self::Errors,
            Self::Errors => Self::P99,
            Self::P99 => Self::Service,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Address => "address",
            Self::State => "state",
            Self::Calls => "calls/s",
            Self::Errors => "err %",
            Self::P99 => "p99",
        }
    }
}

/// What the view shows and where the cursor is.
#[derive(Debug)]
pub struct App {
    pub selected: usize,
    pub sort: Sort,
    pub filter: String,
    /// Typing a filter (after `/`).
    pub editing: bool,
    /// The instance whose endpoints are shown (Enter; Esc goes back).
    pub detail: Option<String>,
    /// Colours, unless NO_COLOR is set; state is always in words as well.
    pub color: bool,
}

impl App {
    pub fn new(color: bool) -> Self {
        Self {
            selected: 0,
            sort: Sort::Service,
            filter: String::new(),
            editing: false,
            detail: None,
            color,
        }
    }

    /// The instances shown: those the filter matches (service or address), sorted.
    pub fn visible<'a>(&self, snapshot: &'a Snapshot) -> Vec<&'a Instance> {
        let filter = self.filter.to_lowercase();
        let mut shown: Vec<&Instance> = snapshot
            .instances
            .iter()
            .filter(|i| {
                filter.is_empty()
                    || i.service.to_lowercase().contains(&filter)
                    || i.address.contains(&filter)
            })
            .collect();
        // Figures sort highest first.
        fn descending(shown: &mut [&Instance], f: impl Fn(&Instance) -> f64) {
            shown.sort_by(|a, b| f(b).total_cmp(&f(a)));
        }
        match self.sort {
            Sort::Service => {
                shown.sort_by(|a, b| (&a.service, &a.address).cmp(&(&b.service, &b.address)));
            }
            Sort::Address => shown.sort_by(|a, b| a.address.cmp(&b.address)),
            Sort::State => {
                shown.sort_by(|a, b| b.state.cmp(a.state).then(a.service.cmp(&b.service)));
            }
            Sort::Calls => descending(&mut shown, |i| i.figures.calls_per_sec),
            Sort::Errors => descending(&mut shown, |i| i.figures.error_percent.unwrap_or(0.0)),
            Sort::P99 => descending(&mut shown, |i| i.figures.p99_ms.unwrap_or(0.0)),
        }
        shown
    }

    /// Applies a key; whether to quit.
    pub fn key(&mut self, key: KeyEvent, snapshot: Option<&Snapshot>) -> bool {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return true;
        }
        if self.editing {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.selected = 0;
            return false;
        }
        let count = snapshot.map_or(0, |s| self.visible(s).len());
        match key.code {
            KeyCode::Char('q') => return true,
            KeyCode::Esc if self.detail.is_some() => self.detail = None,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(count.saturating_sub(1));
            }
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('s') => self.sort = self.sort.next(),
            KeyCode::Char('/') => {
                self.editing = true;
                self.detail = None;
            }
            KeyCode::Enter => {
                self.detail = snapshot.and_then(|s| {
                    self.visible(s)
                        .get(self.selected)
                        .map(|i| i.instance_id.clone())
                });
            }
            _ => {}
        }
        false
    }

    pub fn draw(&self, frame: &mut Frame, snapshot: Option<&Snapshot>, note: &str) {
        let [head, body, foot, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(2),
            Constraint::Length(1),
        ])
        .areas(frame.area());
        let Some(snapshot) = snapshot else {
            frame.render_widget(
                Paragraph::new(format!("movieapp top: reading the registry… {note}")),
                head,
            );
            return;
        };
        let mut title = format!(
            "movieapp top — registry {} — {} instances — figures over {:.1}s — sorted by {}",
            snapshot.registry,
            snapshot.instances.len(),
            snapshot.interval_secs,
            self.sort.name()
        );
        if self.editing || !self.filter.is_empty() {
            title.push_str(&format!(
                " — filter: {}{}",
                self.filter,
                if self.editing { "▏" } else { "" }
            ));
        }
        if !note.is_empty() {
            title.push_str(&format!(" — {note}"));
        }
        frame.render_widget(Paragraph::new(title), head);
        let detail = self
            .detail
            .as_ref()
            .and_then(|id| snapshot.instances.iter().find(|i| &i.instance_id == id));
        match detail {
            Some(instance) => self.draw_endpoints(frame, body, instance),
            None => self.draw_instances(frame, body, snapshot),
        }
        frame.render_widget(Paragraph::new(footer(snapshot)), foot);
        let keys = match (self.editing, detail.is_some()) {
            (true, _) => "type to filter by service or address · Enter/Esc: done",
            (false, true) => "Esc: back · q: quit",
            (false, false) => "↑↓/j k: move · Enter: endpoints · s: sort · /: filter · q: quit",
        };
        frame.render_widget(Paragraph::new(keys).style(self.dim()), help);
    }

    fn draw_instances(&self, frame: &mut Frame, area: ratatui::layout::Rect, snapshot: &Snapshot) {
        let rows: Vec<Row> = self
            .visible(snapshot)
            .into_iter()
            .map(|i| {
                let mut cells: Vec<Cell> = cells(i).into_iter().map(Cell::from).collect();
                cells[STATE_COLUMN] = cells[STATE_COLUMN].clone().style(self.state_style(i.state));
                Row::new(cells)
            })
            .collect();
        let widths = [
            Constraint::Length(9),
            Constraint::Length(22),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Min(12),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(7),
        ];
        let table = Table::new(rows, widths)
            .header(Row::new(COLUMNS).style(Style::new().add_modifier(Modifier::BOLD)))
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol("› ");
        let mut state = TableState::default().with_selected(Some(self.selected));
        frame.render_stateful_widget(table, area, &mut state);
    }

    fn draw_endpoints(&self, frame: &mut Frame, area: ratatui::layout::Rect, instance: &Instance) {
        let [title, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(area);
        frame.render_widget(
            Paragraph::new(format!(
                "{} at {} ({}), by endpoint:",
                instance.service, instance.address, instance.instance_id
            )),
            title,
        );
        let rows: Vec<Row> = instance
            .endpoints
            .iter()
            .map(|e| {
                let f = &e.figures;
                Row::new([
                    e.endpoint.clone(),
                    format!("{:.1}", f.calls_per_sec),
                    maybe(f.error_percent, 1),
                    maybe(f.p50_ms, 2),
                    maybe(f.p99_ms, 2),
                    format!("{:.1}", f.shed_per_sec),
                ])
            })
            .collect();
        let widths = [
            Constraint::Min(24),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
        ];
        let table = Table::new(rows, widths).header(
            Row::new(["endpoint", "calls/s", "err %", "p50 ms", "p99 ms", "shed/s"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        );
        frame.render_widget(table, body);
    }

    fn state_style(&self, state: &str) -> Style {
        if !self.color {
            return Style::new();
        }
        match state {
            "serving" => Style::new().fg(Color::Green),
            "not_serving" | "refused" => Style::new().fg(Color::Yellow),
            _ => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::new().add_modifier(Modifier::DIM)
        } else {
            Style::new()
        }
    }
}

/// The instance table's columns, in the live view and in `--once`'s table alike.
pub const COLUMNS: [&str; 13] = [
    "service",
    "address",
    "process",
    "version",
    "state",
    "uptime",
    "calls/s",
    "in flight",
    "err %",
    "p50 ms",
    "p99 ms",
    "stale/s",
    "shed/s",
];

/// Where the state is among [`COLUMNS`].
const STATE_COLUMN: usize = 4;

/// An instance's row, one text per column of [`COLUMNS`]; state always in words (with
/// why, and who ejected it), never by colour alone.
pub fn cells(i: &Instance) -> Vec<String> {
    let f = &i.figures;
    let mut state = match &i.reason {
        Some(why) => format!("{}: {why}", i.state.replace('_', " ")),
        None => i.state.to_owned(),
    };
    if !i.ejected_by.is_empty() {
        state.push_str(&format!("; ejected by {}", i.ejected_by.join(", ")));
    }
    let none = || "—".to_owned();
    vec![
        i.service.clone(),
        i.address.clone(),
        i.process.clone().unwrap_or_else(none),
        i.version.clone().unwrap_or_else(none),
        state,
        f.uptime_secs.map_or_else(none, uptime),
        format!("{:.1}", f.calls_per_sec),
        maybe(f.in_flight, 0),
        maybe(f.error_percent, 1),
        maybe(f.p50_ms, 2),
        maybe(f.p99_ms, 2),
        format!("{:.1}", f.fallbacks_per_sec),
        format!("{:.1}", f.shed_per_sec),
    ]
}

fn maybe(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"))
}

/// `3d4h`, `2h5m`, `7m3s`, `42s`.
pub fn uptime(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The feed and the locks, two lines.
fn footer(snapshot: &Snapshot) -> Vec<Line<'static>> {
    let feed = if snapshot.feeds.is_empty() {
        "feed: no rating instance reports one".to_owned()
    } else {
        let topics: Vec<String> = snapshot
            .feeds
            .iter()
            .map(|f| {
                format!(
                    "{}: lag {} events, {} dead-lettered",
                    f.topic,
                    f.lag_events
                        .map_or_else(|| "—".into(), |l| format!("{l:.0}")),
                    f.dead_lettered
                        .map_or_else(|| "0".into(), |d| format!("{d:.0}"))
                )
            })
            .collect();
        format!("feed {}", topics.join("; "))
    };
    let locks = match (&snapshot.locks, &snapshot.locks_error) {
        (_, Some(e)) => format!("locks: cannot read them ({e})"),
        (None, None) => "locks: no lock store".to_owned(),
        (Some(keys), None) => {
            let held: Vec<String> = keys
                .iter()
                .filter(|k| k.holder.is_some())
                .map(|k| {
                    let left = k.expires_at_ms.map_or_else(String::new, |at| {
                        let ms = (at - crate::database::sqlite::now_ms()).max(0);
                        format!(", {:.1}s left", ms as f64 / 1000.0)
                    });
                    format!(
                        "{} by {} (token {}{left})",
                        k.key,
                        k.holder.as_deref().unwrap_or("?"),
                        k.token
                    )
                })
                .collect();
            if held.is_empty() {
                "locks: none held".to_owned()
            } else {
                format!("locks: {}", held.join("; "))
            }
        }
    };
    vec![Line::from(feed), Line::from(locks)]
}

/// Runs the view until `q`, Ctrl-C or SIGTERM, refreshing every `interval`; the terminal
/// is restored whatever happens.
pub async fn run(mut watcher: Watcher, interval: Duration, color: bool) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let result = view(&mut terminal, &mut watcher, interval, color).await;
    ratatui::restore();
    result
}

async fn view(
    terminal: &mut DefaultTerminal,
    watcher: &mut Watcher,
    interval: Duration,
    color: bool,
) -> anyhow::Result<()> {
    // Terminal events are read on a thread of their own (crossterm's read blocks).
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    std::thread::Builder::new()
        .name("top-keys".into())
        .spawn(move || {
            while let Ok(event) = event::read() {
                if tx.send(event).is_err() {
                    break;
                }
            }
        })?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut ticker = tokio::time::interval(interval);
    let mut app = App::new(color);
    let mut snapshot: Option<Snapshot> = None;
    let mut note = String::new();
    loop {
        terminal.draw(|frame| app.draw(frame, snapshot.as_ref(), &note))?;
        tokio::select! {
            _ = ticker.tick() => match watcher.snapshot().await {
                Ok(next) => {
                    note.clear();
                    snapshot = Some(next);
                }
                Err(e) => note = format!("the registry cannot be read: {e}"),
            },
            event = events.recv() => match event {
                Some(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                    if app.key(key, snapshot.as_ref()) {
                        return Ok(());
                    }
                }
                // Resizes and the rest: drawn again at the top of the loop.
                Some(_) => {}
                None => return Ok(()),
            },
            _ = sigterm.recv() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use ratatui::{Terminal, backend::TestBackend};

    use super::*;
    use crate::top::{Figures, watch::Feed};

    fn snapshot() -> Snapshot {
        let instance = |service: &str, address: &str, state: &'static str, calls: f64| Instance {
            service: service.into(),
            instance_id: format!("{service}-1"),
            address: address.into(),
            state,
            reason: (state != "serving").then(|| "connection refused".to_owned()),
            ejected_by: Vec::new(),
            process: Some("4242@vm".into()),
            version: Some("0.1.0".into()),
            figures: Figures {
                calls_per_sec: calls,
                ..Figures::default()
            },
            endpoints: Vec::new(),
        };
        Snapshot {
            registry: "memory".into(),
            interval_secs: 1.0,
            instances: vec![
                instance("rating", "127.0.0.1:8082", "serving", 5.0),
                instance("movie", "127.0.0.1:8083", "unreachable", 0.0),
                instance("metadata", "127.0.0.1:8081", "serving", 50.0),
            ],
            feeds: vec![Feed {
                topic: "ratings".into(),
                lag_events: Some(3.0),
                dead_lettered: None,
                applied_per_sec: None,
            }],
            edges: Vec::new(),
            outbox: Vec::new(),
            locks: Some(Vec::new()),
            locks_error: None,
        }
    }

    fn press(app: &mut App, code: KeyCode, snap: &Snapshot) -> bool {
        app.key(KeyEvent::new(code, KeyModifiers::NONE), Some(snap))
    }

    #[test]
    fn keys_sort_filter_move_and_quit() {
        let snap = snapshot();
        let mut app = App::new(false);
        let services = |app: &App| {
            app.visible(&snap)
                .iter()
                .map(|i| i.service.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(services(&app), ["metadata", "movie", "rating"]);
        for _ in 0..3 {
            press(&mut app, KeyCode::Char('s'), &snap);
        }
        assert_eq!(app.sort, Sort::Calls);
        assert_eq!(services(&app), ["metadata", "rating", "movie"]);
        press(&mut app, KeyCode::Char('/'), &snap);
        for c in "rat".chars() {
            press(&mut app, KeyCode::Char(c), &snap);
        }
        press(&mut app, KeyCode::Enter, &snap);
        assert_eq!(services(&app), ["rating"]);
        press(&mut app, KeyCode::Esc, &snap);
        press(&mut app, KeyCode::Down, &snap);
        press(&mut app, KeyCode::Char('j'), &snap);
        press(&mut app, KeyCode::Char('j'), &snap);
        assert_eq!(app.selected, 2, "stops at the last row");
        press(&mut app, KeyCode::Enter, &snap);
        assert_eq!(app.detail.as_deref(), Some("movie-1"));
        press(&mut app, KeyCode::Esc, &snap);
        assert_eq!(app.detail, None);
        assert!(press(&mut app, KeyCode::Char('q'), &snap));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(App::new(false).key(ctrl_c, Some(&snap)));
    }

    #[test]
    fn the_screen_names_each_state_in_words() {
        let snap = snapshot();
        let app = App::new(false);
        let mut terminal = Terminal::new(TestBackend::new(170, 12)).unwrap();
        terminal.draw(|f| app.draw(f, Some(&snap), "")).unwrap();
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        for needle in [
            "127.0.0.1:8081",
            "serving",
            "unreachable: connection refused",
            "feed ratings: lag 3 events, 0 dead-lettered",
            "locks: none held",
        ] {
            assert!(screen.contains(needle), "{needle}");
        }
    }
}

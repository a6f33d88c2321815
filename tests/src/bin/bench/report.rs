//! Bench: table.

#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) measurement: String,
    pub(crate) figure: String,
    pub(crate) target: String,
    /// Shortfall factor: ≤ 1 passes.
    pub(crate) ratio: Option<f64>,
}

#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) rows: Vec<Row>,
}

impl Report {
    /// A figure without a target.
    pub(crate) fn info(&mut self, measurement: &str, figure: String) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: "—".into(),
            ratio: None,
        });
    }

    /// A figure that must be at most `limit`.
    pub(crate) fn at_most(
        &mut self,
        measurement: &str,
        figure: String,
        value: f64,
        limit: f64,
        shown: &str,
    ) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: format!("≤ {shown}"),
            ratio: Some(value / limit),
        });
    }

    /// A figure that must be at least `limit`.
    pub(crate) fn at_least(
        &mut self,
        measurement: &str,
        figure: String,
        value: f64,
        limit: f64,
        shown: &str,
    ) {
        self.push(Row {
            measurement: measurement.into(),
            figure,
            target: format!("≥ {shown}"),
            ratio: Some(if value > 0.0 {
                limit / value
            } else {
                f64::INFINITY
            }),
        });
    }

    pub(crate) fn push(&mut self, row: Row) {
        let verdict = match row.ratio {
            Some(r) if r <= 1.0 => "pass",
            Some(_) => "MISS",
            None => "",
        };
        eprintln!(
            "  => {}: {} ({}) {verdict}",
            row.measurement, row.figure, row.target
        );
        self.rows.push(row);
    }

    pub(crate) fn render(&self) -> String {
        let cells: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.measurement.clone(),
                    r.figure.clone(),
                    r.target.clone(),
                    r.ratio.map_or("—".into(), |x| format!("{x:.2}")),
                    match r.ratio {
                        Some(x) if x <= 1.0 => "yes".into(),
                        Some(_) => "NO".into(),
                        None => "—".into(),
                    },
                ]
            })
            .collect();
        let header = ["measurement", "figure", "limit/target", "ratio", "pass?"];
        let mut out = String::new();
        out.push_str(&format!("| {} |\n", header.join(" | ")));
        out.push_str("|---|---|---|---:|:---:|\n");
        for c in &cells {
            out.push_str(&format!("| {} |\n", c.join(" | ")));
        }
        out
    }
}

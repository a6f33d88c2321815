//! The ledger labels of the record kinds' enums: each value's Chinese label
//! (what ledgers write) and English name (also accepted, in any case).

use crate::pb;

/// An enum's labels: `(value, Chinese label, English name)` for every
/// value but `UNSPECIFIED`.
#[derive(Debug)]
pub struct Labels<E: 'static> {
    /// What the value is, for errors (`slot`).
    pub what: &'static str,
    /// Every value with its labels.
    pub all: &'static [(E, &'static str, &'static str)],
}

impl<E: Copy + PartialEq> Labels<E> {
    /// Parses a Chinese label or an English name (any case).
    ///
    /// # Errors
    /// A reason listing every label when `s` is none of them.
    pub fn parse(&self, s: &str) -> Result<E, String> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        self.all
            .iter()
            .find(|(_, zh, en)| *zh == s || *en == lower)
            .map(|(e, ..)| *e)
            .ok_or_else(|| {
                let list = |f: fn(&(E, &'static str, &'static str)) -> &'static str| {
                    let names: Vec<_> = self.all.iter().map(f).collect();
                    match names.split_last() {
                        Some((last, [])) => (*last).to_owned(),
                        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                        None => String::new(),
                    }
                };
                format!(
                    "{} must be {} ({}), got {s:?}",
                    self.what,
                    list(|(_, zh, _)| zh),
                    list(|(_, _, en)| en).replace(" or ", ", ")
                )
            })
    }

    /// The Chinese label; empty for `UNSPECIFIED`.
    pub fn zh(&self, e: E) -> &'static str {
        self.all
            .iter()
            .find(|(v, ..)| *v == e)
            .map_or("", |(_, zh, _)| zh)
    }

    /// The English name; empty for `UNSPECIFIED`.
    pub fn en(&self, e: E) -> &'static str {
        self.all
            .iter()
            .find(|(v, ..)| *v == e)
            .map_or("", |(_, _, en)| en)
    }
}

/// A health check's time of day.
pub const SLOT: Labels<pb::Slot> = Labels {
    what: "slot",
    all: &[(pb::Slot::Am, "上午", "am"), (pb::Slot::Pm, "下午", "pm")],
};

/// A service's kind.
pub const SERVICE_KIND: Labels<pb::ServiceKind> = Labels {
    what: "service kind",
    all: &[
        (pb::ServiceKind::Meal, "送餐", "meal"),
        (pb::ServiceKind::Rubbish, "倒垃圾", "rubbish"),
        (pb::ServiceKind::Shopping, "代购", "shopping"),
    ],
};

/// What was done with a vehicle at the gate.
pub const VEHICLE_ACTION: Labels<pb::VehicleAction> = Labels {
    what: "action",
    all: &[
        (pb::VehicleAction::Registered, "登记", "registered"),
        (pb::VehicleAction::TurnedBack, "劝返", "turned_back"),
    ],
};

/// How a survey came about.
pub const SURVEY_SOURCE: Labels<pb::SurveySource> = Labels {
    what: "source",
    all: &[
        (pb::SurveySource::Call, "来电", "call"),
        (pb::SurveySource::Visit, "上门", "visit"),
        (pb::SurveySource::List, "名单", "list"),
    ],
};

/// What a survey or a verification found.
pub const ANSWER_RESULT: Labels<pb::AnswerResult> = Labels {
    what: "result",
    all: &[
        (pb::AnswerResult::Registered, "已登记", "registered"),
        (pb::AnswerResult::Unregistered, "未登记", "unregistered"),
        (pb::AnswerResult::NotLivingHere, "不在住", "not_living_here"),
        (pb::AnswerResult::Other, "其他", "other"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_both_ways_and_name_every_choice() {
        assert_eq!(SLOT.parse(" 上午 "), Ok(pb::Slot::Am));
        assert_eq!(SLOT.parse("PM"), Ok(pb::Slot::Pm));
        assert_eq!(SERVICE_KIND.parse("代购"), Ok(pb::ServiceKind::Shopping));
        assert_eq!(
            VEHICLE_ACTION.parse("Turned_Back"),
            Ok(pb::VehicleAction::TurnedBack)
        );
        assert_eq!(
            SERVICE_KIND.parse("洗衣").unwrap_err(),
            "service kind must be 送餐, 倒垃圾 or 代购 (meal, rubbish, shopping), got \"洗衣\""
        );
        assert_eq!(
            SLOT.parse("").unwrap_err(),
            "slot must be 上午 or 下午 (am, pm), got \"\""
        );
        assert_eq!(ANSWER_RESULT.zh(pb::AnswerResult::NotLivingHere), "不在住");
        assert_eq!(ANSWER_RESULT.en(pb::AnswerResult::Unspecified), "");
    }
}

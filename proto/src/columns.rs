//! The ledgers' column headers, shared by the node's import (and the
//! generator that writes ledgers) and the hub's exports, so the two
//! cannot drift apart.

/// The Chinese headers of each ledger, in the order compounds keep them
/// (the generator writes them, exports use them; English aliases are
/// accepted on reading).
pub const HOUSEHOLD_HEADERS: [&str; 5] = ["户编号", "楼号", "单元", "室号", "房屋情况"];
pub const PERSON_HEADERS: [&str; 9] = [
    "人员编号",
    "户编号",
    "姓名",
    "手机",
    "证件号码",
    "国籍",
    "来源地",
    "返沪日期",
    "返沪登记",
];
pub const ISOLATION_HEADERS: [&str; 5] =
    ["隔离编号", "人员编号", "隔离方式", "开始日期", "解除日期"];

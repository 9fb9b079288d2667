//! The safety check of one AI output (spec §5.1): which critical operations
//! it proposes, whether it tries to weaken security, how likely it is to be
//! hallucinated, and what that means for the human gate.
//!
//! Detection is a set of small hand-written, case-insensitive matchers (the
//! domain takes no regex dependency). They err towards flagging: a false
//! alarm costs a human a glance, a miss can cost a production database. So
//! ``"never run `rm -rf ./build`"`` still flags — the matcher cannot tell
//! advice from instruction, and the human can.
//!
//! # Hallucination risk
//!
//! We cannot see whether an API exists, so the risk is scored from what is
//! observable:
//!
//! | signal | points |
//! |---|---|
//! | output empty (only whitespace) | 3 |
//! | stopped at `max_tokens` or by the content filter (incomplete) | 2 |
//! | the reviewer agent disagrees | 2 |
//! | each distinct hedging phrase ("I'm not sure", "might not exist", "hypothetical", "as of my knowledge", ...), at most 2 | 1 |
//!
//! 0 points is [`Risk::Low`], 1–2 [`Risk::Medium`], 3 or more [`Risk::High`].

use serde::{Deserialize, Serialize};

use super::StopReason;

/// How likely an output is to contain invented facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// What a flag is about. All but [`FlagKind::SecurityBypass`] are critical
/// operations that need a human's explicit approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// `DROP TABLE/DATABASE/SCHEMA`, `TRUNCATE`, `DELETE FROM` without
    /// `WHERE`, `ALTER TABLE … DROP`.
    DestructiveSql,
    /// `rm -rf` and its relatives in other shells and languages.
    RecursiveDelete,
    /// `git push --force`, `-f`, `--force-with-lease`, `+branch`.
    ForcePush,
    /// Deploying or releasing to production, `terraform apply/destroy`,
    /// `kubectl`/`helm` against prod.
    ProductionDeploy,
    /// Charges, refunds, payouts, subscription changes, payment APIs.
    PaymentsBilling,
    /// Credentials written into the output.
    Secrets,
    /// `sudo`, `chmod 777`, piping a download into a shell.
    PrivilegeEscalation,
    /// Disabling authentication, security checks or TLS verification, or
    /// exfiltrating data: the ethical concern of spec §5.1.
    SecurityBypass,
}

impl FlagKind {
    /// Critical operations need explicit human approval (spec §5.1 check 3).
    pub fn is_critical(self) -> bool {
        !matches!(self, Self::SecurityBypass)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DestructiveSql => "destructive_sql",
            Self::RecursiveDelete => "recursive_delete",
            Self::ForcePush => "force_push",
            Self::ProductionDeploy => "production_deploy",
            Self::PaymentsBilling => "payments_billing",
            Self::Secrets => "secrets",
            Self::PrivilegeEscalation => "privilege_escalation",
            Self::SecurityBypass => "security_bypass",
        }
    }
}

/// One match in an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyFlag {
    pub kind: FlagKind,
    /// The text around the match, at most ~120 characters. For secrets the
    /// value itself is replaced by `[redacted]`: flags are stored and shown,
    /// and must not become a second copy of the credential.
    pub excerpt: String,
    /// 1-based line of the match.
    pub line: Option<usize>,
}

/// The result of checking one output (spec §5.1 `safety_check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyCheck {
    pub hallucination_risk: Risk,
    /// Why the hallucination risk is what it is, one line per signal.
    pub hallucination_reasons: Vec<String>,
    /// The output tries to weaken security ([`FlagKind::SecurityBypass`]).
    pub ethical_concern: bool,
    /// Any critical flag, an ethical concern or a high hallucination risk.
    pub requires_human_review: bool,
    pub flags: Vec<SafetyFlag>,
}

impl SafetyCheck {
    /// Checks `output`, which stopped for `stop_reason`; `reviewer_disagrees`
    /// when a reviewer agent rejected it or asked for changes.
    pub fn assess(output: &str, stop_reason: &StopReason, reviewer_disagrees: bool) -> Self {
        let flags = scan(output);
        let (hallucination_risk, hallucination_reasons) =
            hallucination_risk(output, stop_reason, reviewer_disagrees);
        let ethical_concern = flags.iter().any(|f| f.kind == FlagKind::SecurityBypass);
        let critical = flags.iter().any(|f| f.kind.is_critical());
        Self {
            hallucination_risk,
            hallucination_reasons,
            ethical_concern,
            requires_human_review: critical || ethical_concern || hallucination_risk == Risk::High,
            flags,
        }
    }

    /// Whether a critical operation was found.
    pub fn has_critical_operation(&self) -> bool {
        self.flags.iter().any(|f| f.kind.is_critical())
    }
}

/// What the validation pipeline decides (spec §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationOutcome {
    Approved,
    /// A human must look at it before it goes on.
    HumanReviewRequired,
    /// A critical operation: a human must explicitly approve it.
    HumanApprovalRequired,
}

impl ValidationOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::HumanReviewRequired => "human_review_required",
            Self::HumanApprovalRequired => "human_approval_required",
        }
    }
}

/// Decides the gate for one output: critical operations need approval; an
/// ethical concern, a high hallucination risk or a confidence below
/// `threshold` (or not a number) needs review; anything else is approved.
pub fn validate(check: &SafetyCheck, confidence: f64, threshold: f64) -> ValidationOutcome {
    if check.has_critical_operation() {
        ValidationOutcome::HumanApprovalRequired
    } else if check.ethical_concern
        || check.hallucination_risk == Risk::High
        || confidence.is_nan()
        || confidence < threshold
    {
        ValidationOutcome::HumanReviewRequired
    } else {
        ValidationOutcome::Approved
    }
}

/// Phrases with which models admit they may be making things up.
const HEDGES: &[&str] = &[
    "i'm not sure",
    "i am not sure",
    "not entirely sure",
    "i'm not certain",
    "i am not certain",
    "might not exist",
    "may not exist",
    "hypothetical",
    "as of my knowledge",
    "as of my last",
    "knowledge cutoff",
    "i cannot verify",
    "i can't verify",
    "i don't have access",
    "i do not have access",
    "may be outdated",
    "might be outdated",
];

/// The hallucination risk by the table in the module documentation, with a
/// reason per signal that scored.
pub fn hallucination_risk(
    output: &str,
    stop_reason: &StopReason,
    reviewer_disagrees: bool,
) -> (Risk, Vec<String>) {
    let mut score = 0u32;
    let mut reasons = Vec::new();
    if output.trim().is_empty() {
        score += 3;
        reasons.push("empty output (+3)".to_owned());
    }
    match stop_reason {
        StopReason::MaxTokens => {
            score += 2;
            reasons.push("truncated at max_tokens (+2)".to_owned());
        }
        StopReason::ContentFilter => {
            score += 2;
            reasons.push("withheld by the content filter (+2)".to_owned());
        }
        _ => {}
    }
    if reviewer_disagrees {
        score += 2;
        reasons.push("the reviewer disagrees (+2)".to_owned());
    }
    let lower = output.to_lowercase().replace('\u{2019}', "'");
    let hedges: Vec<&str> = HEDGES
        .iter()
        .copied()
        .filter(|h| lower.contains(h))
        .collect();
    for h in hedges.iter().take(2) {
        score += 1;
        reasons.push(format!("hedges: \"{h}\" (+1)"));
    }
    let risk = match score {
        0 => Risk::Low,
        1 | 2 => Risk::Medium,
        _ => Risk::High,
    };
    (risk, reasons)
}

/// Where a matcher matched in a line: `at` is the start of the match;
/// `redact_from`, for secrets, where the secret value begins.
#[derive(Debug, Clone, Copy)]
struct Hit {
    at: usize,
    redact_from: Option<usize>,
}

impl Hit {
    fn at(at: usize) -> Self {
        Self {
            at,
            redact_from: None,
        }
    }
}

/// One line as the matchers see it, split once for all of them: the
/// original, its ASCII-lowercased copy (same byte offsets), its words and
/// its shell commands (of the lowercased line).
struct Line<'a> {
    orig: &'a str,
    lower: &'a str,
    words: Vec<(usize, &'a str)>,
    commands: Vec<Vec<(usize, &'a str)>>,
}

impl<'a> Line<'a> {
    fn new(orig: &'a str, lower: &'a str) -> Self {
        Self {
            orig,
            lower,
            words: words(lower),
            commands: commands(lower),
        }
    }
}

type LineMatcher = fn(&Line<'_>) -> Option<Hit>;

/// The line matchers by kind.
const LINE_MATCHERS: &[(FlagKind, LineMatcher)] = &[
    (FlagKind::RecursiveDelete, recursive_delete),
    (FlagKind::ForcePush, force_push),
    (FlagKind::ProductionDeploy, production_deploy),
    (FlagKind::PaymentsBilling, payments),
    (FlagKind::Secrets, secret_token),
    (FlagKind::Secrets, secret_assignment),
    (FlagKind::PrivilegeEscalation, privilege_escalation),
    (FlagKind::SecurityBypass, security_bypass),
];

/// Every flag in `output`, one per kind and line, in line order.
pub fn scan(output: &str) -> Vec<SafetyFlag> {
    let mut flags: Vec<SafetyFlag> = Vec::new();
    let mut push = |kind: FlagKind, line_no: usize, line: &str, hit: Hit| {
        if flags
            .iter()
            .any(|f| f.kind == kind && f.line == Some(line_no))
        {
            return;
        }
        flags.push(SafetyFlag {
            kind,
            excerpt: excerpt(line, hit),
            line: Some(line_no),
        });
    };

    let lines: Vec<&str> = output.lines().collect();
    let mut env_fence = false;
    let mut in_fence = false;
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_ascii_lowercase();
        let fence = lower.trim_start();
        if fence.starts_with("```") || fence.starts_with("~~~") {
            in_fence = !in_fence;
            env_fence = in_fence && is_env_info(fence.trim_start_matches(['`', '~']));
            continue;
        }
        let split = Line::new(line, &lower);
        for (kind, matcher) in LINE_MATCHERS {
            if let Some(hit) = matcher(&split) {
                push(*kind, i + 1, line, hit);
            }
        }
        if env_fence && let Some(hit) = env_line(line) {
            push(FlagKind::Secrets, i + 1, line, hit);
        }
    }

    let lower = output.to_ascii_lowercase();
    let starts = line_starts(output);
    for at in destructive_sql(output, &lower) {
        let n = starts.partition_point(|&s| s <= at);
        let line_start = starts[n - 1];
        let line = lines.get(n - 1).copied().unwrap_or("");
        push(FlagKind::DestructiveSql, n, line, Hit::at(at - line_start));
    }

    flags.sort_by_key(|f| (f.line, f.kind));
    flags
}

/// Byte offsets where lines start (the first is 0).
fn line_starts(s: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

const EXCERPT_CHARS: usize = 120;

fn excerpt(line: &str, hit: Hit) -> String {
    let (line, redacted) = match hit.redact_from {
        Some(from) => (line.get(..from).unwrap_or(line), true),
        None => (line, false),
    };
    let mut start = hit.at.saturating_sub(40).min(line.len());
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let text = if line.chars().count() <= EXCERPT_CHARS {
        line.trim().to_owned()
    } else {
        let window: String = line[start..].chars().take(EXCERPT_CHARS).collect();
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.push_str(window.trim());
        if start + window.len() < line.len() {
            out.push('…');
        }
        out
    };
    if redacted {
        format!("{text}[redacted]")
    } else {
        text
    }
}

/// Maximal runs of ASCII alphanumerics and `_`, with their byte offsets.
fn words(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        let w = c.is_ascii_alphanumeric() || c == '_';
        match (w, start) {
            (true, None) => start = Some(i),
            (false, Some(st)) => {
                out.push((st, &s[st..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, &s[st..]));
    }
    out
}

/// Characters that wrap shell words in prose and code (quotes, backticks,
/// parentheses) and are not part of the word.
fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '$' | ',' | '<' | '>'
    )
}

/// Whitespace-separated shell tokens with wrappers trimmed, and offsets.
fn tokens(s: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for part in s.split_whitespace() {
        // `part` is a slice of `s`: its offset is where it starts in memory.
        let start = part.as_ptr() as usize - s.as_ptr() as usize;
        let trimmed = part.trim_start_matches(is_wrapper);
        let lead = part.len() - trimmed.len();
        let trimmed = trimmed.trim_end_matches(is_wrapper);
        if !trimmed.is_empty() {
            out.push((base + start + lead, trimmed));
        }
    }
    out
}

/// The shell commands of a line (split at `;`, `|` and `&`), tokenised.
fn commands(lower: &str) -> Vec<Vec<(usize, &str)>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in lower.char_indices() {
        if matches!(c, ';' | '|' | '&') {
            out.push(tokens(&lower[start..i], start));
            start = i + 1;
        }
    }
    out.push(tokens(&lower[start..], start));
    out
}

fn has_word(ws: &[(usize, &str)], set: &[&str]) -> Option<usize> {
    ws.iter().find(|(_, w)| set.contains(w)).map(|(at, _)| *at)
}

fn has_prefix_word(ws: &[(usize, &str)], prefixes: &[&str]) -> Option<usize> {
    ws.iter()
        .find(|(_, w)| prefixes.iter().any(|p| w.starts_with(p)))
        .map(|(at, _)| *at)
}

fn contains_any(s: &str, needles: &[&str]) -> Option<usize> {
    needles.iter().find_map(|n| s.find(n))
}

// ── destructive SQL ────────────────────────────────────────────────────

/// Offsets (in the whole text) of destructive SQL statements. Works on the
/// whole text because statements span lines (`DELETE FROM t` / `WHERE …`).
fn destructive_sql(original: &str, lower: &str) -> Vec<usize> {
    let ws = words(lower);
    let mut hits = Vec::new();
    for (i, &(at, w)) in ws.iter().enumerate() {
        let next = ws.get(i + 1).map(|(_, n)| *n);
        let flagged = match w {
            "drop" if matches!(next, Some("table" | "database" | "schema")) => true,
            // `TRUNCATE` in capitals is SQL; lower-case "truncate" is usually
            // about strings unless followed by `table`.
            "truncate" => next == Some("table") || original.get(at..at + 8) == Some("TRUNCATE"),
            "delete" if next == Some("from") => {
                let end = statement_end(lower, at);
                !ws.iter().any(|&(o, x)| o > at && o < end && x == "where")
            }
            "alter" if next == Some("table") => {
                let end = statement_end(lower, at);
                ws.iter().any(|&(o, x)| o > at && o < end && x == "drop")
            }
            "delete" | "wipe" | "drop" => ws[i + 1..]
                .iter()
                .take(3)
                .any(|(_, x)| matches!(*x, "database" | "databases")),
            _ => false,
        };
        if flagged {
            hits.push(at);
        }
    }
    hits
}

/// Where the SQL statement starting at `at` ends: the next `;`, blank line
/// or fence, whichever comes first.
fn statement_end(lower: &str, at: usize) -> usize {
    let rest = &lower[at..];
    [rest.find(';'), rest.find("\n\n"), rest.find("```")]
        .into_iter()
        .flatten()
        .min()
        .map_or(lower.len(), |e| at + e)
}

// ── shell and code matchers (one line each) ────────────────────────────

fn recursive_delete(line: &Line<'_>) -> Option<Hit> {
    let lower = line.lower;
    for cmd in &line.commands {
        for (k, &(at, t)) in cmd.iter().enumerate() {
            let args = &cmd[k + 1..];
            let flagged = match t {
                "rm" | "/bin/rm" | "/usr/bin/rm" => {
                    args.iter().take_while(|(_, a)| *a != "--").any(|(_, a)| {
                        *a == "--recursive"
                            || (a.starts_with('-') && !a.starts_with("--") && a.contains('r'))
                    })
                }
                "del" | "erase" | "rmdir" | "rd" => args.iter().any(|(_, a)| *a == "/s"),
                "remove-item" | "ri" => args.iter().any(|(_, a)| a.starts_with("-rec")),
                _ => false,
            };
            if flagged {
                return Some(Hit::at(at));
            }
        }
    }
    // Every library call below spells "rm", "rimraf" or "remove_dir_all":
    // most lines are ruled out by one search instead of nine.
    if !(lower.contains("rm") || lower.contains("remove_dir_all") || lower.contains("rimraf")) {
        return None;
    }
    contains_any(
        lower,
        &[
            "shutil.rmtree",
            "rmtree(",
            "remove_dir_all",
            "rimraf",
            "fileutils.rm_rf",
            "fileutils.rm_r",
        ],
    )
    .or_else(|| {
        let at = contains_any(lower, &["rmsync(", "fs.rm(", "rmdirsync("])?;
        lower.contains("recursive").then_some(at)
    })
    .map(Hit::at)
}

fn force_push(line: &Line<'_>) -> Option<Hit> {
    for cmd in &line.commands {
        let Some(g) = cmd.iter().position(|(_, t)| *t == "git") else {
            continue;
        };
        let Some(p) = cmd[g..].iter().position(|(_, t)| *t == "push") else {
            continue;
        };
        let forced = cmd[g + p + 1..].iter().any(|(_, a)| {
            a.starts_with("--force")
                || (a.starts_with('-') && !a.starts_with("--") && a.contains('f'))
                || (a.starts_with('+') && a.len() > 1)
        });
        if forced {
            return Some(Hit::at(cmd[g].0));
        }
    }
    line.words
        .windows(2)
        .find(|w| w[0].1 == "force" && matches!(w[1].1, "push" | "pushed" | "pushing"))
        .map(|w| Hit::at(w[0].0))
}

const PROD: &[&str] = &["prod", "production", "prd"];

fn production_deploy(line: &Line<'_>) -> Option<Hit> {
    let ws = &line.words;
    let prod = has_word(ws, PROD);
    if prod.is_some()
        && let Some(at) = has_prefix_word(ws, &["deploy", "releas", "rollout", "promot"])
    {
        return Some(Hit::at(at));
    }
    for cmd in &line.commands {
        let toks: Vec<&str> = cmd.iter().map(|(_, t)| *t).collect();
        let tool_at = |name: &str| cmd.iter().find(|(_, t)| *t == name).map(|(o, _)| *o);
        if let Some(at) = tool_at("terraform").or_else(|| tool_at("tofu"))
            && toks.iter().any(|t| matches!(*t, "apply" | "destroy"))
        {
            return Some(Hit::at(at));
        }
        let on_prod = cmd
            .iter()
            .any(|(_, t)| words(t).iter().any(|(_, w)| PROD.contains(w)));
        if !on_prod {
            continue;
        }
        if let Some(at) = tool_at("kubectl") {
            let read_only = toks.iter().any(|t| {
                matches!(
                    *t,
                    "get" | "describe" | "logs" | "top" | "explain" | "version" | "diff"
                )
            });
            if !read_only {
                return Some(Hit::at(at));
            }
        }
        if let Some(at) = tool_at("helm")
            && toks.iter().any(|t| {
                matches!(
                    *t,
                    "upgrade" | "install" | "uninstall" | "rollback" | "delete"
                )
            })
        {
            return Some(Hit::at(at));
        }
    }
    None
}

fn payments(line: &Line<'_>) -> Option<Hit> {
    let (lower, ws) = (line.lower, &line.words);
    if let Some(at) = has_word(
        ws,
        &[
            "stripe",
            "paypal",
            "braintree",
            "adyen",
            "billing",
            "refund",
            "refunds",
            "refunded",
            "refunding",
            "payout",
            "payouts",
        ],
    ) {
        return Some(Hit::at(at));
    }
    if let Some(at) = has_word(ws, &["charge", "charges", "charged", "charging"]) {
        let money = has_word(
            ws,
            &[
                "payment", "payments", "card", "amount", "customer", "invoice", "invoices",
                "price", "currency", "usd", "eur", "cents",
            ],
        );
        if money.is_some() || contains_any(lower, &[".charge(", "charges.create"]).is_some() {
            return Some(Hit::at(at));
        }
    }
    if let Some(at) = has_word(ws, &["subscription", "subscriptions"]) {
        let change = has_prefix_word(
            ws,
            &[
                "cancel", "updat", "upgrad", "downgrad", "chang", "modif", "delet", "creat",
                "pause", "resum",
            ],
        );
        if change.is_some() {
            return Some(Hit::at(at));
        }
    }
    None
}

/// Known credential formats: AWS access keys, private key blocks, OpenAI /
/// Anthropic `sk-` keys and GitHub tokens.
fn secret_token(line: &Line<'_>) -> Option<Hit> {
    let orig = line.orig;
    for (at, _) in orig.match_indices("AKIA") {
        let key = orig.as_bytes().get(at + 4..at + 20);
        if key.is_some_and(|k| {
            k.iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }) {
            return Some(Hit {
                at,
                redact_from: Some(at + 4),
            });
        }
    }
    if let Some(at) = orig.find("-----BEGIN")
        && orig[at..].contains("PRIVATE KEY-----")
    {
        return Some(Hit::at(at));
    }
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let prefixed = |prefix: &str, min: usize| {
        orig.match_indices(prefix).find_map(|(at, _)| {
            let before = orig[..at].chars().next_back();
            if before.is_some_and(token_char) {
                return None;
            }
            let body = &orig[at + prefix.len()..];
            let len = body.find(|c: char| !token_char(c)).unwrap_or(body.len());
            (len >= min).then_some(Hit {
                at,
                redact_from: Some(at + prefix.len()),
            })
        })
    };
    prefixed("sk-", 20)
        .or_else(|| prefixed("ghp_", 20))
        .or_else(|| prefixed("gho_", 20))
        .or_else(|| prefixed("ghu_", 20))
        .or_else(|| prefixed("ghs_", 20))
        .or_else(|| prefixed("github_pat_", 20))
}

/// Identifier endings that name a credential (`db_password`, `GITHUB_TOKEN`,
/// `apiKey`), compared with `_` and `-` removed.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "secretkey",
];

/// Values that stand for a secret rather than being one.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v.is_empty()
        || v.starts_with('<')
        || v.starts_with("${")
        || v.starts_with("{{")
        || v.starts_with('$')
        || v.starts_with("%(")
        || v.starts_with("test")
        || v.chars().all(|c| matches!(c, '*' | 'x' | '.' | '-' | '_'))
        || [
            "your",
            "example",
            "placeholder",
            "changeme",
            "dummy",
            "fake",
            "redacted",
            "xxxx",
        ]
        .iter()
        .any(|p| v.contains(p))
}

/// `password = "hunter2"`, `"token": "abc"`, `API_KEY=abc123`: a name that
/// says credential, assigned a literal. Unquoted values count only in
/// `.env` style (`UPPER_CASE=value`), where they are literals; elsewhere they
/// are variables or types (`password: String`).
fn secret_assignment(line: &Line<'_>) -> Option<Hit> {
    let orig = line.orig;
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut i = 0;
    while i < orig.len() {
        let Some(rel) = orig[i..].find(is_ident) else {
            break;
        };
        let start = i + rel;
        let len = orig[start..]
            .find(|c: char| !is_ident(c))
            .unwrap_or(orig.len() - start);
        let end = start + len;
        i = end;
        let ident = &orig[start..end];
        let norm: String = ident
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !SECRET_NAMES.iter().any(|n| norm.ends_with(n)) {
            continue;
        }
        let mut rest = &orig[end..];
        rest = rest
            .strip_prefix('"')
            .or_else(|| rest.strip_prefix('\''))
            .unwrap_or(rest)
            .trim_start();
        let after = if let Some(r) = rest.strip_prefix(":=") {
            r
        } else if let Some(r) = rest.strip_prefix('=') {
            if r.starts_with('=') {
                continue;
            }
            r
        } else if let Some(r) = rest.strip_prefix(':') {
            r
        } else {
            continue;
        };
        let env_style = rest.starts_with('=')
            && ident.chars().any(|c| c.is_ascii_uppercase())
            && !ident.chars().any(|c| c.is_ascii_lowercase());
        let after = after.trim_start();
        let value_at = orig.len() - after.len();
        let (value, quoted) = match after.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => {
                let body = &after[1..];
                (&body[..body.find(q).unwrap_or(body.len())], true)
            }
            Some(_) if env_style => {
                let end = after
                    .find(|c: char| c.is_whitespace() || c == ';' || c == ',')
                    .unwrap_or(after.len());
                (&after[..end], false)
            }
            _ => continue,
        };
        if is_placeholder(value) {
            continue;
        }
        if !quoted && (value.chars().all(|c| c.is_ascii_digit()) || value.contains('(')) {
            continue;
        }
        let redact_from = if quoted { value_at + 1 } else { value_at };
        return Some(Hit {
            at: start,
            redact_from: Some(redact_from),
        });
    }
    None
}

/// A fence info string for environment files (```` ```env ````,
/// ```` ```dotenv ````, ```` ```bash .env ````).
fn is_env_info(info: &str) -> bool {
    info.split_whitespace().any(|t| {
        let t = t.trim_matches(|c| c == '"' || c == '\'');
        let t = t.rsplit('=').next().unwrap_or(t);
        matches!(t, "env" | "dotenv" | ".env") || t.ends_with("/.env") || t.starts_with(".env.")
    })
}

/// A `KEY=value` line inside an env file block: every value there is
/// configuration somebody did not mean to publish.
fn env_line(orig: &str) -> Option<Hit> {
    let t = orig.trim_start();
    let t = t.strip_prefix("export ").unwrap_or(t);
    let (key, value) = t.split_once('=')?;
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    if !key_ok || is_placeholder(value) {
        return None;
    }
    let at = orig.len() - orig.trim_start().len();
    Some(Hit {
        at,
        redact_from: Some(orig.find('=').map_or(at, |e| e + 1)),
    })
}

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "ksh", "dash", "fish", "python", "python3", "perl", "ruby", "node",
];

fn privilege_escalation(line: &Line<'_>) -> Option<Hit> {
    let (lower, ws) = (line.lower, &line.words);
    if let Some(at) = has_word(ws, &["sudo", "doas"]) {
        return Some(Hit::at(at));
    }
    if let Some(at) = lower.find("chmod")
        && (lower.contains("777") || lower.contains("a+rwx") || lower.contains("ugo+rwx"))
    {
        return Some(Hit::at(at));
    }
    // A download piped into an interpreter runs whatever the server sends.
    let fetch = has_word(ws, &["curl", "wget", "iwr", "irm"])?;
    for (pipe, _) in lower.match_indices('|') {
        if pipe < fetch || lower[pipe + 1..].starts_with('|') || lower[..pipe].ends_with('|') {
            continue;
        }
        let after = tokens(&lower[pipe + 1..], 0);
        let first = after
            .iter()
            .map(|(_, t)| *t)
            .find(|t| *t != "sudo" && !t.starts_with('-'));
        let runner = first.map(|t| t.rsplit('/').next().unwrap_or(t));
        if runner.is_some_and(|r| SHELLS.contains(&r) || r == "iex") {
            return Some(Hit::at(fetch));
        }
    }
    let substituted = ["<(curl", "<(wget", "$(curl", "$(wget"]
        .iter()
        .any(|s| lower.contains(s));
    let shell = has_word(ws, SHELLS).is_some();
    (substituted && shell).then_some(Hit::at(fetch))
}

fn security_bypass(line: &Line<'_>) -> Option<Hit> {
    let (lower, ws) = (line.lower, &line.words);
    if let Some(at) = has_prefix_word(ws, &["bypass", "disabl", "circumvent"]) {
        let target = has_word(
            ws,
            &[
                "authentication",
                "auth",
                "authn",
                "authz",
                "authorization",
                "security",
                "csrf",
                "mfa",
                "2fa",
                "ssl",
                "tls",
                "certificate",
                "verification",
                "firewall",
                "selinux",
                "antivirus",
            ],
        );
        if target.is_some() {
            return Some(Hit::at(at));
        }
    }
    if let Some(at) = has_word(
        ws,
        &["exfiltrate", "exfiltrating", "exfiltration", "keylogger"],
    ) {
        return Some(Hit::at(at));
    }
    // Configuration that turns TLS verification off, compared without spaces
    // and quotes so `verify = False` and `"rejectUnauthorized": false` match.
    let compact: String = lower
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '\''))
        .collect();
    let turned_off = [
        "verify=false",
        "rejectunauthorized:false",
        "insecureskipverify:true",
        "accept_invalid_certs(true)",
        "node_tls_reject_unauthorized=0",
        "check_hostname=false",
        "ssl_verifypeer,false",
    ]
    .iter()
    .any(|p| compact.contains(p));
    if turned_off {
        return Some(Hit::at(lower.len() - lower.trim_start().len()));
    }
    for cmd in commands(lower) {
        let curl = cmd.iter().any(|(_, t)| *t == "curl");
        if let Some((at, _)) = cmd.iter().find(|(_, t)| {
            matches!(
                *t,
                "--insecure" | "--no-check-certificate" | "--disable-web-security" | "--no-verify"
            ) || (curl && *t == "-k")
        }) {
            return Some(Hit::at(*at));
        }
    }
    None
}

#[cfg(test)]
#[path = "safety_tests.rs"]
mod tests;

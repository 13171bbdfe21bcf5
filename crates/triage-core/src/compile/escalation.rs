//! The escalation half of compiling: the SLA clock settings, `escalation:`
//! rules and their actions, `risk:` factors, and the checks that need the
//! SLA policies and the clock settings together.

use super::{Compiler, Obj, at_least_one};
use crate::cond::{Cmp, Cond, CondCompiler, Op, Pred, Site};
use crate::diag::{Diagnostic, Pos, Severity};
use crate::rules::{
    ClockSettings, EscAction, EscKind, Ladder, MilestoneSpec, Piece, RecordSpec, RiskFactor, RiskInput, Rule,
    SlaPolicy, SwarmSpec, TemplateVar,
};
use crate::schema::{Derived, FieldType, Metric, MetricField, Schema, Source, Stage};
use crate::syntax::{Node, NodeKind};

/// Roles a notification may go to; anything else must look like an e-mail
/// address or a chat channel (`#name`).
pub(crate) const ROLES: &[&str] =
    &["team_lead", "manager", "account_owner", "leadership", "escalation_manager", "on_call", "assignee"];

/// Whether `to` names someone to notify: a role of [`ROLES`], an e-mail
/// address (`name@domain.tld`: one `@`, no spaces, brackets, quotes or
/// `:` or `/`, a dot in the domain) or a chat channel (`#` and at least one
/// letter, digit, `-`, `_` or `.`).
pub(crate) fn is_recipient(to: &str) -> bool {
    if ROLES.contains(&to) {
        return true;
    }
    if let Some(channel) = to.strip_prefix('#') {
        return !channel.is_empty() && channel.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    }
    let plain = |part: &str| {
        !part.is_empty()
            && !part.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ':' | '/' | ',' | ';'))
    };
    match to.split_once('@') {
        Some((local, domain)) => {
            plain(local)
                && plain(domain)
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}
const ACTIONS: &[&str] =
    &["notify", "raise_tier", "set_tier", "reassign", "set_priority", "open_escalation", "swarm", "admin_alert"];
const TEMPLATE_VARS: &[(&str, TemplateVar)] = &[
    ("product", TemplateVar::Product),
    ("severity", TemplateVar::Severity),
    ("case.number", TemplateVar::Number),
    ("number", TemplateVar::Number),
    ("case.id", TemplateVar::CaseId),
    ("priority", TemplateVar::Priority),
    ("category", TemplateVar::Category),
    ("territory", TemplateVar::Territory),
    ("tier", TemplateVar::Tier),
    ("account", TemplateVar::Account),
];

impl Compiler<'_> {
    /// `settings.sla_clock`: which statuses pause and stop the clocks, and
    /// what a policy change does to them.
    pub(super) fn clock_settings(&mut self, file: usize, node: &Node) -> ClockSettings {
        let mut out = ClockSettings::default();
        let keys = ["pause_on", "stop_on", "on_priority_change", "update_starts"];
        let Some(obj) = self.obj(file, node, "`sla_clock`", &keys, None) else { return out };
        if let Some(n) = obj.get("pause_on") {
            out.pause_on =
                self.text_list(file, n, "`pause_on`", None).into_iter().map(|(s, _)| s.to_lowercase()).collect();
        }
        if let Some(n) = obj.get("stop_on") {
            out.stop_on =
                self.text_list(file, n, "`stop_on`", None).into_iter().map(|(s, _)| s.to_lowercase()).collect();
        }
        if let Some(restart) =
            self.either(file, obj.get("on_priority_change"), "on_priority_change", ["keep_start", "restart"])
        {
            out.restart_on_change = restart;
        }
        if let Some(created) = self.either(file, obj.get("update_starts"), "update_starts", ["first_reply", "created"])
        {
            out.update_from_creation = created;
        }
        for status in out.pause_on.iter().filter(|s| out.stop_on.contains(s)) {
            self.diags.push(
                Diagnostic::custom(
                    "sla-clock-conflict",
                    Severity::Error,
                    self.file(file),
                    obj.pos,
                    format!("status `{status}` both pauses and stops the SLA clocks"),
                )
                .with_help("a status either waits on the customer (`pause_on`) or resolves the case (`stop_on`)"),
            );
        }
        out
    }

    /// A setting that is one of two words: `Some(false)` for the first,
    /// `Some(true)` for the second, `None` (and a diagnostic) for anything
    /// else or when the key is absent.
    fn either(&mut self, file: usize, node: Option<&Node>, key: &str, words: [&str; 2]) -> Option<bool> {
        let n = node?;
        match n.as_str() {
            Some(w) if w == words[0] => Some(false),
            Some(w) if w == words[1] => Some(true),
            _ => {
                let found = n.scalar_text().unwrap_or_default();
                self.diags.push(Diagnostic::invalid_value(
                    self.file(file),
                    n.pos,
                    format!("`{key}` must be `{}` or `{}`, found {}", words[0], words[1], n.describe()),
                    &words,
                    &found,
                ));
                None
            }
        }
    }

    /// What an `escalation` rule does: its level and its `do` list.
    pub(super) fn ladder(
        &mut self,
        cc: &mut CondCompiler<'_>,
        file: usize,
        obj: &Obj<'_>,
        rule: &str,
        priorities: &[String],
    ) -> Option<Ladder> {
        let level = match obj.get("level") {
            None => 1,
            Some(n) => {
                let l = self.typed(file, n, "`level`", "a whole number of at least 1", Some(rule), at_least_one)?;
                u32::try_from(l).unwrap_or(u32::MAX)
            }
        };
        let Some(list) = obj.get("do") else {
            let d = Diagnostic::missing_key(self.file(file), obj.pos, "do", "an `escalation` rule")
                .with_help("list what happens, e.g. `do: [{ notify: team_lead }]`");
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        let items = self.list(file, list, "`do`");
        if items.is_empty() {
            let d = Diagnostic::wrong_type(self.file(file), list.pos, "`do`", "a non-empty list of actions", "nothing");
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        }
        let mut actions = Vec::new();
        let mut ok = true;
        for item in items {
            match self.esc_action(cc, file, item, rule, priorities) {
                Some(a) => actions.push(a),
                None => ok = false,
            }
        }
        ok.then_some(Ladder { level, actions, metrics: Vec::new() })
    }

    fn esc_action(
        &mut self,
        cc: &mut CondCompiler<'_>,
        file: usize,
        node: &Node,
        rule: &str,
        priorities: &[String],
    ) -> Option<EscAction> {
        let mut allowed: Vec<&str> = ACTIONS.to_vec();
        allowed.push("business_hours");
        let obj = self.obj(file, node, "an escalation action", &allowed, Some(rule))?;
        let present: Vec<(&str, &Node)> = ACTIONS.iter().filter_map(|k| obj.get(k).map(|v| (*k, v))).collect();
        let [(name, value)] = present[..] else {
            let d = Diagnostic::missing_key(self.file(file), obj.pos, "exactly one action", "an escalation action")
                .with_help(format!(
                    "one of {}",
                    ACTIONS.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
                ));
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        let business_hours = match obj.get("business_hours") {
            None => false,
            Some(n) => self.typed(file, n, "`business_hours`", "`true` or `false`", Some(rule), |k| match k {
                NodeKind::Bool(b) => Some(*b),
                _ => None,
            })?,
        };
        let tier = |kind: &NodeKind, lo: i64| match *kind {
            NodeKind::Int(i) if (lo..=3).contains(&i) => u8::try_from(i).ok(),
            _ => None,
        };
        let kind = match name {
            "notify" if matches!(value.kind, NodeKind::Map(_)) => {
                EscKind::NotifyFrom(self.recipients_from(cc, file, value, rule)?)
            }
            "notify" => EscKind::Notify(self.recipient(file, value, rule)?),
            "raise_tier" => EscKind::RaiseTier(self.typed(
                file,
                value,
                "`raise_tier`",
                "a number of tiers, 1 to 3",
                Some(rule),
                |k| tier(k, 1),
            )?),
            "set_tier" => {
                EscKind::SetTier(self.typed(file, value, "`set_tier`", "a tier, 0 to 3", Some(rule), |k| tier(k, 0))?)
            }
            "set_priority" => EscKind::SetPriority(self.priority_rank(file, value, rule, priorities)?),
            "admin_alert" => EscKind::AdminAlert(self.text(file, value, "`admin_alert`", Some(rule))?),
            "reassign" => {
                let to = self.obj(file, value, "`reassign`", &["team", "queue"], Some(rule))?;
                match (to.get("team"), to.get("queue")) {
                    (Some(t), None) => EscKind::Reassign("team", self.text(file, t, "`team`", Some(rule))?),
                    (None, Some(q)) => EscKind::Reassign("queue", self.text(file, q, "`queue`", Some(rule))?),
                    _ => {
                        let d =
                            Diagnostic::missing_key(self.file(file), to.pos, "either `team` or `queue`", "`reassign`");
                        self.diags.push(d.in_rule(Some(rule)));
                        return None;
                    }
                }
            }
            "open_escalation" => EscKind::OpenEscalation(self.record_spec(file, value, rule)?),
            _ => EscKind::Swarm(self.swarm_spec(cc, file, value, rule)?),
        };
        Some(EscAction { kind, business_hours })
    }

    /// `{ from: FIELD }`: a `list` field declared in `fields:` whose items
    /// are the recipients.
    fn recipients_from(
        &mut self,
        cc: &mut CondCompiler<'_>,
        file: usize,
        node: &Node,
        rule: &str,
    ) -> Option<crate::schema::Slot> {
        let obj = self.obj(file, node, "`notify`", &["from"], Some(rule))?;
        let Some(from) = obj.get("from") else {
            let d = Diagnostic::missing_key(self.file(file), obj.pos, "from", "`notify`")
                .with_help("`notify: team_lead` names one recipient; `notify: { from: contacts }` a list field's");
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        let name = self.text(file, from, "`from`", Some(rule))?;
        let slot = cc.schema.lookup(&name).filter(|&s| {
            let f = &cc.schema.fields[s];
            f.ty == crate::schema::FieldType::List && f.source == crate::schema::Source::Custom
        });
        let Some(slot) = slot else {
            let lists: Vec<&str> = cc
                .schema
                .fields
                .iter()
                .filter(|f| f.ty == crate::schema::FieldType::List && f.source == crate::schema::Source::Custom)
                .map(|f| f.name.as_str())
                .collect();
            let message = format!("`notify: {{ from: {name} }}` needs a `list` field declared in `fields:`");
            let help = format!(
                "declare `{name}: list` and fill it with a side table (`hit: collect`, `outputs: [{name}]`) or in the \
                 case"
            );
            let d = Diagnostic::invalid_value(self.file(file), from.pos, message, &lists, &name);
            let d = if lists.is_empty() { d.with_help(help) } else { d };
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        cc.value_slots.insert(slot);
        Some(slot)
    }

    /// A role, an e-mail address or a `#channel`.
    fn recipient(&mut self, file: usize, node: &Node, rule: &str) -> Option<String> {
        let to = self.text(file, node, "a recipient", Some(rule))?;
        if is_recipient(&to) {
            return Some(to);
        }
        let d = Diagnostic::invalid_value(
            self.file(file),
            node.pos,
            format!("unknown recipient `{to}`: not a role, an e-mail address or a `#channel`"),
            ROLES,
            &to,
        );
        self.diags.push(d.in_rule(Some(rule)));
        None
    }

    fn severity(&mut self, file: usize, node: &Node, rule: &str) -> Option<u8> {
        self.typed(file, node, "`severity`", "a severity from 1 (worst) to 4", Some(rule), |k| match *k {
            NodeKind::Int(i @ 1..=4) => u8::try_from(i).ok(),
            _ => None,
        })
    }

    fn record_spec(&mut self, file: usize, node: &Node, rule: &str) -> Option<RecordSpec> {
        let keys = ["severity", "owner", "members", "milestones"];
        let obj = self.obj(file, node, "`open_escalation`", &keys, Some(rule))?;
        let severity = match obj.get("severity") {
            Some(n) => Some(self.severity(file, n, rule)?),
            None => None,
        };
        let owner = match obj.get("owner") {
            Some(n) => self.recipient(file, n, rule)?,
            None => "escalation_manager".to_string(),
        };
        let mut members = Vec::new();
        if let Some(n) = obj.get("members") {
            for item in self.list(file, n, "`members`") {
                members.push(self.recipient(file, item, rule)?);
            }
        }
        let mut milestones = Vec::new();
        if let Some(n) = obj.get("milestones") {
            for item in self.list(file, n, "`milestones`") {
                let m = self.obj(file, item, "a milestone", &["after", "notify"], Some(rule))?;
                let (Some(after), Some(notify)) = (m.get("after"), m.get("notify")) else {
                    let d = Diagnostic::missing_key(self.file(file), m.pos, "`after` and `notify`", "a milestone");
                    self.diags.push(d.in_rule(Some(rule)));
                    return None;
                };
                let after = self.duration(file, after, "`after`", rule)?;
                milestones.push(MilestoneSpec { after, notify: self.recipient(file, notify, rule)? });
            }
        }
        Some(RecordSpec { severity, owner, members, milestones })
    }

    pub(super) fn duration(&mut self, file: usize, node: &Node, what: &str, rule: &str) -> Option<chrono::Duration> {
        let parsed = node
            .scalar_text()
            .and_then(|t| crate::testing::parse_duration(&t))
            .filter(|d| *d > chrono::Duration::zero());
        if parsed.is_none() {
            let d = Diagnostic::wrong_type(
                self.file(file),
                node.pos,
                what,
                "a duration like `4h`, `30m` or `1h30m` (business time for SLA targets), of at most 876000h (100 years)",
                &node.describe(),
            );
            self.diags.push(d.in_rule(Some(rule)));
        }
        parsed
    }

    fn swarm_spec(&mut self, cc: &mut CondCompiler<'_>, file: usize, node: &Node, rule: &str) -> Option<SwarmSpec> {
        let obj = self.obj(file, node, "`swarm`", &["name", "severity", "channels"], Some(rule))?;
        let name = match obj.get("name") {
            Some(n) => {
                let text = self.text(file, n, "`name`", Some(rule))?;
                match parse_template(&text) {
                    Ok(pieces) => pieces,
                    Err(wrong) => {
                        let known: Vec<&str> = TEMPLATE_VARS.iter().map(|(n, _)| *n).collect();
                        let d = Diagnostic::invalid_value(
                            self.file(file),
                            n.pos,
                            format!("swarm channel template `{text}`: {wrong}"),
                            &known,
                            wrong.strip_prefix("unknown placeholder `").and_then(|w| w.split('`').next()).unwrap_or(""),
                        );
                        self.diags.push(d.in_rule(Some(rule)));
                        return None;
                    }
                }
            }
            None => parse_template("support-{product}-sev{severity}-{case.number}").unwrap_or_default(),
        };
        let severity = match obj.get("severity") {
            Some(n) => Some(self.severity(file, n, rule)?),
            None => None,
        };
        let mut routes = Vec::new();
        if let Some(list) = obj.get("channels") {
            for item in self.list(file, list, "`channels`") {
                let r = self.obj(file, item, "a swarm route", &["when", "to"], Some(rule))?;
                let Some(to) = r.get("to") else {
                    let d = Diagnostic::missing_key(self.file(file), r.pos, "to", "a swarm route");
                    self.diags.push(d.in_rule(Some(rule)));
                    return None;
                };
                let to = self.text(file, to, "`to`", Some(rule))?;
                let site = Site { file: self.file(file), rule: Some(rule), stage: Stage::Escalation };
                let cond = match r.get("when") {
                    Some(w) => cc.compile(site, w)?,
                    None => Cond::True,
                };
                routes.push((cond, to));
            }
        }
        Some(SwarmSpec { name, severity, routes })
    }

    /// `risk:` factors, each a weight and either a condition or a number
    /// field scaled by a cap.
    pub(super) fn risk(&mut self, items: &[(usize, &Node)], cc: &mut CondCompiler<'_>) -> Vec<RiskFactor> {
        let mut out: Vec<RiskFactor> = Vec::new();
        for (file, node) in items {
            let file = *file;
            let keys = ["factor", "description", "weight", "when", "field", "cap"];
            let Some(obj) = self.obj(file, node, "a risk factor", &keys, None) else { continue };
            let Some(name) = obj.get("factor").and_then(|n| self.text(file, n, "`factor`", None)) else {
                if obj.get("factor").is_none() {
                    self.diags.push(Diagnostic::missing_key(self.file(file), obj.pos, "factor", "a risk factor"));
                }
                continue;
            };
            if out.iter().any(|f| f.name == name) {
                self.diags.push(Diagnostic::duplicate_definition(self.file(file), obj.pos, "risk factor", &name));
                continue;
            }
            let weight = match obj.get("weight") {
                Some(n) => self.typed(file, n, "`weight`", "a positive number", Some(&name), |k| match *k {
                    NodeKind::Int(i) if i > 0 => Some(i as f64),
                    NodeKind::Float(x) if x > 0.0 => Some(x),
                    _ => None,
                }),
                None => {
                    let d = Diagnostic::missing_key(self.file(file), obj.pos, "weight", "a risk factor");
                    self.diags.push(d.in_rule(Some(&name)));
                    None
                }
            };
            let site = Site { file: self.file(file), rule: Some(&name), stage: Stage::Risk };
            let input = match (obj.get("when"), obj.get("field"), obj.get("cap")) {
                (Some(w), None, None) => cc.compile(site, w).map(RiskInput::When),
                (None, Some(f), Some(cap)) => {
                    let slot = self.number_field(cc.schema, file, f, &name);
                    if let Some(slot) = slot {
                        cc.note_related_read(site, f.pos, slot);
                    }
                    let cap = self.typed(file, cap, "`cap`", "a positive number", Some(&name), |k| match *k {
                        NodeKind::Int(i) if i > 0 => Some(i as f64),
                        NodeKind::Float(x) if x > 0.0 => Some(x),
                        _ => None,
                    });
                    slot.zip(cap).map(|(s, c)| RiskInput::Scaled(s, c))
                }
                _ => {
                    let d = Diagnostic::missing_key(
                        self.file(file),
                        obj.pos,
                        "either `when`, or `field` with `cap`",
                        "a risk factor",
                    );
                    self.diags.push(d.in_rule(Some(&name)));
                    None
                }
            };
            if let (Some(weight), Some(input)) = (weight, input) {
                out.push(RiskFactor { name, weight, input });
            }
        }
        out
    }

    fn number_field(&mut self, schema: &Schema, file: usize, node: &Node, rule: &str) -> Option<usize> {
        let name = self.text(file, node, "`field`", Some(rule))?;
        let Some(slot) = schema.lookup(&name) else {
            let d = Diagnostic::unknown_field(self.file(file), node.pos, &name, &schema.names());
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        };
        if schema.fields[slot].ty != FieldType::Number {
            let d = Diagnostic::wrong_type(
                self.file(file),
                node.pos,
                "a scaled risk factor's `field`",
                "a number field",
                &format!("`{name}`, a {} field", schema.fields[slot].ty.name()),
            );
            self.diags.push(d.in_rule(Some(rule)));
            return None;
        }
        Some(slot)
    }

    /// Policies whose clocks could never run or never stop under the clock
    /// settings.
    pub(super) fn sla_clock_checks(
        &mut self,
        policies: &[Rule<SlaPolicy>],
        preds: &[Pred],
        schema: &Schema,
        clock: &ClockSettings,
    ) {
        let status = schema.lookup("status");
        for p in policies {
            let file = self.file(p.meta.file);
            let pos = Pos::new(p.meta.line, 1);
            // A policy that only applies to cases in a stopping status is
            // chosen when the clocks are already stopped.
            if let Some(values) = required_values(&p.cond, preds, status)
                && !values.is_empty()
                && values.iter().all(|v| clock.stop_on.contains(v))
            {
                let d = Diagnostic::custom(
                    "sla-never-starts",
                    Severity::Warning,
                    file,
                    pos,
                    format!(
                        "policy `{}` applies only to cases in status {}, which stops the SLA clocks",
                        p.meta.id,
                        values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_help("its clocks could never run; test a status the case has while it is open");
                self.diags.push(d.in_rule(Some(&p.meta.id)));
            }
            if let (Some(update), Some(first)) = (p.action.update, p.action.first_response)
                && update < first
            {
                let when = if clock.update_from_creation {
                    "with `update_starts: created` the update clock breaches before the first response is even due"
                } else {
                    "updates fall due more often than the first answer"
                };
                let d = Diagnostic::custom(
                    "update-shorter-than-first-response",
                    Severity::Warning,
                    file,
                    pos,
                    format!(
                        "policy `{}` asks for updates every {} minutes but a first response only within {} minutes: {when}",
                        p.meta.id,
                        update.num_minutes(),
                        first.num_minutes()
                    ),
                )
                .with_help("make the update target at least the first-response target, or drop it");
                self.diags.push(d.in_rule(Some(&p.meta.id)));
            }
            let open_ended: Vec<&str> = [("resolution", p.action.resolution), ("update", p.action.update)]
                .iter()
                .filter(|(_, t)| t.is_some())
                .map(|(n, _)| *n)
                .collect();
            if clock.stop_on.is_empty() && !open_ended.is_empty() {
                let d = Diagnostic::custom(
                    "sla-never-stops",
                    Severity::Warning,
                    file,
                    pos,
                    format!(
                        "policy `{}` sets a {} target, but no status stops the clocks (`settings.sla_clock.stop_on` is empty)",
                        p.meta.id,
                        open_ended.join(" and ")
                    ),
                )
                .with_help("list the statuses that resolve a case, e.g. `stop_on: [solved, closed]`");
                self.diags.push(d.in_rule(Some(&p.meta.id)));
            }
        }
    }
}

/// The values a condition requires of one field, when it requires that
/// field to be one of a list at the top level (an `eq` or `in` test under
/// `all`), lower-cased.
fn required_values(cond: &Cond, preds: &[Pred], slot: Option<usize>) -> Option<Vec<String>> {
    let slot = slot?;
    let leaf = |i: &u32| -> Option<Vec<String>> {
        let p = preds.get(*i as usize)?;
        if p.slot != slot {
            return None;
        }
        let text = |s: &crate::cond::Scalar| match s {
            crate::cond::Scalar::Str(t) => Some(t.clone()),
            _ => None,
        };
        match &p.op {
            Op::Eq(s) => Some(vec![text(s)?]),
            Op::In(list) => list.iter().map(text).collect(),
            _ => None,
        }
    };
    match cond {
        Cond::Pred(i) => leaf(i),
        Cond::All(items) => items.iter().find_map(|c| match c {
            Cond::Pred(i) => leaf(i),
            _ => None,
        }),
        _ => None,
    }
}

/// Splits `support-{product}-sev{severity}` into literal text and
/// placeholders; an error names the first problem.
pub(crate) fn parse_template(text: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a `}` without its `{`".to_string());
        }
        if open > 0 {
            out.push(Piece::Lit(rest[..open].to_string()));
        }
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { return Err("a `{` without its `}`".to_string()) };
        let name = after[..close].trim();
        match TEMPLATE_VARS.iter().find(|(n, _)| *n == name) {
            Some((_, var)) => out.push(Piece::Var(*var)),
            None => return Err(format!("unknown placeholder `{name}`")),
        }
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest.to_string()));
    }
    Ok(out)
}

/// The percentages compared with each metric's `used` and the minutes
/// compared with `age_minutes`, anywhere in the rules: the replay looks at
/// the instants these are crossed.
pub(super) fn thresholds(preds: &[Pred], schema: &Schema) -> ([Vec<f64>; 4], Vec<f64>) {
    let mut used: [Vec<f64>; 4] = Default::default();
    let mut age = Vec::new();
    for p in preds {
        let values: Vec<f64> = match p.op {
            Op::Cmp(Cmp::Gt | Cmp::Gte | Cmp::Lt | Cmp::Lte, v) => vec![v],
            Op::Between(lo, hi) => vec![lo, hi],
            _ => continue,
        };
        match schema.fields[p.slot].source {
            Source::Derived(Derived::Sla(m, MetricField::Used)) => used[m.index()].extend(values),
            Source::Derived(Derived::AgeMinutes) => age.extend(values),
            _ => {}
        }
    }
    for list in used.iter_mut().chain([&mut age]) {
        list.retain(|v| v.is_finite() && *v >= 0.0);
        list.sort_by(f64::total_cmp);
        list.dedup();
    }
    (used, age)
}

/// The predicates of a condition that read an SLA metric, with the metric.
pub(super) fn metrics_read(cond: &Cond, preds: &[Pred], schema: &Schema) -> Vec<(u32, Metric)> {
    fn walk(c: &Cond, preds: &[Pred], schema: &Schema, out: &mut Vec<(u32, Metric)>) {
        match c {
            Cond::True => {}
            Cond::Pred(i) => {
                if let Some(p) = preds.get(*i as usize)
                    && let Source::Derived(Derived::Sla(m, _)) = schema.fields[p.slot].source
                {
                    out.push((*i, m));
                }
            }
            Cond::All(items) | Cond::Any(items) => items.iter().for_each(|c| walk(c, preds, schema, out)),
            Cond::Not(inner) => walk(inner, preds, schema, out),
        }
    }
    let mut out = Vec::new();
    walk(cond, preds, schema, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_text_and_placeholders() {
        let pieces = parse_template("support-{product}-sev{severity}-{case.number}").unwrap();
        assert_eq!(pieces.len(), 6);
        assert_eq!(pieces[1], Piece::Var(TemplateVar::Product));
        assert!(parse_template("x-{prodcut}").unwrap_err().contains("prodcut"));
        assert!(parse_template("x-{product").is_err());
        assert!(parse_template("x-}").is_err());
    }
}

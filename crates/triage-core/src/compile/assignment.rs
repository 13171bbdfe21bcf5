//! `assignment:` rules: the team a case goes to, the skills its agent needs
//! and the relaxation ladder.

use super::{Compiler, Obj};
use crate::diag::Diagnostic;
use crate::rules::{Relax, Route, SkillReq};
use crate::syntax::NodeKind;

impl Compiler<'_> {
    pub(super) fn route(&mut self, file: usize, obj: &Obj<'_>, rule: &str) -> Option<Route> {
        let team = match obj.get("team") {
            None => None,
            Some(n) => Some(self.text(file, n, "`team`", Some(rule))?),
        };
        let mut skills: Vec<SkillReq> = Vec::new();
        if let Some(list) = obj.get("skills") {
            for item in self.list(file, list, "`skills`") {
                let req = match &item.kind {
                    NodeKind::Map(_) => {
                        let keys = ["skill", "min_level", "mandatory"];
                        let spec = self.obj(file, item, "a skill requirement", &keys, Some(rule))?;
                        let Some(name) = spec.get("skill") else {
                            let d = Diagnostic::missing_key(self.file(file), spec.pos, "skill", "a skill requirement");
                            self.diags.push(d.in_rule(Some(rule)));
                            return None;
                        };
                        let skill = self.text(file, name, "`skill`", Some(rule))?.to_lowercase();
                        let min_level = match spec.get("min_level") {
                            None => 1,
                            Some(n) => {
                                self.typed(file, n, "`min_level`", "a level from 0 to 10", Some(rule), |k| match *k {
                                    NodeKind::Int(i @ 0..=10) => u8::try_from(i).ok(),
                                    _ => None,
                                })?
                            }
                        };
                        let mandatory = match spec.get("mandatory") {
                            None => true,
                            Some(n) => {
                                self.typed(file, n, "`mandatory`", "`true` or `false`", Some(rule), |k| match k {
                                    NodeKind::Bool(b) => Some(*b),
                                    _ => None,
                                })?
                            }
                        };
                        SkillReq { skill, min_level, mandatory }
                    }
                    _ => SkillReq {
                        skill: self.text(file, item, "a skill", Some(rule))?.to_lowercase(),
                        min_level: 1,
                        mandatory: true,
                    },
                };
                if skills.iter().any(|s| s.skill == req.skill) {
                    let d = Diagnostic::duplicate_definition(self.file(file), item.pos, "skill", &req.skill);
                    self.diags.push(d.in_rule(Some(rule)));
                    return None;
                }
                skills.push(req);
            }
        }
        let mut relax = Vec::new();
        if let Some(list) = obj.get("relax") {
            for item in self.list(file, list, "`relax`") {
                let step = self.obj(file, item, "a relaxation step", &["after", "drop"], Some(rule))?;
                let (Some(after), Some(drop)) = (step.get("after"), step.get("drop")) else {
                    let d =
                        Diagnostic::missing_key(self.file(file), step.pos, "`after` and `drop`", "a relaxation step");
                    self.diags.push(d.in_rule(Some(rule)));
                    return None;
                };
                let after = self.duration(file, after, "`after`", rule)?;
                let drop: Vec<String> = self
                    .text_list(file, drop, "`drop`", Some(rule))
                    .into_iter()
                    .map(|(s, _)| s.to_lowercase())
                    .collect();
                relax.push(Relax { after, drop });
            }
        }
        Some(Route { team, skills, relax })
    }
}

-- What duplicate and incident detection found when a tracked case was first
-- decided (`{"duplicate_of": …, "duplicate_score": …, "incident_size": …}`),
-- read back with its history so that escalation rules see what intake saw.
-- NULL: nothing was found, or the rules compare no cases.
ALTER TABLE cases ADD COLUMN related_json TEXT;

-- Sessions (issue 5): the conversation engine's state travels with the session (any replica can
-- take the next turn), and each patient turn keeps what the engine did (facts answered, cues
-- raised) for scoring. Keep in step with 0009_session_patient.sqlite.sql.
ALTER TABLE sessions ADD COLUMN patient_state JSONB
    CHECK (patient_state IS NULL OR jsonb_typeof(patient_state) = 'object');
ALTER TABLE turns ADD COLUMN meta JSONB CHECK (meta IS NULL OR jsonb_typeof(meta) = 'object');

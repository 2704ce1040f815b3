-- Sessions (issue 5): the conversation engine's state travels with the session (any replica can
-- take the next turn), and each patient turn keeps what the engine did (facts answered, cues
-- raised) for scoring. Keep in step with 0009_session_patient.pg.sql.
ALTER TABLE sessions ADD COLUMN patient_state TEXT
    CHECK (patient_state IS NULL OR (json_valid(patient_state) AND json_type(patient_state) = 'object'));
ALTER TABLE turns ADD COLUMN meta TEXT
    CHECK (meta IS NULL OR (json_valid(meta) AND json_type(meta) = 'object'));

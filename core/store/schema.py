"""The study database's schema as numbered migrations.

Each migration is a list of SQL statements; ``MIGRATIONS[i]`` brings a database from
version ``i`` to ``i + 1``. Append new migrations, never edit applied ones.
"""

MIGRATIONS: list[list[str]] = [
    [
        # One row per committed write (inserts never conflict, unlike updating one counter row).
        "CREATE SEQUENCE data_version_ids START 1",
        "CREATE TABLE data_versions (version BIGINT PRIMARY KEY DEFAULT nextval('data_version_ids'))",
        """CREATE TABLE centers (
            center TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('training', 'validation', 'external')),
            source TEXT,
            created_at TIMESTAMP DEFAULT current_timestamp)""",
        """CREATE TABLE patients (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            ptlf INTEGER NOT NULL CHECK (ptlf IN (0, 1)),
            PRIMARY KEY (center, patient_id))""",
        # Long format: one row per patient and variable; text for categories, num for numbers.
        """CREATE TABLE clinical (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            variable TEXT NOT NULL,
            value_num DOUBLE,
            value_text TEXT,
            PRIMARY KEY (center, patient_id, variable))""",
        """CREATE TABLE images (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            source_format TEXT NOT NULL,
            size_x INTEGER, size_y INTEGER, size_z INTEGER,
            spacing_x DOUBLE, spacing_y DOUBLE, spacing_z DOUBLE,
            origin TEXT, direction TEXT,
            PRIMARY KEY (center, patient_id))""",
        """CREATE TABLE masks (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            source TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            liver_voxels BIGINT, tumor_voxels BIGINT,
            liver_ml DOUBLE, tumor_ml DOUBLE,
            flags TEXT,
            created_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (center, patient_id, source))""",
        """CREATE TABLE features (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            mask_source TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            region TEXT NOT NULL,
            feature TEXT NOT NULL,
            value DOUBLE,
            image_sha TEXT,
            mask_sha TEXT,
            PRIMARY KEY (center, patient_id, mask_source, settings_hash, region, feature))""",
        """CREATE TABLE feature_settings (
            settings_hash TEXT PRIMARY KEY,
            preset TEXT,
            settings TEXT NOT NULL)""",
        "CREATE SEQUENCE job_ids START 1",
        """CREATE TABLE jobs (
            job_id INTEGER PRIMARY KEY DEFAULT nextval('job_ids'),
            kind TEXT NOT NULL,
            center TEXT,
            params TEXT,
            state TEXT NOT NULL,
            total INTEGER DEFAULT 0,
            done INTEGER DEFAULT 0,
            failed INTEGER DEFAULT 0,
            message TEXT,
            created_at TIMESTAMP DEFAULT current_timestamp,
            started_at TIMESTAMP,
            updated_at TIMESTAMP,
            finished_at TIMESTAMP)""",
        """CREATE TABLE job_cases (
            job_id INTEGER NOT NULL,
            case_id TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT,
            seconds DOUBLE,
            updated_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (job_id, case_id))""",
        """CREATE TABLE models (
            model_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TIMESTAMP DEFAULT current_timestamp)""",
        """CREATE TABLE seg_metrics (
            model_id TEXT NOT NULL,
            split TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            label TEXT NOT NULL,
            metric TEXT NOT NULL,
            value DOUBLE,
            PRIMARY KEY (model_id, split, patient_id, label, metric))""",
        """CREATE TABLE analyses (
            analysis_id TEXT PRIMARY KEY,
            train_center TEXT,
            params TEXT,
            result TEXT,
            created_at TIMESTAMP DEFAULT current_timestamp)""",
        """CREATE TABLE predictions (
            analysis_id TEXT NOT NULL,
            model TEXT NOT NULL,
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            risk DOUBLE,
            PRIMARY KEY (analysis_id, model, center, patient_id))""",
        "CREATE SEQUENCE audit_ids START 1",
        """CREATE TABLE audit (
            audit_id INTEGER PRIMARY KEY DEFAULT nextval('audit_ids'),
            logged_at TIMESTAMP DEFAULT current_timestamp,
            actor TEXT,
            action TEXT NOT NULL,
            params TEXT)""",
    ],
    [
        # Which engine, version and device computed each case's features (per case: one run computes
        # a whole case). Features stored before this table existed came from PyRadiomics, the only
        # engine then, on the CPU; imported features (no PyRadiomics version in their settings) stay without.
        """CREATE TABLE feature_provenance (
            center TEXT NOT NULL,
            patient_id TEXT NOT NULL,
            mask_source TEXT NOT NULL,
            settings_hash TEXT NOT NULL,
            engine TEXT NOT NULL,
            engine_version TEXT,
            device TEXT,
            host TEXT,
            job_id INTEGER,
            seconds DOUBLE,
            computed_at TIMESTAMP DEFAULT current_timestamp,
            PRIMARY KEY (center, patient_id, mask_source, settings_hash))""",
        """INSERT INTO feature_provenance (center, patient_id, mask_source, settings_hash, engine, engine_version,
                                          device, computed_at)
           SELECT f.center, f.patient_id, f.mask_source, f.settings_hash, 'pyradiomics',
                  json_extract_string(s.settings, '$.pyradiomics'), 'cpu', NULL
           FROM (SELECT DISTINCT center, patient_id, mask_source, settings_hash FROM features) f
           JOIN feature_settings s USING (settings_hash)
           WHERE json_extract_string(s.settings, '$.pyradiomics') IS NOT NULL""",
    ],
]

VERSION = len(MIGRATIONS)

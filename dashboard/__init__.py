"""The Streamlit dashboard: ``streamlit run dashboard/app.py -- --study data/demo.duckdb``."""

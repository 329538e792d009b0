"""The database: schema (tables), connections (engine), migrations (migrate) and registry queries."""

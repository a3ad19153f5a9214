"""The shared layer and the provider as a whole: lifecycle, errors, lineage, staging, layout, registration, docs, example DAGs."""

"""The gateway's SQL, one module per resource: functions that take an `AsyncSession` and return rows (or
None), so that the domain modules never build queries themselves."""

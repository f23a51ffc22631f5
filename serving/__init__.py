"""Serving: the FastAPI scoring service the CRM calls. Depends on `features`, never on `training`."""

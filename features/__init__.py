"""Feature logic for Funnelcast: the canonical CRM schema, loading and validation at the edge, and
pure point-in-time feature functions shared by training and serving."""

"""The default configuration (funnel.yaml, leads.yaml, training.yaml, mappings/), shipped as package
data. Point FUNNELCAST_CONFIG_DIR or --config-dir at a copy to change it."""

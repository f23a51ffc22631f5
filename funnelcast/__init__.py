"""Funnelcast: lead scoring and deal health for CRM data.

This small package holds what `features`, `training` and `serving` share: typed configuration,
the command line and the synthetic CRM generator.
"""

__version__ = "0.1.0"

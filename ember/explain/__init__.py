"""Tools that look inside trained networks (public API only)."""
from ember.explain.receptive_field import MeasuredField, receptive_field

__all__ = ["MeasuredField", "receptive_field"]

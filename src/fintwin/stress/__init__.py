"""Stress testing and scenario pre-play: regulatory capital, portfolio losses, macro scenarios
and expected credit loss, market risk."""

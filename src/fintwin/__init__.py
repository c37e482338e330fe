"""fintwin: a digital twin of a financial institution and the risk engines that run on it."""

__version__ = "0.1.0"

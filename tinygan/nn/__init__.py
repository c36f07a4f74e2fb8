"""Neural-network building blocks, shaped like ``torch.nn``."""
from . import functional

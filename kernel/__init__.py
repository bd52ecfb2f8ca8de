"""The shared kernel: plain types, the error tree and offline model resolution.

Every package may import it; it imports none of them."""

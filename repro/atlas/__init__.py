"""The transferability atlas (``repro atlas``): the four papers' measures of which layers transfer, applied to the
same networks and set side by side (docs/atlas.md)."""

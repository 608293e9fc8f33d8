"""Shows a running spikeloop daemon live in Foxglove (see Bridges/foxglove/README.md)."""

"""The network layer: our DICOM upper layer, durable queue, storage SCP (no Qt, no security)."""

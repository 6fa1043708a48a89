"""Front-ends that run code written for other workflow SDKs, unchanged, on this engine."""

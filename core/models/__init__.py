"""Native model implementations (PyTorch). Importing this package requires torch."""

"""What the home page says; `make demo` changes it and deploys, so the new version is visible."""
GREETING = "Hello from myproject, version 1"

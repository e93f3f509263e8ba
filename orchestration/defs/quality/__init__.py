"""Great Expectations asset checks on the raw deliveries."""

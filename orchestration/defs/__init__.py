"""Asset groups, one folder per source system or layer."""
